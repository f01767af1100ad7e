#!/usr/bin/env bash
# Cross-lingual hybrid search in the shape of issue 21's held-out set, on pages never tuned
# on: SAMPLES samples (default 6) of 150 cpp-docs-ja pages outside bench/relevance.sh's subset,
# each queried by the first body sentence of its English twin and indexed with 150 other pages
# as distractors, with multilingual-e5-small (~4 min per sample on 2 cores; indexes are kept).
# Rows per sample and pooled: text, vector, hybrid (the default fusion), plain RRF and each
# extra fusion SPEC given; then "either side": the share of queries whose page is in the top
# 10 of text or of vector, a bound on what fusing two rankings of 10 can reach.
#
#   bench/crosslingual.sh [SPEC…]      e.g. bench/crosslingual.sh cc:0.6,tier=0.2,pow=1
#   SAMPLES=N                          how many samples (seeds 101, 202, …)
# Needs bench/relevance.sh run once (the corpora and its subset under $WORK).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/release.sh
root=${WORK:-$HOME/.cache/sagasu/relevance}
work="$root/cpp-docs-ja"
[ -d "$work/cpp-docs-en" ] && [ -d "$work/subset/tree" ] || { echo "run bench/relevance.sh first ($work)" >&2; exit 1; }
e5=${SAGASU_E5_DIR:-$(bash ../shared/tools/multilingual-e5-small/build.sh)}
samples=${SAMPLES:-6}
rows=(text vector hybrid rrf "$@")
out="$root/crosslingual"
for i in $(seq 1 "$samples"); do
  d="$out/sample-$((i * 101))"
  mkdir -p "$d"
  if [ ! -f "$d/crosslingual.jsonl" ]; then
    python3 bench/crosslingual_samples.py "$work/cpp-docs-ja" "$work/cpp-docs-en" "$work/subset/tree" "$d" $((i * 101))
  fi
  # A scan when nothing changed; rebuilds an index of an older format.
  "$sagasu" index "$d/tree" --db "$d/db" --model "$e5" -q >&2
  for row in "${rows[@]}"; do
    case $row in
      text | vector) args=(--mode "$row") ;;
      hybrid) args=(--mode hybrid) ;;
      rrf) args=(--mode hybrid --fusion rrf,notier,pow=0,nophrase) ;;
      *) args=(--mode hybrid --fusion "$row") ;;
    esac
    "$sagasu" eval "$d/crosslingual.jsonl" --db "$d/db" "${args[@]}" --json > "$d/$row.json"
  done
done
python3 - "$out" "$samples" "${rows[@]}" <<'PY'
import json, sys
out, samples, rows = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
metrics = ["hits_at_1", "hits_at_5", "hits_at_10", "mrr_at_10"]
dirs = [f"{out}/sample-{i * 101}" for i in range(1, samples + 1)]
load = lambda d, row: json.load(open(f"{d}/{row}.json"))
print("sample      row                     queries  @1    @5    @10   MRR10")
pooled = {}
for d in dirs:
    for row in rows:
        r = load(d, row)
        print(f"{d.rsplit('/', 1)[1]:<11} {row:<22} {r['queries']:>7}  " + " ".join(f"{r[m]:.3f}" for m in metrics))
        p = pooled.setdefault(row, [0] * 5)
        p[0] += r["queries"]
        for j, m in enumerate(metrics):
            p[j + 1] += r[m] * r["queries"]
for row, p in pooled.items():
    print(f"{'pooled':<11} {row:<22} {p[0]:>7}  " + " ".join(f"{x / p[0]:.3f}" for x in p[1:]))
either = n = 0
for d in dirs:
    t, v = load(d, "text")["ranks"], load(d, "vector")["ranks"]
    for a, b in zip(t, v):
        n += 1
        either += any(x is not None and x <= 10 for x in (a, b))
print(f"either side in its top 10 (a bound for fusing them): {either / n:.3f} of {n}")
PY
