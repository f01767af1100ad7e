#!/usr/bin/env python3
"""Writes a ModernBERT checkpoint of the exact cl-nagoya/ruri-v3-30m shape with random
weights (numpy only, no torch): config.json, model.safetensors (transformers' tensor names),
tokenizer.json copied from the tiny test fixture. Honest for speed and memory figures,
meaningless for quality.

With --reranker, a ModernBertForSequenceClassification of that shape instead (the shape of
cl-nagoya/ruri-v3-reranker-30m-style cross-encoders: the encoder plus head.dense, head.norm
and a one-label classifier).

usage: bench/random_modernbert.py OUT_DIR [--seed 0] [--reranker]
"""
import argparse
import json
import os
import shutil
import struct

import numpy as np

SHAPE = dict(vocab_size=102400, hidden_size=256, num_hidden_layers=10, num_attention_heads=4,
             intermediate_size=1024, max_position_embeddings=8192, global_attn_every_n_layers=3,
             local_attention=128, global_rope_theta=160000.0, local_rope_theta=10000.0,
             norm_eps=1e-5, pad_token_id=3, model_type="modernbert",
             architectures=["ModernBertModel"], hidden_activation="gelu", norm_bias=False,
             attention_bias=False, mlp_bias=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reranker", action="store_true")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    h, i, n = SHAPE["hidden_size"], SHAPE["intermediate_size"], SHAPE["num_hidden_layers"]
    tensors = {
        "embeddings.tok_embeddings.weight": (SHAPE["vocab_size"], h),
        "embeddings.norm.weight": (h,),
        "final_norm.weight": (h,),
    }
    for layer in range(n):
        p = f"layers.{layer}."
        if layer > 0:
            tensors[p + "attn_norm.weight"] = (h,)
        tensors[p + "attn.Wqkv.weight"] = (3 * h, h)
        tensors[p + "attn.Wo.weight"] = (h, h)
        tensors[p + "mlp_norm.weight"] = (h,)
        tensors[p + "mlp.Wi.weight"] = (2 * i, h)
        tensors[p + "mlp.Wo.weight"] = (h, i)
    config = dict(SHAPE)
    if a.reranker:
        tensors["head.dense.weight"] = (h, h)
        tensors["head.norm.weight"] = (h,)
        tensors["classifier.weight"] = (1, h)
        tensors["classifier.bias"] = (1,)
        config.update(architectures=["ModernBertForSequenceClassification"], num_labels=1,
                      id2label={"0": "LABEL_0"}, classifier_pooling="mean",
                      classifier_activation="gelu", classifier_bias=False)
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, shape in sorted(tensors.items()):
        if len(shape) == 1:
            data = np.ones(shape, dtype="<f4")
        else:
            data = (rng.standard_normal(shape) * 0.02).astype("<f4")
        raw = data.tobytes()
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    os.makedirs(a.out, exist_ok=True)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(os.path.join(a.out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    here = os.path.dirname(os.path.abspath(__file__))
    shutil.copy(os.path.join(here, "..", "crates", "sagasu-embed", "tests", "fixtures", "tiny-modernbert", "tokenizer.json"),
                os.path.join(a.out, "tokenizer.json"))
    params = sum(int(np.prod(s)) for s in tensors.values())
    kind = "reranker" if a.reranker else "encoder"
    print(f"{a.out}: ruri-v3-30m shape {kind}, {params / 1e6:.1f}M parameters, random weights")


if __name__ == "__main__":
    main()
