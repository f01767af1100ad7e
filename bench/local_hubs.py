#!/usr/bin/env python3
"""The vector side's page ranking under the local hub correction (src/search/density.rs),
simulated over an index's stored vectors, for a grid of settings: how its constants were
chosen (ARCHITECTURE.md, "Local hubs"). The simulation reproduces `sagasu eval --mode vector`
(the same figures on bench/crosslingual.sh's 900 sample queries, before and after).

The queries are embedded by sagasu itself: each becomes a one-file page of a scratch tree,
indexed with the model and query prefix the index records, as a fenced block (kept verbatim).

usage: local_hubs.py SAGASU DB QUERIES.jsonl [--core] [--grid S,FROM,RAMP ...]
needs: numpy, pylance (bench/release.sh's bench_venv numpy pylance)
"""
import argparse, json, os, subprocess, sys, tempfile

import lance
import numpy as np

POOL, NEIGHBOURS = 200, 30


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def vectors_of(db):
    """(text hashes, vectors) of an index's vectors table."""
    rows = lance.dataset(f"{db}/vectors.lance").to_table().to_pylist()
    return [r["text_hash"] for r in rows], np.array([r["vector"] for r in rows], dtype=np.float32)


def embed(sagasu, meta, queries):
    """The queries' vectors as the index's model makes them for a query."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = f"{tmp}/tree"
        os.makedirs(tree)
        for i, q in enumerate(queries):
            with open(f"{tree}/q{i:06d}.md", "w") as f:
                f.write(f"~~~~~~~~\n{q}\n~~~~~~~~\n")
        subprocess.run([sagasu, "index", tree, "--db", f"{tmp}/db", "-q", "--model", meta["model_dir"],
                        "--doc-prefix", meta["model"]["query_prefix"]], check=True)
        secs = lance.dataset(f"{tmp}/db/sections.lance").to_table(columns=["path", "text_hash"]).to_pylist()
        hashes, vecs = vectors_of(f"{tmp}/db")
        by_hash = dict(zip(hashes, vecs))
        by_path = {s["path"]: by_hash[s["text_hash"]] for s in secs}
        return np.stack([by_path[f"q{i:06d}.md"] for i in range(len(queries))])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sagasu"); ap.add_argument("db"); ap.add_argument("queries")
    ap.add_argument("--core", action="store_true", help='use "query_core" where present')
    ap.add_argument("--grid", nargs="*", default=["0,0,1", "0.5,0.55,0.1", "0.5,0.5,0.05", "0.7,0.5,0.05"])
    a = ap.parse_args()
    meta = json.load(open(f"{a.db}/sagasu.json"))
    items = [json.loads(l) for l in open(a.queries)]
    texts = [(it.get("query_core") or it["query"]) if a.core else it["query"] for it in items]
    hashes, V = vectors_of(a.db)
    V = unit(V)
    mean = np.array(meta["vector_mean"]["values"], dtype=np.float32) if meta.get("vector_mean") else 0
    secs = lance.dataset(f"{a.db}/sections.lance").to_table(columns=["path", "text_hash"]).to_pylist()
    row = {h: i for i, h in enumerate(hashes)}
    pages_of = [[] for _ in hashes]
    for s in secs:
        if s["text_hash"] in row and s["path"] not in pages_of[row[s["text_hash"]]]:
            pages_of[row[s["text_hash"]]].append(s["path"])
    Q = unit(unit(embed(a.sagasu, meta, texts)) - 0.25 * mean)  # search::vector::HUB_CORRECTION
    S = Q @ V.T
    pools = []
    for i in range(len(items)):
        top = np.argsort(-S[i], kind="stable")[:POOL]
        C = V[top]; M = C @ C.T; np.fill_diagonal(M, -np.inf)
        k = min(NEIGHBOURS, len(top) - 1)
        density = np.sort(M, axis=1)[:, -k:].mean(1)
        near = S[i, top[:k]].mean()
        outside = (density[:k].mean() - near) / max(1 - near, 1e-9)
        pools.append((top, S[i, top], density, outside))
    print(f"{len(items)} queries; outside: 10th/50th/90th percentile "
          + " / ".join(f"{x:.3f}" for x in np.percentile([p[3] for p in pools], [10, 50, 90])))
    for spec in a.grid:
        strength, start, ramp = map(float, spec.split(","))
        ranks = []
        for (top, sim, density, outside), it in zip(pools, items):
            share = strength * min(1.0, max(0.0, (outside - start) / ramp))
            order = top[np.argsort(-(sim - share * density), kind="stable")]
            seen = []
            for t in order:
                seen += [p for p in pages_of[t] if p not in seen]
            ranks.append(seen.index(it["path"]) + 1 if it["path"] in seen else None)
        n = len(ranks)
        hit = lambda k: sum(r is not None and r <= k for r in ranks) / n
        mrr = sum(1 / r for r in ranks if r is not None and r <= 10) / n
        print(f"strength {strength}, from {start}, ramp {ramp}: hits@1/@5/@10/MRR@10 "
              f"{hit(1):.3f}/{hit(5):.3f}/{hit(10):.3f}/{mrr:.3f}")


if __name__ == "__main__":
    sys.exit(main())
