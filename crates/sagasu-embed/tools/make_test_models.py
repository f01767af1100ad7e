#!/usr/bin/env python3
"""Writes the tiny random test models and their reference embeddings.

Run by hand (not by the tests) whenever the fixture must change:
    python3 -m venv /tmp/v && /tmp/v/bin/pip install torch transformers tokenizers
    /tmp/v/bin/python crates/sagasu-embed/tools/make_test_models.py crates/sagasu-embed/tests/fixtures

For each of ModernBERT (the Ruri v3 architecture, with a sliding window small enough that the
test inputs cross it) and BERT, it writes OUT/tiny-<arch>/ with config.json, tokenizer.json,
model.safetensors and reference.json: the inputs and the pooled embeddings Hugging Face
transformers computes for them (masked mean over the last hidden state, L2-normalised), one
batch with padding. crates/sagasu-embed/tests/encoders.rs checks sagasu's encoders against them without Python.
"""
import json, os, sys

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertModel, ModernBertConfig, ModernBertModel

CORPUS = [
    "リトライの上限回数は設定ファイルで決めます。既定では三回です。",
    "検索文書: 日本語の Markdown を見出しごとに分割して索引を作ります。",
    "検索クエリ: リトライの上限回数はどう決めるべき？",
    "The indexer writes sections to LanceDB in large batches and compacts afterwards.",
    "Exponential backoff doubles the wait after each failed attempt.",
    "東京は日本の首都です。大阪は西日本の中心です。",
    "セクションの見出しパス、行範囲、フロントマターを保持します。",
]

INPUTS = [
    "リトライ",
    "リトライの上限回数はどう決めるべき？",
    "The indexer writes sections to LanceDB in large batches.",
    "検索文書: " + "日本語の Markdown を見出しごとに分割して索引を作ります。" * 3,
    "東京は日本の首都です。",
]


def tokenizer(path):
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(CORPUS * 4, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tok.save(path)
    return tok


def random_model(model_cls, config):
    """A model of `config` with seeded random weights, spread wide: the default init is near
    zero next to the norms, where errors could hide."""
    torch.manual_seed(0)
    model = model_cls(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5 if p.dim() > 1 else 0.2)
            if p.dim() == 1:
                p.add_(1.0)
    return model


def pooled(model, tok):
    enc = tok.encode_batch(INPUTS)
    n = max(len(e.ids) for e in enc)
    ids = torch.tensor([e.ids + [0] * (n - len(e.ids)) for e in enc])
    mask = torch.tensor([[1] * len(e.ids) + [0] * (n - len(e.ids)) for e in enc])
    with torch.no_grad():
        h = model(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask.unsqueeze(-1).float()
    v = (h * m).sum(1) / m.sum(1)
    v = torch.nn.functional.normalize(v, dim=-1)
    return [len(e.ids) for e in enc], v.tolist()


def write(out, name, config, model_cls):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    tok = tokenizer(os.path.join(d, "tokenizer.json"))
    config.vocab_size = tok.get_vocab_size()
    model = random_model(model_cls, config)
    model.save_pretrained(d, safe_serialization=True)
    lengths, vectors = pooled(model, tok)
    json.dump({"inputs": INPUTS, "token_counts": lengths, "embeddings": vectors},
              open(os.path.join(d, "reference.json"), "w"), ensure_ascii=False)
    print(d, lengths)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "crates/sagasu-embed/tests/fixtures"
    mb = ModernBertConfig(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=48,
        max_position_embeddings=128, local_attention=8, global_attn_every_n_layers=3,
        global_rope_theta=160000.0, local_rope_theta=10000.0, pad_token_id=0,
        attn_implementation="eager",
    )
    mb._attn_implementation = "eager"
    write(out, "tiny-modernbert", mb, ModernBertModel)
    bc = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                    max_position_embeddings=128, pad_token_id=0)
    bc._attn_implementation = "eager"
    write(out, "tiny-bert", bc, BertModel)


if __name__ == "__main__":
    main()
