#!/usr/bin/env python3
"""Samples in the shape of issue 21's held-out cross-lingual set: 150 cpp-docs pages, each
queried by the first body sentence of its English twin (same path in cpp-docs-en), indexed
with as many other pages as distractors (300 pages). Pages of bench/relevance.sh's subset are
left out, so nothing here was ever tuned on.

usage: crosslingual_samples.py JA_TREE EN_TREE SUBSET_TREE OUT_DIR SEED [QUERIES]
Writes OUT_DIR/tree and OUT_DIR/crosslingual.jsonl.
"""
import json
import os
import random
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
from relevance_subset import crosslingual_query  # noqa: E402


def pages_of(tree):
    return {
        os.path.relpath(os.path.join(d, f), tree)
        for d, _, fs in os.walk(tree)
        for f in fs
        if f.endswith(".md")
    }


def main():
    ja, en, subset, out, seed = sys.argv[1:6]
    n = int(sys.argv[6]) if len(sys.argv) > 6 else 150
    tuned = pages_of(subset) if os.path.isdir(subset) else set()
    pages = sorted(p for p in pages_of(ja) if p not in tuned and p.startswith("docs/"))
    rnd = random.Random(int(seed))
    rnd.shuffle(pages)
    queries = []
    for p in pages:
        q = crosslingual_query(en, p)
        if q:
            queries.append(q)
        if len(queries) == n:
            break
    targets = {q["path"] for q in queries}
    keep = sorted(targets) + [p for p in pages if p not in targets][: len(targets)]
    tree = os.path.join(out, "tree")
    shutil.rmtree(tree, ignore_errors=True)
    for p in keep:
        os.makedirs(os.path.dirname(os.path.join(tree, p)), exist_ok=True)
        shutil.copy(os.path.join(ja, p), os.path.join(tree, p))
    with open(os.path.join(out, "crosslingual.jsonl"), "w") as f:
        f.writelines(json.dumps(q, ensure_ascii=False) + "\n" for q in queries)
    print(f"sample {seed}: {len(keep)} pages, {len(queries)} queries", file=sys.stderr)


if __name__ == "__main__":
    main()
