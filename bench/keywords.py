#!/usr/bin/env python3
"""Turn known-item queries into keyword queries: the first 3 content words of each query
(runs of kanji / katakana / Latin of 2+ characters), e.g. `RFQ ケース 仕入先`.

usage: keywords.py IN.jsonl OUT.jsonl [--type section_sentence]
"""
import json, re, sys

WORD = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf々]{2,}|[\u30a0-\u30ff\uff66-\uff9f]{2,}|[A-Za-z]{2,}")


def main():
    src, dst = sys.argv[1], sys.argv[2]
    kind = sys.argv[sys.argv.index("--type") + 1] if "--type" in sys.argv else None
    n = 0
    with open(src) as f, open(dst, "w") as out:
        for line in f:
            q = json.loads(line)
            if kind and q.get("type") != kind:
                continue
            words = WORD.findall(q["query"])[:3]
            if len(words) < 3:
                continue
            q["query"] = " ".join(words)
            out.write(json.dumps(q, ensure_ascii=False) + "\n")
            n += 1
    print(f"{n} keyword queries", file=sys.stderr)


if __name__ == "__main__":
    main()
