#!/usr/bin/env python3
"""Writes the tiny random cross-encoders (rerankers) and their reference scores.

Run by hand (not by the tests) whenever the fixtures must change:
    python3 -m venv /tmp/v && /tmp/v/bin/pip install torch transformers tokenizers
    /tmp/v/bin/python crates/sagasu-embed/tools/make_reranker_models.py crates/sagasu-embed/tests/fixtures

Writes OUT/tiny-<arch>-reranker/ (config.json, tokenizer.json, model.safetensors,
reference.json) for transformers' ModernBertForSequenceClassification (the Ruri v3 reranker
architecture; one with CLS pooling, one with mean pooling), BertForSequenceClassification and
XLMRobertaForSequenceClassification, each with one label: reference.json holds (query,
document) pairs and the logit transformers computes for each, in one padded batch.
crates/sagasu-embed/tests/rerankers.rs checks sagasu's reranker against them without Python.
"""
import json, os, sys

import torch
from make_test_models import random_model
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (BertConfig, BertForSequenceClassification, ModernBertConfig,
                          ModernBertForSequenceClassification, XLMRobertaConfig,
                          XLMRobertaForSequenceClassification)

CORPUS = [
    "リトライの上限回数は設定ファイルで決めます。既定では三回です。",
    "日本語の Markdown を見出しごとに分割して索引を作ります。",
    "リトライの上限回数はどう決めるべき？",
    "The indexer writes sections to LanceDB in large batches and compacts afterwards.",
    "Exponential backoff doubles the wait after each failed attempt.",
    "東京は日本の首都です。大阪は西日本の中心です。",
    "セクションの見出しパス、行範囲、フロントマターを保持します。",
]

PAIRS = [
    ["リトライの上限", "リトライの上限回数は設定ファイルで決めます。既定では三回です。"],
    ["リトライの上限", "東京は日本の首都です。"],
    ["backoff", "Exponential backoff doubles the wait after each failed attempt. " * 3],
    ["見出し", "セクションの見出しパス、行範囲、フロントマターを保持します。" * 2],
    ["首都", "東京"],
]


def tokenizer(path, cls_tok, sep_tok, pair_sep):
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", cls_tok, sep_tok, "[MASK]"]
    trainer = trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials)
    tok.train_from_iterator(CORPUS * 4, trainer)
    cls, sep = tok.token_to_id(cls_tok), tok.token_to_id(sep_tok)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls_tok} $A {sep_tok}", pair=pair_sep, special_tokens=[(cls_tok, cls), (sep_tok, sep)]
    )
    tok.save(path)
    return tok


def scores(model, tok, types):
    enc = tok.encode_batch([tuple(p) for p in PAIRS])
    n = max(len(e.ids) for e in enc)
    pad = lambda xs: [x + [0] * (n - len(x)) for x in xs]
    ids = torch.tensor(pad([e.ids for e in enc]))
    mask = torch.tensor(pad([[1] * len(e.ids) for e in enc]))
    kw = dict(input_ids=ids, attention_mask=mask)
    if types:
        kw["token_type_ids"] = torch.tensor(pad([e.type_ids for e in enc]))
    with torch.no_grad():
        logits = model(**kw).logits
    return [len(e.ids) for e in enc], logits[:, 0].tolist()


def write(out, name, config, model_cls, types, cls_tok="[CLS]", sep_tok="[SEP]",
          pair="[CLS] $A [SEP] $B:1 [SEP]:1"):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    tok = tokenizer(os.path.join(d, "tokenizer.json"), cls_tok, sep_tok, pair)
    config.vocab_size = tok.get_vocab_size()
    config.num_labels = 1
    model = random_model(model_cls, config)
    model.save_pretrained(d, safe_serialization=True)
    lengths, logits = scores(model, tok, types)
    json.dump({"pairs": PAIRS, "token_counts": lengths, "scores": logits},
              open(os.path.join(d, "reference.json"), "w"), ensure_ascii=False)
    print(d, lengths, logits)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "crates/sagasu-embed/tests/fixtures"
    for pooling in ["cls", "mean"]:
        mb = ModernBertConfig(
            hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=48,
            max_position_embeddings=128, local_attention=8, global_attn_every_n_layers=3,
            global_rope_theta=160000.0, local_rope_theta=10000.0, pad_token_id=0,
            classifier_pooling=pooling, attn_implementation="eager",
        )
        mb._attn_implementation = "eager"
        write(out, f"tiny-modernbert-reranker-{pooling}", mb, ModernBertForSequenceClassification,
              types=False, pair="[CLS] $A [SEP] $B [SEP]")
    bc = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                    max_position_embeddings=128, pad_token_id=0)
    bc._attn_implementation = "eager"
    write(out, "tiny-bert-reranker", bc, BertForSequenceClassification, types=True)
    xc = XLMRobertaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=64, max_position_embeddings=130, pad_token_id=0,
                          type_vocab_size=1)
    xc._attn_implementation = "eager"
    # XLM-R pairs: <s> A </s></s> B </s>, every token of type 0.
    write(out, "tiny-xlmr-reranker", xc, XLMRobertaForSequenceClassification, types=True,
          pair="[CLS] $A [SEP] [SEP] $B [SEP]")


if __name__ == "__main__":
    main()
