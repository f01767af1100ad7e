#!/usr/bin/env bash
# What it costs to replace a changed file's sections in one commit (old rows deleted in the
# commit that adds the new ones): a keyword-only re-index in which every file changed, on
# cpp-docs-ja (9,571 files) and on FILES generated files (bench/gen_corpus.py, seed 1).
#
#   bench/replace.sh [FILES] [WORK]     FILES default 102893; WORK default ~/.cache/sagasu/replace
#   BASELINE=path/to/other/sagasu bench/replace.sh   runs that binary too, alternating with this
#                                                    build on the same changes, own index each
#
# Each round appends one line to every file, then re-indexes with each binary in turn; prints
# the seconds of each run and, with BASELINE, the ratio this/baseline per round. The first
# index of each binary also gives its bytes on disk (what storing each file's raw bytes costs,
# against a baseline from before format 3).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/release.sh
files=${1:-102893}
work=${2:-$HOME/.cache/sagasu/replace}
rounds=${ROUNDS:-2}
mkdir -p "$work"

[ -d "$work/cpp-docs-ja" ] || tar --zstd -xf ../shared/corpora/cpp-docs-ja.tar.zst -C "$work"
[ -d "$work/gen" ] || python3 bench/gen_corpus.py "$work/cpp-docs-ja" "$work/gen" --files "$files" --seed 1

bins=("this=$sagasu")
[ -n "${BASELINE:-}" ] && bins+=("baseline=$BASELINE")

seconds() { python3 -c 'import json,sys; print("%.2f" % json.load(sys.stdin)["seconds"])'; }

for corpus in cpp-docs-ja gen; do
  tree="$work/$corpus"
  n=$(find "$tree" -name '*.md' | wc -l)
  echo "== $corpus ($n files)"
  for b in "${bins[@]}"; do
    name=${b%%=*}; bin=${b#*=}
    rm -rf "$work/db-$corpus-$name"
    s=$("$bin" index "$tree" --db "$work/db-$corpus-$name" --no-embed -q --json | seconds)
    mib=$("$bin" stats --db "$work/db-$corpus-$name" --json | python3 -c 'import json,sys; print("%.1f" % (json.load(sys.stdin)["bytes_on_disk"] / 2**20))')
    echo "$name: first index $s s, $mib MiB on disk"
  done
  for round in $(seq 1 "$rounds"); do
    find "$tree" -name '*.md' -print0 | xargs -0 -n 500 sh -c 'for f; do printf "\n改訂 %s\n" "$0" >>"$f"; done' "$round"
    line="round $round (every file changed):"
    declare -A took=()
    order=("${bins[@]}")
    # Alternate which binary goes first: the second finds a warmer page cache.
    if (( round % 2 == 0 )) && (( ${#bins[@]} == 2 )); then order=("${bins[1]}" "${bins[0]}"); fi
    for b in "${order[@]}"; do
      name=${b%%=*}; bin=${b#*=}
      took[$name]=$("$bin" index "$tree" --db "$work/db-$corpus-$name" --no-embed -q --json | seconds)
      line+=" $name ${took[$name]} s"
    done
    if [ -n "${BASELINE:-}" ]; then
      line+=" ratio $(python3 -c "print(f'{${took[this]}/${took[baseline]}:.2f}')")"
    fi
    echo "$line"
    unset took
  done
done
