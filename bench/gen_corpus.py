#!/usr/bin/env python3
"""Deterministic Markdown corpus made of real sections, for the scale benchmark.

usage: bench/gen_corpus.py SRC_DIR OUT_DIR [--files 102893] [--seed 1]

Reads every Markdown file under SRC_DIR (e.g. the unpacked cpp-docs-ja), cuts each into its
front matter and heading sections (headings inside code fences are not headings), then writes
--files new files under OUT_DIR in a nested tree (about 100 files per directory, 3 levels).
Each new file takes the front matter of a random source file and random real sections until
it reaches a size drawn from the source files' sizes, so text, headings, code blocks, front
matter and the size distribution are those of the source. The same seed gives the same bytes.
"""

import argparse
import os
import random
import re
import sys

HEADING = re.compile(r"^(#{1,6})\s")
FENCE = re.compile(r"^(```|~~~)")


def cut(text):
    """(front matter or "", [sections]) of one Markdown text."""
    front = ""
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end > 0:
            front, text = text[: end + 5], text[end + 5 :]
    sections, cur, fenced = [], [], False
    for line in text.splitlines(keepends=True):
        if FENCE.match(line):
            fenced = not fenced
        if not fenced and HEADING.match(line) and cur:
            sections.append("".join(cur))
            cur = []
        cur.append(line)
    if cur and "".join(cur).strip():
        sections.append("".join(cur))
    return front, sections


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--files", type=int, default=102_893)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    fronts, sections, sizes = [], [], []
    for dirpath, dirnames, filenames in os.walk(a.src):
        dirnames.sort()
        for name in sorted(filenames):
            if not name.endswith(".md"):
                continue
            with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as f:
                text = f.read()
            front, secs = cut(text)
            if front:
                fronts.append(front)
            sections.extend(s for s in secs if len(s) < 64_000)
            sizes.append(len(text.encode("utf-8")))
    if not sections:
        sys.exit(f"no Markdown sections under {a.src}")
    rng = random.Random(a.seed)
    total = 0
    for i in range(a.files):
        d = f"{i // 10_000:02d}/{(i // 100) % 100:02d}"
        path = os.path.join(a.out, d, f"doc{i:06d}.md")
        target = rng.choice(sizes)
        parts = [rng.choice(fronts)] if fronts else []
        size = 0
        while True:
            s = rng.choice(sections)
            parts.append(s if s.endswith("\n") else s + "\n")
            size += len(s.encode("utf-8"))
            if size >= target:
                break
        body = "".join(parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(body)
        total += len(body.encode("utf-8"))
    print(f"{a.files} files, {total / 2**20:.0f} MiB, from {len(sizes)} source files "
          f"({len(sections)} sections) under {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
