#!/usr/bin/env bash
# Lexical benchmark on cpp-docs-ja (9,571 files), release build. Prints:
#  - full index: wall time, files/s, peak RSS, max threads (bench/measure.py samples /proc)
#  - fragments, versions, bytes on disk (sagasu stats)
#  - a no-op re-run
#  - sagasu eval, text mode: section_sentence queries as written, and reduced to their first
#    3 content words (bench/keywords.py); doc_description queries
#  - CLI `search` wall time per call, process start included (p50/p95 over 40 calls)
# usage: bench/lexical.sh [SAMPLE]   SAMPLE: every Nth query (default 10: ~3,000 sentences)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/release.sh
every=${1:-10}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
tar --zstd -xf ../shared/corpora/cpp-docs-ja.tar.zst -C "$work"
zstd -dq ../shared/corpora/cpp-docs-ja.eval.jsonl.zst -o "$work/all.jsonl"
tree="$work/cpp-docs-ja"
files=$(find "$tree" -name '*.md' | wc -l)

echo "== full index ($files files)"
python3 bench/measure.py --csv "$work/index.csv" -- "$sagasu" index "$tree" -q --no-embed --json > "$work/run.json"
python3 - "$work/run.json" "$files" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); n = int(sys.argv[2])
print(f"sagasu: {r['seconds']:.2f} s, {n / r['seconds']:.0f} files/s, {r['sections_written']} sections, {r['commits']} commits")
PY
"$sagasu" stats --db "$tree/.sagasu" --json > "$work/stats.json"
python3 - "$work/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"documents {s['documents']}, sections {s['sections']}, fragments {s['fragments']}, versions {s['versions']}, on disk {s['bytes_on_disk']/2**20:.1f} MiB")
PY

echo "== no-op re-run"
python3 bench/measure.py -- "$sagasu" index "$tree" -q --no-embed --json > "$work/noop.json"
python3 - "$work/noop.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"sagasu: {r['seconds']:.2f} s, {r['files_unchanged']} unchanged, {r['commits']} commits")
PY

python3 - "$work/all.jsonl" "$work" "$every" <<'PY'
import json, sys
src, out, every = sys.argv[1], sys.argv[2], int(sys.argv[3])
sent, desc = [], []
for line in open(src):
    q = json.loads(line)
    (sent if q["type"] == "section_sentence" else desc).append(line)
open(f"{out}/sentences.jsonl", "w").writelines(sent[::every])
open(f"{out}/descriptions.jsonl", "w").writelines(desc)
PY
python3 bench/keywords.py "$work/sentences.jsonl" "$work/keywords.jsonl"
cd "$tree"
echo "== eval: section_sentence, verbatim"
"$sagasu" eval "$work/sentences.jsonl" --mode text
echo "== eval: section_sentence, first 3 content words"
"$sagasu" eval "$work/keywords.jsonl" --mode text
echo "== eval: doc_description (query_core)"
"$sagasu" eval "$work/descriptions.jsonl" --mode text --core

echo "== CLI search, process start included (40 calls)"
python3 - "$sagasu" "$work/keywords.jsonl" <<'PY'
import json, subprocess, sys, time
sagasu, qs = sys.argv[1], [json.loads(l)["query"] for l in open(sys.argv[2])][:40]
ts = []
for q in qs:
    t = time.monotonic(); subprocess.run([sagasu, "search", q, "--json"], stdout=subprocess.DEVNULL, check=False)
    ts.append((time.monotonic() - t) * 1000)
ts.sort(); print(f"p50 {ts[len(ts)//2]:.1f} ms, p95 {ts[int(len(ts)*0.95)]:.1f} ms")
PY
