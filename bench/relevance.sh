#!/usr/bin/env bash
# Ranking quality in keyword mode on the whole of cpp-docs-ja (9,571 pages), one row per query
# set (bench/relevance_sets.py):
#   sentences     a sentence of the target section, verbatim
#   keywords      its first 3 content words
#   titles        the target page's title
#   descriptions  the page's description (query_core), against a copy indexed without
#                 `description:` (the query does not quote the indexed text)
# Prints hits@1/5/10, MRR@10 (page level), section-level hits@1 where the set names a section,
# and in-process p50 latency.
#
#   bench/relevance.sh [--rerank DIR] [EVERY]
#                                   every EVERY-th sentence and title (default 10); with
#                                   --rerank, the subset table has a "+rerank" row per mode:
#                                   the same search reranked by the cross-encoder in DIR
#   BASELINE=path/to/other/sagasu   the same sets with that binary too (own index each), rows
#                                   interleaved so that both see the same machine state
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/release.sh
rerank=""
if [ "${1:-}" = --rerank ]; then
  rerank=$(cd "$2" && pwd); shift 2
fi
every=${1:-10}
work=${WORK:-$HOME/.cache/sagasu/relevance}
mkdir -p "$work"
[ -d "$work/cpp-docs-ja" ] || tar --zstd -xf ../shared/corpora/cpp-docs-ja.tar.zst -C "$work"
[ -f "$work/eval.jsonl" ] || zstd -dq ../shared/corpora/cpp-docs-ja.eval.jsonl.zst -o "$work/eval.jsonl"
python3 bench/relevance_sets.py "$work/cpp-docs-ja" "$work/eval.jsonl" "$work/sets" --every "$every"

bins=("this=$sagasu")
[ -n "${BASELINE:-}" ] && bins+=("baseline=$BASELINE")
for b in "${bins[@]}"; do
  name=${b%%=*}; bin=${b#*=}
  rm -rf "$work/db-$name" "$work/db-nodesc-$name"
  "$bin" index "$work/cpp-docs-ja" --db "$work/db-$name" --no-embed -q
  "$bin" index "$work/sets/nodesc" --db "$work/db-nodesc-$name" --no-embed -q
done

row() { # name set json
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
name, qset, path = sys.argv[1:]
r = json.load(open(path))
sec = r.get("section") or {}
s1 = f"{sec['hits_at_1']:.3f}" if sec else "  -  "
print(f"{qset:<13} {name:<9} {r['queries']:>5}  {r['hits_at_1']:.3f} {r['hits_at_5']:.3f} {r['hits_at_10']:.3f}  {r['mrr_at_10']:.3f}   {s1}   {r['latency_ms_p50']:.1f}")
PY
}
echo "set           binary    queries  @1    @5    @10    MRR10   sec@1   p50 ms"
for qset in sentences keywords titles descriptions; do
  for b in "${bins[@]}"; do
    name=${b%%=*}; bin=${b#*=}
    db="$work/db-$name"; extra=()
    if [ "$qset" = descriptions ]; then db="$work/db-nodesc-$name"; extra=(--core); fi
    "$bin" eval "$work/sets/$qset.jsonl" --db "$db" --mode text "${extra[@]}" --json > "$work/$qset-$name.json"
    row "$name" "$qset" "$work/$qset-$name.json"
  done
done

# Vector and hybrid on a subset, with the real multilingual-e5-small (VECTORS=0 skips).
[ "${VECTORS:-1}" = 0 ] && exit 0
e5=$(bash ../shared/tools/multilingual-e5-small/build.sh)
[ -d "$work/cpp-docs-en" ] || tar --zstd -xf ../shared/corpora/cpp-docs-en.tar.zst -C "$work"
# Made once (embedding takes minutes): delete $work/subset to make it again.
[ -d "$work/subset/tree" ] || python3 bench/relevance_subset.py "$work/sets" "$work/cpp-docs-en" "$work/subset" --queries "${QUERIES:-100}"
if [ ! -f "$work/subset/db/sagasu.json" ]; then
  rm -rf "$work/subset/db"
  start=$(date +%s)
  "$sagasu" index "$work/subset/tree" --db "$work/subset/db" --model "$e5" -q
  echo "subset indexed with multilingual-e5-small in $(( $(date +%s) - start )) s"
fi
echo "set           mode      queries  @1    @5    @10    MRR10   sec@1   p50 ms"
for qset in sentences keywords titles descriptions crosslingual; do
  extra=(); [ "$qset" = descriptions ] && extra=(--core)
  for mode in text vector hybrid; do
    "$sagasu" eval "$work/subset/$qset.jsonl" --db "$work/subset/db" --mode "$mode" "${extra[@]}" --json > "$work/subset/$qset-$mode.json"
    row "$mode" "$qset" "$work/subset/$qset-$mode.json"
    if [ -n "$rerank" ]; then
      "$sagasu" eval "$work/subset/$qset.jsonl" --db "$work/subset/db" --mode "$mode" "${extra[@]}" \
        --reranker "$rerank" --json > "$work/subset/$qset-$mode-rerank.json"
      row "$mode+rr" "$qset" "$work/subset/$qset-$mode-rerank.json"
    fi
  done
done
