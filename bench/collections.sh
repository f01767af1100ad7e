#!/usr/bin/env bash
# One index of three collections (issue 22): cpp-docs-ja, oss-docs-ja and a directory of HTML
# and plain-text pages (made from cpp-docs-en: headings become h1–h6 or title lines). Prints:
#  - keyword index time of the three together, and of cpp-docs-ja alone; with
#    BASELINE=path/to/other/sagasu, cpp-docs-ja alone with that binary too, alternating
#    (keyword throughput on Markdown, before and after)
#  - documents and sections per collection (stats)
#  - in-process text search p50/p95 on cpp-docs-ja queries (`sagasu eval`, 800 3-word
#    queries), without a filter and with each filter form: -c, --where (=, a list, a date
#    range), --changed-after, and all of them together; hits@1 beside each; with
#    BASELINE, that binary's line after each (its own index of the three)
#  - with MODEL=DIR (e.g. the multilingual-e5-small that shared/tools builds): oss-docs-ja
#    indexed with it, and text / vector / hybrid p50 without a filter and with broad and
#    narrow ones (the vector side under a filter)
# usage: bench/collections.sh [WORK]   (default ~/.cache/sagasu/collections)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/release.sh
work=${1:-$HOME/.cache/sagasu/collections}
mkdir -p "$work"
runs=${RUNS:-3}

for c in cpp-docs-ja cpp-docs-en oss-docs-ja; do
  [ -d "$work/$c" ] || tar --zstd -xf "../shared/corpora/$c.tar.zst" -C "$work"
done
# keyword_queries CORPUS NAME STEP COUNT: every STEP-th sentence query of CORPUS's eval set,
# COUNT at most, made into 3-word keyword queries in $work/NAME-keywords.jsonl.
keyword_queries() {
  local corpus=$1 name=$2 step=$3 count=$4
  [ -f "$work/$name-keywords.jsonl" ] && return
  zstd -dqc "../shared/corpora/$corpus.eval.jsonl.zst" > "$work/$name.jsonl"
  python3 - "$work/$name.jsonl" "$work/$name-sentences.jsonl" "$step" "$count" <<'PY'
import json, sys
rows = [l for l in open(sys.argv[1]) if json.loads(l)["type"] == "section_sentence"]
open(sys.argv[2], "w").writelines(rows[::int(sys.argv[3])][:int(sys.argv[4])])
PY
  python3 bench/keywords.py "$work/$name-sentences.jsonl" "$work/$name-keywords.jsonl"
}
keyword_queries cpp-docs-ja cpp 10 800
pages="$work/html-txt"
if [ ! -d "$pages" ]; then
  python3 - "$work/cpp-docs-en" "$pages" <<'PY'
import html, pathlib, re, sys
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
files = sorted(src.rglob("*.md"))[:1000]
for i, f in enumerate(files):
    text = f.read_text(encoding="utf-8", errors="replace")
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    rel = f.relative_to(src)
    if i % 2 == 0:
        body = []
        for block in re.split(r"\n\s*\n", text):
            m = re.match(r"(#{1,6})\s+(.*)", block.strip())
            if m:
                n = len(m.group(1))
                body.append(f"<h{n}>{html.escape(m.group(2))}</h{n}>")
            elif block.strip():
                body.append(f"<p>{html.escape(block.strip())}</p>")
        page = "<!doctype html><html lang=en><head><meta charset=utf-8><title>{}</title></head><body><nav>menu</nav><main>{}</main></body></html>".format(
            html.escape(rel.stem), "\n".join(body))
        dest = out / rel.with_suffix(".html")
    else:
        page = re.sub(r"^#{1,6}\s+", "", text, flags=re.M)
        dest = out / rel.with_suffix(".txt")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(page, encoding="utf-8")
PY
fi

seconds() { python3 -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))["seconds"])' "$1"; }

echo "== keyword index of cpp-docs-ja alone ($runs runs each, alternating)"
for i in $(seq "$runs"); do
  for label in this ${BASELINE:+baseline}; do
    bin=$sagasu; [ "$label" = baseline ] && bin=$BASELINE
    rm -rf "$work/alone.db"
    "$bin" index "$work/cpp-docs-ja" --db "$work/alone.db" -q --no-embed --json > "$work/alone.json"
    echo "$label: $(seconds "$work/alone.json") s"
  done
done

echo "== one index of three collections (--types all)"
db="$work/three.db"
rm -rf "$db"
"$sagasu" index "$work/cpp-docs-ja" "$work/oss-docs-ja" "$pages" --types all --db "$db" -q --no-embed --json > "$work/three.json"
python3 - "$work/three.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{r['files_indexed']} files, {r['sections_written']} sections in {r['seconds']:.2f} s ({r['files_indexed'] / r['seconds']:.0f} files/s), {r['commits']} commits")
PY
"$sagasu" stats --db "$db" --json > "$work/stats.json"
python3 - "$work/stats.json" <<'PY'
import json, sys
for c in json.load(open(sys.argv[1]))["collections"]:
    print(f"  {c['name']}: {c['documents']} documents, {c['sections']} sections, {c['last_run']['seconds']:.2f} s")
PY

echo "== text search on cpp-docs-ja queries, 800 3-word queries, in process (sagasu eval)"
# With BASELINE, that binary searches the same three collections indexed by itself, line by
# line after this build's: the two see the same machine state.
if [ -n "${BASELINE:-}" ]; then
  rm -rf "$work/three-base.db"
  "$BASELINE" index "$work/cpp-docs-ja" "$work/oss-docs-ja" "$pages" --types all --db "$work/three-base.db" -q --no-embed --json > /dev/null
fi
eval_line() {
  local label=$1; shift
  for b in this ${BASELINE:+baseline}; do
    local bin=$sagasu at=$db
    [ "$b" = baseline ] && { bin=$BASELINE; at="$work/three-base.db"; }
    "$bin" eval "$work/cpp-keywords.jsonl" --db "$at" --mode text --json "$@" > "$work/eval.json"
    python3 - "$work/eval.json" "$label" "$b" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:<48} {sys.argv[3]:<8} p50 {r['latency_ms_p50']:5.2f} ms  p95 {r['latency_ms_p95']:5.2f} ms  hits@1 {r['hits_at_1']:.3f}  empty {r['empty']}")
PY
  done
}
for round in 1; do
  echo "-- round $round"
  eval_line "no filter"
  eval_line "-c cpp-docs-ja" -c cpp-docs-ja
  eval_line "--where ms.topic=reference (678 pages)" --where ms.topic=reference
  eval_line "--where ms.topic!=reference" --where "ms.topic!=reference"
  eval_line "--where helpviewer_keywords='C++ Build Insights'" --where 'helpviewer_keywords=C++ Build Insights'
  eval_line "--where ms.date>=2019-01-01" --where 'ms.date>=2019-01-01'
  eval_line "--changed-after 2000-01-01" --changed-after 2000-01-01
  eval_line "-c, --where date and topic!=, --changed-after" -c cpp-docs-ja --where 'ms.date>=2019-01-01' --where 'ms.topic!=reference' --changed-after 2000-01-01
done

if [ -n "${MODEL:-}" ]; then
  echo "== oss-docs-ja with $MODEL: 300 3-word queries, in process, per mode and filter"
  keyword_queries oss-docs-ja oss 5 300
  oss="$work/oss.db"
  "$sagasu" index "$work/oss-docs-ja" --db "$oss" --model "$MODEL" -q --json > "$work/oss.json"
  for mode in text vector hybrid; do
    for f in "" "--where toc!=false" "--changed-after 2000-01-01" "--where order>=1"; do
      # shellcheck disable=SC2086
      "$sagasu" eval "$work/oss-keywords.jsonl" --db "$oss" --mode "$mode" --json $f > "$work/eval.json"
      python3 - "$work/eval.json" "$mode ${f:-(no filter)}" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:<40} p50 {r['latency_ms_p50']:6.2f} ms  p95 {r['latency_ms_p95']:6.2f} ms  hits@1 {r['hits_at_1']:.3f}")
PY
    done
  done
fi
