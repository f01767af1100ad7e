#!/usr/bin/env python3
"""A subset of cpp-docs-ja for vector and hybrid runs (embedding all 103k sections takes hours
on 2 cores), with the query sets of bench/relevance_sets.py restricted to it, plus the
cross-lingual set.

usage: relevance_subset.py SETS_DIR EN_TREE|- OUT_DIR [--queries N]
       relevance_subset.py SETS_DIR EN_TREE|- OUT_DIR --wide [--tree TREE]

Takes N queries of each set (deterministic sample), the pages they target, and as many other
pages again as distractors, copied from SETS_DIR/nodesc (descriptions removed, so the
description set does not quote the index). Writes OUT_DIR/tree and OUT_DIR/<set>.jsonl for
sentences, keywords, titles, descriptions and crosslingual (the first body sentence of the
cpp-docs-en page with the same path as the query, the Japanese page as the target; none
when EN_TREE is `-`: a corpus without an English twin).

With --wide it writes OUT_DIR/wide/<set>.jsonl for the pages of OUT_DIR/tree (or of TREE: a
corpus small enough to embed whole), leaving the tree as it is: every query
of each set whose page is in the tree (at most WIDE_CAP, evenly spaced), and a cross-lingual query for every page of the tree
with an English twin, and stray.jsonl (stray_words). The same index then answers several times as many queries, so one
query moves a figure by a few thousandths rather than by .01 (bench/fusion.sh uses them).
"""
import json
import os
import random
import re
import shutil
import sys


def first_sentence(path):
    text = open(path, encoding="utf-8", errors="replace").read()
    if text.startswith("---"):
        end = text.find("\n---", 3)
        text = text[end + 4 :] if end >= 0 else text
    for para in re.split(r"\n\s*\n", text):
        p = para.strip()
        if not p or p.startswith(("#", "```", "|", "-", "*", "<", ">", "[", "!")):
            continue
        p = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", " ".join(p.split()))
        s = re.split(r"(?<=[.!?])\s", p)[0]
        if len(s.split()) >= 6:
            return s
    return None


def crosslingual_query(en, path):
    """The cross-lingual query for the page at `path`: the first body sentence of its English
    twin under `en` (same path), or None when it has none."""
    e = os.path.join(en, path)
    s = first_sentence(e) if os.path.isfile(e) else None
    return {"query": s, "path": path, "type": "crosslingual"} if s else None


# Queries per wide set at most (every k-th beyond it): enough that one query is .001.
WIDE_CAP = 1000


def stray_words(tree, keywords):
    """The 3-word queries with a fourth word their page does not have, taken from another
    page's query: the word a user reached for that the page words otherwise. No section holds
    every word, so the keyword side is weighed by its coverage while its ranking may still be
    right: the case of a held-out corpus where keyword search led on long descriptions."""
    rnd = random.Random(11)
    text = {}
    out = []
    for q in keywords:
        page = text.setdefault(q["path"], open(os.path.join(tree, q["path"]), encoding="utf-8", errors="replace").read())
        for _ in range(20):
            other = rnd.choice(keywords)
            word = next((w for w in other["query"].split() if w not in page), None)
            if other["path"] != q["path"] and word:
                out.append(dict(q, query=f"{q['query']} {word}", type="stray"))
                break
    return out


def wide(sets, en, out, tree):
    pages = sorted(
        os.path.relpath(os.path.join(d, f), tree)
        for d, _, fs in os.walk(tree)
        for f in fs
        if f.endswith(".md")
    )
    have = set(pages)
    dest = os.path.join(out, "wide")
    os.makedirs(dest, exist_ok=True)
    counts = {}
    for name in ["sentences", "keywords", "titles", "descriptions"]:
        qs = [json.loads(l) for l in open(os.path.join(sets, f"{name}.jsonl"))]
        qs = [q for q in qs if q["path"] in have]
        qs = qs[:: -(-len(qs) // WIDE_CAP)] if qs else qs
        counts[name] = len(qs)
        with open(os.path.join(dest, f"{name}.jsonl"), "w") as f:
            f.writelines(json.dumps(q, ensure_ascii=False) + "\n" for q in qs)
    stray = stray_words(tree, [json.loads(l) for l in open(os.path.join(dest, "keywords.jsonl"))])
    counts["stray"] = len(stray)
    with open(os.path.join(dest, "stray.jsonl"), "w") as f:
        f.writelines(json.dumps(q, ensure_ascii=False) + "\n" for q in stray)
    if en != "-":
        cross = [q for q in (crosslingual_query(en, p) for p in pages) if q]
        cross = cross[:: -(-len(cross) // WIDE_CAP)] if cross else cross
        counts["crosslingual"] = len(cross)
        with open(os.path.join(dest, "crosslingual.jsonl"), "w") as f:
            f.writelines(json.dumps(q, ensure_ascii=False) + "\n" for q in cross)
    print(f"wide sets over {len(pages)} pages: {counts}", file=sys.stderr)


def main():
    sets, en, out = sys.argv[1], sys.argv[2], sys.argv[3]
    if "--wide" in sys.argv:
        tree = sys.argv[sys.argv.index("--tree") + 1] if "--tree" in sys.argv else os.path.join(out, "tree")
        return wide(sets, en, out, tree)
    n = int(sys.argv[sys.argv.index("--queries") + 1]) if "--queries" in sys.argv else 100
    rnd = random.Random(7)
    nodesc = os.path.join(sets, "nodesc")
    pages = sorted(
        os.path.relpath(os.path.join(d, f), nodesc)
        for d, _, fs in os.walk(nodesc)
        for f in fs
        if f.endswith(".md")
    )
    chosen = {}
    for name in ["sentences", "keywords", "titles", "descriptions"]:
        qs = [json.loads(l) for l in open(os.path.join(sets, f"{name}.jsonl"))]
        rnd.shuffle(qs)
        chosen[name] = qs[:n]
    cross = []
    candidates = pages[:]
    rnd.shuffle(candidates)
    for p in candidates if en != "-" else []:
        q = crosslingual_query(en, p)
        if q:
            cross.append(q)
        if len(cross) == n:
            break
    if cross:
        chosen["crosslingual"] = cross
    targets = sorted({q["path"] for qs in chosen.values() for q in qs})
    others = [p for p in pages if p not in set(targets)]
    rnd.shuffle(others)
    keep = targets + others[: len(targets)]
    tree = os.path.join(out, "tree")
    shutil.rmtree(tree, ignore_errors=True)
    for p in keep:
        os.makedirs(os.path.dirname(os.path.join(tree, p)), exist_ok=True)
        shutil.copy(os.path.join(nodesc, p), os.path.join(tree, p))
    for name, qs in chosen.items():
        with open(os.path.join(out, f"{name}.jsonl"), "w") as f:
            f.writelines(json.dumps(q, ensure_ascii=False) + "\n" for q in qs)
    print(f"subset: {len(keep)} pages ({len(targets)} targets), {n} queries per set", file=sys.stderr)


if __name__ == "__main__":
    main()
