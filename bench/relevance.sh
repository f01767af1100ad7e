#!/usr/bin/env bash
# Ranking quality on two Japanese corpora of different styles, cpp-docs-ja (9,571 pages,
# Microsoft C++ docs) and oss-docs-ja (538 pages: Vue, Remix/React Router, OpenTelemetry), one
# row per query set (bench/relevance_sets.py):
#   sentences     a sentence of the target section, verbatim
#   keywords      its first 3 content words
#   titles        the target page's title
#   descriptions  the page's description (cpp-docs-ja: doc_description's query_core; oss-docs-ja,
#                 which has 9 of them: the lead sentence of the page), against a copy indexed
#                 without it (the query does not quote the indexed text)
#   crosslingual  the first body sentence of the English twin page (cpp-docs-en, same path) →
#                 the Japanese page (cpp-docs-ja only)
# 1. Keyword mode on the whole corpus. 2. text / vector / hybrid on a subset (QUERIES queries
# per set, their pages and as many distractors), indexed with the real multilingual-e5-small.
# Prints hits@1/5/10, MRR@10 (page level), section-level hits@1 where the set names a section,
# and in-process p50 latency.
#
#   bench/relevance.sh [--rerank DIR] [EVERY]
#                                   every EVERY-th sentence and title (default 10); with
#                                   --rerank, a "+rr" row per mode: the same search reranked by
#                                   the cross-encoder in DIR (the first stage's rows stand alone)
#   CORPORA="cpp-docs-ja oss-docs-ja"   which corpora (default both)
#   BASELINE=path/to/other/sagasu   every row with that binary too (own indexes), interleaved so
#                                   that both see the same machine state
#   QUERIES=100                     queries per set in the subset; VECTORS=0 skips step 2
#   FUSION=SPEC                     hybrid rows with `eval --fusion SPEC` (bench/fusion.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/release.sh
rerank=""
if [ "${1:-}" = --rerank ]; then
  rerank=$(cd "$2" && pwd); shift 2
fi
every=${1:-10}
root=${WORK:-$HOME/.cache/sagasu/relevance}
bins=("this=$sagasu")
[ -n "${BASELINE:-}" ] && bins+=("base=$BASELINE")
fusion=(); [ -n "${FUSION:-}" ] && fusion=(--fusion "$FUSION")

row() { # label set json
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
name, qset, path = sys.argv[1:]
r = json.load(open(path))
sec = r.get("section") or {}
s1 = f"{sec['hits_at_1']:.3f}" if sec else "  -  "
print(f"{qset:<13} {name:<16} {r['queries']:>5}  {r['hits_at_1']:.3f} {r['hits_at_5']:.3f} {r['hits_at_10']:.3f}  {r['mrr_at_10']:.3f}   {s1}   {r['latency_ms_p50']:.1f}")
PY
}
header() { echo "set           row              queries  @1    @5    @10    MRR10   sec@1   p50 ms"; }

e5=""
for corpus in ${CORPORA:-cpp-docs-ja oss-docs-ja}; do
  work="$root/$corpus"
  mkdir -p "$work"
  [ -d "$work/$corpus" ] || tar --zstd -xf "../shared/corpora/$corpus.tar.zst" -C "$work"
  [ -f "$work/eval.jsonl" ] || zstd -dq "../shared/corpora/$corpus.eval.jsonl.zst" -o "$work/eval.jsonl"
  [ -d "$work/sets" ] || python3 bench/relevance_sets.py "$work/$corpus" "$work/eval.jsonl" "$work/sets" --every "$every"

  echo "== $corpus: keyword mode, whole corpus"
  for b in "${bins[@]}"; do
    name=${b%%=*}; bin=${b#*=}
    rm -rf "$work/db-$name" "$work/db-nodesc-$name"
    "$bin" index "$work/$corpus" --db "$work/db-$name" --no-embed -q
    "$bin" index "$work/sets/nodesc" --db "$work/db-nodesc-$name" --no-embed -q
  done
  header
  for qset in sentences keywords titles descriptions; do
    for b in "${bins[@]}"; do
      name=${b%%=*}; bin=${b#*=}
      db="$work/db-$name"; extra=()
      if [ "$qset" = descriptions ]; then db="$work/db-nodesc-$name"; extra=(--core); fi
      "$bin" eval "$work/sets/$qset.jsonl" --db "$db" --mode text "${extra[@]}" --json > "$work/$qset-$name.json"
      row "$name text" "$qset" "$work/$qset-$name.json"
    done
  done

  [ "${VECTORS:-1}" = 0 ] && continue
  [ -n "$e5" ] || e5=$(bash ../shared/tools/multilingual-e5-small/build.sh)
  en=-
  if [ "$corpus" = cpp-docs-ja ]; then
    [ -d "$work/cpp-docs-en" ] || tar --zstd -xf ../shared/corpora/cpp-docs-en.tar.zst -C "$work"
    en="$work/cpp-docs-en"
  fi
  # Made once (embedding takes minutes): delete $work/subset to make it again.
  [ -d "$work/subset/tree" ] || python3 bench/relevance_subset.py "$work/sets" "$en" "$work/subset" --queries "${QUERIES:-100}"
  for b in "${bins[@]}"; do
    name=${b%%=*}; bin=${b#*=}
    db="$work/subset/db-$name"
    if [ ! -f "$db/sagasu.json" ] || [ "$name" = base ]; then
      rm -rf "$db"
      start=$(date +%s)
      "$bin" index "$work/subset/tree" --db "$db" --model "$e5" -q
      echo "$corpus subset indexed by $name with multilingual-e5-small in $(( $(date +%s) - start )) s"
    fi
  done
  echo "== $corpus: subset, multilingual-e5-small"
  header
  for qset in sentences keywords titles descriptions crosslingual; do
    [ -f "$work/subset/$qset.jsonl" ] || continue
    extra=(); [ "$qset" = descriptions ] && extra=(--core)
    for mode in text vector hybrid; do
      for b in "${bins[@]}"; do
        name=${b%%=*}; bin=${b#*=}
        f=(); [ "$mode" = hybrid ] && [ "$name" = this ] && f=("${fusion[@]}")
        out="$work/subset/$qset-$mode-$name.json"
        "$bin" eval "$work/subset/$qset.jsonl" --db "$work/subset/db-$name" --mode "$mode" "${extra[@]}" "${f[@]}" --json > "$out"
        row "$name $mode" "$qset" "$out"
        if [ -n "$rerank" ]; then
          "$bin" eval "$work/subset/$qset.jsonl" --db "$work/subset/db-$name" --mode "$mode" "${extra[@]}" \
            --reranker "$rerank" --json > "${out%.json}-rerank.json"
          row "$name $mode+rr" "$qset" "${out%.json}-rerank.json"
        fi
      done
    done
  done
done
