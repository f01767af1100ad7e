#!/usr/bin/env bash
# What keeping superseded versions readable costs (issue 24): a 2,000-file tree of real
# sections (bench/gen_corpus.py over cpp-docs-ja), then RUNS watch-sized incremental runs
# (each: 5 files edited, 1 created, 1 deleted, as an editor session does), with each grace in
# GRACES (seconds; default "10 60 0": the default, a minute, and none — the former immediate
# prune), alternating run by run in the same loop so machine drift hits all alike. Prints
# bytes on disk and versions at the end, one-shot search p50 over the last runs, and the
# bytes once the longest grace has passed and one more run pruned.
# usage: [GRACES="10 0"] bench/grace.sh [RUNS]   (default 400)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/release.sh
runs=${1:-400}
graces=${GRACES:-10 60 0}
longest=$(printf '%s\n' $graces | sort -n | tail -1)
work=${TMPDIR:-/tmp}/sagasu-grace
rm -rf "$work"; mkdir -p "$work"
tar --zstd -xf ../shared/corpora/cpp-docs-ja.tar.zst -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -1)
for g in $graces; do
  python3 bench/gen_corpus.py "$src" "$work/tree-$g" --files 2000 --seed 1 >/dev/null
  "$sagasu" --threads 2 --keep-superseded "$g" index "$work/tree-$g" --no-embed --quiet
done
edit() { # TREE ROUND
  local files; mapfile -t files < <(find "$1" -name '*.md' -not -path '*/.sagasu/*' | sort | awk -v r="$2" 'NR % 397 == (r * 7) % 397' | head -5)
  for f in "${files[@]}"; do printf '\n追記 %s\n' "$2" >>"$f"; done
  printf '# 新しいメモ %s\n\n例外処理の覚え書き %s。\n' "$2" "$2" >"$1/note-$2.md"
  rm -f "$1/note-$(($2 - 3)).md"
}
declare -A lat
for r in $(seq 1 "$runs"); do
  for g in $graces; do
    edit "$work/tree-$g" "$r"
    "$sagasu" --threads 2 --keep-superseded "$g" index "$work/tree-$g" --no-embed --quiet
    if [ "$r" -gt $((runs - 20)) ]; then
      s=$(date +%s%N)
      (cd "$work/tree-$g" && "$sagasu" --threads 2 search 例外処理 --mode text -k 10 >/dev/null)
      lat[$g]+="$(( ($(date +%s%N) - s) / 1000000 )) "
    fi
  done
done
report() { # LABEL
  for g in $graces; do
    bytes=$(du -sb "$work/tree-$g/.sagasu" | cut -f1)
    versions=$(cd "$work/tree-$g" && "$sagasu" stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["versions"])')
    printf '%-28s --keep-superseded %-3s %8.1f MiB  %4s versions\n' "$1" "$g" "$(awk -v b="$bytes" 'BEGIN {print b / 1048576}')" "$versions"
  done
}
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); $runs runs each, alternating"
report "after $runs runs:"
for g in $graces; do
  echo "one-shot search p50 over the last 20 runs, --keep-superseded $g: $(echo "${lat[$g]}" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') ms"
done
sleep $((longest + 1))
for g in $graces; do
  edit "$work/tree-$g" $((runs + 1))
  "$sagasu" --threads 2 --keep-superseded "$g" index "$work/tree-$g" --no-embed --quiet
done
report "a run $((longest + 1)) s after the last:"
