#!/usr/bin/env bash
# Scale benchmark: memory, threads and commits at 102,893 files (the old system's size).
#
#   bench/scale.sh [FILES] [WORK_DIR]     FILES default 102893; WORK_DIR default ~/.cache/sagasu/scale
#
# 1. Generates FILES Markdown files from real cpp-docs-ja sections (bench/gen_corpus.py, seed 1;
#    reused when already there).
# 2. Indexes them (release build, --threads N = cores):
#    (a) keyword-only;   (a10k) keyword-only, the first 10,000 files (RSS at 10k vs 100k)
#    (b) with the tiny ModernBERT test model
#    (c) 2,000 files with a random model of the exact ruri-v3-30m shape
#    sampling RSS and threads every second into CSVs, then a no-op re-run and a re-run with one
#    file changed (on (a)).
# 3. Prints one line per run (peak RSS, max threads, fragments, versions, bytes, wall, files/s,
#    sections/s) and draws WORK_DIR/scale.png (RSS and threads over time).
#
#    (m) the allocator's share: (a) again with glibc's default arena count
#        (MALLOC_ARENA_MAX=16, i.e. 8 per core) and with mimalloc (--features mimalloc),
#        against (a) itself (glibc, two arenas: sagasu's default).
# STAGES=a,b,c,m limits the runs (default a,b,c). Needs a Python venv with numpy and matplotlib: made here.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
. bench/release.sh
files=${1:-102893}
work=${2:-$HOME/.cache/sagasu/scale}
stages=${STAGES:-a,b,c}
threads=$(nproc)
mkdir -p "$work"

bench_venv numpy matplotlib
py="$venv/bin/python"

src="$work/cpp-docs-ja"
[ -d "$src" ] || tar --zstd -xf ../shared/corpora/cpp-docs-ja.tar.zst -C "$work"
corpus="$work/corpus-$files"
if [ ! -f "$corpus/.complete" ]; then
  rm -rf "$corpus"
  "$py" bench/gen_corpus.py "$src" "$corpus" --files "$files" --seed 1
  touch "$corpus/.complete"
fi
echo "corpus: $corpus ($(find "$corpus" -name '*.md' | wc -l) files, $(du -sh --exclude=.sagasu "$corpus" | cut -f1)), threads $threads"

# run NAME TREE DB [index args...]: indexes with sampling, prints the summary line.
run() {
  local name=$1 tree=$2 db=$3; shift 3
  rm -rf "$db"
  "$py" bench/measure.py --interval 1 --csv "$work/$name.csv" -- \
    "$sagasu" --threads "$threads" index "$tree" --db "$db" --quiet --json "$@" \
    > "$work/$name.json" 2> "$work/$name.err"
  "$sagasu" stats --db "$db" --json > "$work/$name.stats.json"
  "$py" - "$name" "$work" <<'PY'
import json, sys
name, work = sys.argv[1], sys.argv[2]
r = json.load(open(f"{work}/{name}.json")); s = json.load(open(f"{work}/{name}.stats.json"))
m = json.loads(open(f"{work}/{name}.err").read().strip().splitlines()[-1])
n = r["files_indexed"]
print(f"({name}) {n} files: peak RSS {m['peak_rss_mib']:.0f} MiB, max threads {m['max_threads']}, "
      f"fragments {s['fragments']}, versions {s['versions']}, {s['bytes_on_disk'] / 2**20:.0f} MiB on disk, "
      f"wall {m['wall_s']:.1f} s, {n / m['wall_s']:.0f} files/s, {r['sections_written'] / m['wall_s']:.0f} sections/s, "
      f"{r['commits']} commits, {r['vectors_written']} vectors")
PY
}

plots=()
if [[ $stages == *a* ]]; then
  run a "$corpus" "$work/db-a" --no-embed
  plots+=("(a) keyword-only=$work/a.csv")
  run a10k "$corpus/00" "$work/db-a10k" --no-embed
  "$py" - "$work" <<'PY'
import json, sys
w = sys.argv[1]
peak = lambda n: json.loads(open(f"{w}/{n}.err").read().strip().splitlines()[-1])["peak_rss_mib"]
print(f"RSS at {json.load(open(f'{w}/a.json'))['files_indexed']} files / RSS at 10,000 files: {peak('a') / peak('a10k'):.2f}")
PY
  rerun() {  # rerun NAME: re-index (a), timed by measure.py
    "$py" bench/measure.py -- "$sagasu" --threads "$threads" index "$corpus" --db "$work/db-a" \
      --quiet --json > "$work/$1.json" 2> "$work/$1.err"
  }
  rerun noop
  "$py" - "$work" <<'PY'
import json, sys
w = sys.argv[1]; r = json.load(open(f"{w}/noop.json"))
m = json.loads(open(f"{w}/noop.err").read().strip().splitlines()[-1])
print(f"no-op re-run: {m['wall_s']:.2f} s wall, {r['files_unchanged']} unchanged, {r['commits']} commits")
PY
  one="$corpus/00/00/doc000000.md"
  cp "$one" "$work/one.bak"
  printf '\n## 追加した節\n\nSCALEPROBE という語を足した。\n' >> "$one"
  rerun one
  "$sagasu" search SCALEPROBE --db "$work/db-a" --mode text --json > "$work/one.search.json" || true
  "$py" - "$work" <<'PY'
import json, sys
w = sys.argv[1]; r = json.load(open(f"{w}/one.json"))
m = json.loads(open(f"{w}/one.err").read().strip().splitlines()[-1])
hits = [x["path"] for x in json.load(open(f"{w}/one.search.json"))["results"]]
print(f"one file changed: {m['wall_s']:.2f} s wall, {r['files_indexed']} file read, "
      f"{r['sections_written']} sections written, {r['commits']} commits; search SCALEPROBE -> {hits}")
PY
  cp "$work/one.bak" "$one"
  "$sagasu" --threads "$threads" index "$corpus" --db "$work/db-a" --quiet --json > /dev/null
fi
if [[ $stages == *m* ]]; then
  MALLOC_ARENA_MAX=16 run a-glibc16 "$corpus" "$work/db-m" --no-embed
  plots+=("(a) glibc, 16 arenas=$work/a-glibc16.csv")
  default_bin=$sagasu
  cargo build --release --locked -q --features mimalloc
  cp "$sagasu" "$work/sagasu-mimalloc"
  cargo build --release --locked -q --workspace --all-targets
  sagasu="$work/sagasu-mimalloc" run a-mimalloc "$corpus" "$work/db-m" --no-embed
  plots+=("(a) mimalloc=$work/a-mimalloc.csv")
  sagasu=$default_bin
fi
if [[ $stages == *b* ]]; then
  run b "$corpus" "$work/db-b" --model "$repo/crates/sagasu-embed/tests/fixtures/tiny-modernbert"
  plots+=("(b) tiny model=$work/b.csv")
fi
if [[ $stages == *c* ]]; then
  model="$work/ruri-v3-30m-random"
  [ -f "$model/model.safetensors" ] || "$py" bench/random_modernbert.py "$model"
  sub="$work/corpus-2000"
  if [ ! -f "$sub/.complete" ]; then
    rm -rf "$sub"; mkdir -p "$sub"
    cp -r "$corpus/00/00" "$corpus/00/01" "$corpus/00/02" "$corpus/00/03" "$corpus/00/04" \
          "$corpus/00/05" "$corpus/00/06" "$corpus/00/07" "$corpus/00/08" "$corpus/00/09" \
          "$corpus/00/10" "$corpus/00/11" "$corpus/00/12" "$corpus/00/13" "$corpus/00/14" \
          "$corpus/00/15" "$corpus/00/16" "$corpus/00/17" "$corpus/00/18" "$corpus/00/19" "$sub/"
    touch "$sub/.complete"
  fi
  run c "$sub" "$work/db-c" --model "$model"
  plots+=("(c) 2,000 files, ruri-v3-30m shape=$work/c.csv")
fi
"$py" bench/plot.py "$work/scale.png" "${plots[@]}"
echo "CSVs and plot in $work"
