#!/usr/bin/env python3
"""Embedding speed, side by side: PyTorch transformers' ModernBertModel vs sagasu's encoder,
same random weights of the exact ruri-v3-30m shape, same thread count, batch 32 at 128 and
512 tokens, forward + masked mean pooling. Prints tokens/s of each and the ratio.

usage: bench/embed_speed.py SAGASU_BIN [--threads 2] [--reps 3]
Needs torch and transformers (a venv; see tools/make_test_models.py).
"""
import argparse, json, os, subprocess, sys, tempfile, time

RURI_V3_30M = dict(vocab_size=102400, hidden_size=256, num_hidden_layers=10, num_attention_heads=4,
                   intermediate_size=1024, max_position_embeddings=8192, global_attn_every_n_layers=3,
                   local_attention=128, global_rope_theta=160000.0, local_rope_theta=10000.0,
                   norm_eps=1e-5, pad_token_id=3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sagasu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--lengths", default="128,512")
    a = ap.parse_args()
    import torch
    from transformers import ModernBertConfig, ModernBertModel
    torch.set_num_threads(a.threads)
    d = tempfile.mkdtemp()
    cfg = ModernBertConfig(**RURI_V3_30M)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    model = ModernBertModel(cfg).eval()
    model.save_pretrained(d, safe_serialization=True)
    # sagasu needs a tokenizer.json to load; the benchmark feeds token ids directly.
    here = os.path.dirname(os.path.abspath(__file__))
    tok = os.path.join(here, "..", "crates", "sagasu-embed", "tests", "fixtures", "tiny-modernbert", "tokenizer.json")
    with open(tok) as f, open(os.path.join(d, "tokenizer.json"), "w") as g:
        g.write(f.read())
    params = sum(p.numel() for p in model.parameters())
    print(f"model: ruri-v3-30m shape, {params/1e6:.1f}M parameters, random weights; threads {a.threads}")
    for n in map(int, a.lengths.split(",")):
        ids = torch.randint(5, cfg.vocab_size, (32, n))
        mask = torch.ones_like(ids)
        with torch.no_grad():
            model(input_ids=ids, attention_mask=mask)  # warm-up
            times = []
            for _ in range(a.reps):
                t = time.perf_counter()
                h = model(input_ids=ids, attention_mask=mask).last_hidden_state
                v = torch.nn.functional.normalize((h * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True), dim=-1)
                times.append(time.perf_counter() - t)
        pt = min(times)
        out = subprocess.run([a.sagasu, "--threads", str(a.threads), "bench-embed", "--model", d,
                              "--batch", "32", "--len", str(n), "--reps", str(a.reps), "--json"],
                             check=True, capture_output=True, text=True)
        r = json.loads(out.stdout)
        sg = r["best_s"]
        print(f"32x{n}: pytorch {pt:.3f} s/batch ({32*n/pt:,.0f} tok/s) | sagasu {sg:.3f} s/batch "
              f"({32*n/sg:,.0f} tok/s) | sagasu/pytorch speed {pt/sg:.2f}x")


if __name__ == "__main__":
    main()
