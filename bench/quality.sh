#!/usr/bin/env bash
# Retrieval quality by mode (text / vector / hybrid) with a real multilingual model
# (multilingual-e5-small, built by ../shared/tools/multilingual-e5-small/build.sh) on
# cpp-docs-ja's doc_description queries (query_core).
#   bench/quality.sh [EVERY] [DISTRACTORS]
# Embedding the whole corpus (103k sections) takes hours on 2 cores, so by default this takes
# every EVERY-th query (default 10), the files they point at, and DISTRACTORS other files
# (default: as many again, chosen deterministically): a smaller, easier corpus. EVERY=1 with
# DISTRACTORS=all runs the full corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
if [ -z "${SAGASU_BIN:-}" ]; then cargo build --release --locked -q --workspace --all-targets; fi
sagasu=${SAGASU_BIN:-$CARGO_TARGET_DIR/release/sagasu}
e5=$(bash ../shared/tools/multilingual-e5-small/build.sh)
every=${1:-10}
distractors=${2:-same}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
tar --zstd -xf ../shared/corpora/cpp-docs-ja.tar.zst -C "$work"
zstd -dq ../shared/corpora/cpp-docs-ja.eval.jsonl.zst -o "$work/all.jsonl"
python3 - "$work" "$every" "$distractors" <<'PY'
import json, os, random, shutil, sys
work, every, distractors = sys.argv[1], int(sys.argv[2]), sys.argv[3]
src = os.path.join(work, "cpp-docs-ja")
qs = [json.loads(l) for l in open(os.path.join(work, "all.jsonl"))]
qs = [q for q in qs if q["type"] == "doc_description"][::every]
targets = sorted({q["path"] for q in qs})
all_md = sorted(os.path.relpath(os.path.join(d, f), src) for d, _, fs in os.walk(src) for f in fs if f.endswith(".md"))
others = [p for p in all_md if p not in set(targets)]
n = len(others) if distractors == "all" else (len(targets) if distractors == "same" else int(distractors))
random.Random(0).shuffle(others)
keep = targets + others[:n]
dst = os.path.join(work, "subset")
for p in keep:
    os.makedirs(os.path.dirname(os.path.join(dst, p)), exist_ok=True)
    shutil.copy(os.path.join(src, p), os.path.join(dst, p))
with open(os.path.join(work, "queries.jsonl"), "w") as f:
    for q in qs:
        f.write(json.dumps(q, ensure_ascii=False) + "\n")
print(f"{len(qs)} queries, {len(keep)} files ({len(targets)} targets + {n} distractors)")
PY
python3 bench/measure.py -- "$sagasu" index "$work/subset" -q --model "$e5" --json > "$work/run.json"
python3 - "$work/run.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"index: {r['seconds']:.1f} s, {r['sections_written']} sections, {r['vectors_written']} vectors")
PY
for mode in text vector hybrid; do
  echo "== $mode"
  "$sagasu" eval "$work/queries.jsonl" --db "$work/subset/.sagasu" --mode "$mode" --core
done
