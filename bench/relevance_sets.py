#!/usr/bin/env python3
"""Query sets for bench/relevance.sh, built from a corpus (cpp-docs-ja, oss-docs-ja) and its
eval file.

usage: relevance_sets.py TREE EVAL.jsonl OUT_DIR [--every N]

Writes to OUT_DIR:
  sentences.jsonl     section_sentence queries as written (every Nth): verbatim text
  keywords.jsonl      the same reduced to their first 3 content words (bench/keywords.py)
  titles.jsonl        each page's title (front matter, else its first `# ` heading) as the
                      query, the page as the target; only titles no other page has (every Nth)
  descriptions.jsonl  doc_description queries (query_core), to be run against nodesc/; a
                      corpus with fewer than 50 of them (oss-docs-ja has 9) gets lead queries
                      instead: the first sentence of a page's first prose paragraph, that
                      paragraph removed from the page's nodesc/ copy
  nodesc/             a copy of TREE with `description:` removed from every front matter (and
                      the lead paragraphs, for lead queries), so that a description query
                      cannot be answered by quoting
"""
import json
import os
import re
import shutil
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(__file__))
from keywords import WORD  # noqa: E402

TITLE = re.compile(r"^title:\s*(.+?)\s*$", re.M)
H1 = re.compile(r"^# (.+?)\s*#*\s*$", re.M)
MIN_DESCRIPTIONS = 50


def lead(body):
    """(paragraph, its first sentence) of the first prose paragraph of a page body, or None."""
    for para in re.split(r"\n\s*\n", body):
        p = para.strip()
        if not p or p.startswith(("#", "```", "|", "-", "*", "<", ">", "[", "!", ":", "{")):
            continue
        plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", " ".join(p.split()))
        plain = plain.replace("`", "")
        first = re.split(r"(?<=[。！？])", plain)[0].strip().strip("_* ")
        if len(first) >= 20:
            return para, first
        return None
    return None


def front_matter(text):
    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    return None if end < 0 else (text[: end + 4], text[end + 4 :])


def main():
    tree, eval_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
    every = int(sys.argv[sys.argv.index("--every") + 1]) if "--every" in sys.argv else 10
    os.makedirs(out, exist_ok=True)
    queries = [json.loads(l) for l in open(eval_path)]
    sent = [q for q in queries if q["type"] == "section_sentence"][::every]
    with open(f"{out}/sentences.jsonl", "w") as f:
        f.writelines(json.dumps(q, ensure_ascii=False) + "\n" for q in sent)
    with open(f"{out}/keywords.jsonl", "w") as f:
        for q in sent:
            words = WORD.findall(q["query"])[:3]
            if len(words) == 3:
                f.write(json.dumps({**q, "query": " ".join(words)}, ensure_ascii=False) + "\n")
    described = [q for q in queries if q["type"] == "doc_description"]
    leads = len(described) < MIN_DESCRIPTIONS
    descriptions = [] if leads else described

    titles = {}
    nodesc = f"{out}/nodesc"
    shutil.rmtree(nodesc, ignore_errors=True)
    for dirpath, _, files in os.walk(tree):
        for name in files:
            src = os.path.join(dirpath, name)
            rel = os.path.relpath(src, tree)
            dst = os.path.join(nodesc, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if not name.endswith(".md"):
                shutil.copyfile(src, dst)
                continue
            text = open(src, encoding="utf-8", errors="replace").read()
            fm = front_matter(text)
            head, body = fm if fm else ("", text)
            m = TITLE.search(head) or H1.search(body)
            if m:
                titles[rel] = m.group(1).strip().strip("\"'")
            head = re.sub(r"^description:.*\n", "", head, flags=re.M)
            found = lead(body) if leads else None
            if found:
                para, first = found
                body = body.replace(para, "", 1)
                descriptions.append({"query": first, "path": rel, "type": "lead"})
            open(dst, "w").write(head + body)
    with open(f"{out}/descriptions.jsonl", "w") as f:
        f.writelines(json.dumps(q, ensure_ascii=False) + "\n" for q in descriptions)
    count = Counter(titles.values())
    unique = sorted((p, t) for p, t in titles.items() if count[t] == 1 and t)
    with open(f"{out}/titles.jsonl", "w") as f:
        for path, title in unique[::every]:
            f.write(json.dumps({"query": title, "path": path, "type": "title"}, ensure_ascii=False) + "\n")
    print(
        f"{len(sent)} sentences, {len(unique[::every])} titles (of {len(unique)} unique), "
        f"{len(descriptions)} {'lead' if leads else 'description'} queries",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
