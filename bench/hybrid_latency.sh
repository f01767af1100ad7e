#!/usr/bin/env bash
# Search latency with a query model of the exact ruri-v3-30m shape on cpp-docs-ja (102,999
# sections, ~89k distinct texts, so the IVF_SQ index is in use), release build. Prints:
#  - in-process p50/p95 of `sagasu eval` per mode (text, vector, hybrid; 200 doc_description
#    queries, query_core, k = 10), and recall@10 of the vector index against exact search
#  - with BASELINE=path/to/other/sagasu: the same hybrid run with that binary, alternating
#
# Embedding 89k sections with the 10-layer model takes hours on 2 cores, so the vectors are
# made by a 1-layer copy of the same random checkpoint (same weights file, same 256-d
# output), and the index is then told that the 10-layer model made them: every query pays
# the full model's embedding cost, which is what is measured. Results are meaningless for
# quality (random weights); bench/quality.sh measures that with a real model.
# usage: bench/hybrid_latency.sh [WORK]   (default ~/.cache/sagasu/latency; reused if there)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/release.sh
work=${1:-$HOME/.cache/sagasu/latency}
mkdir -p "$work"

bench_venv numpy
model="$work/ruri-v3-30m-random"
[ -f "$model/model.safetensors" ] || "$venv/bin/python" bench/random_modernbert.py "$model"
one="$work/ruri-v3-30m-1layer"
if [ ! -f "$one/config.json" ]; then
  mkdir -p "$one"
  ln -sf "$model/model.safetensors" "$one/model.safetensors"
  cp "$model/tokenizer.json" "$one/"
  python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["num_hidden_layers"]=1; json.dump(c,open(sys.argv[2],"w"),indent=2)' \
    "$model/config.json" "$one/config.json"
fi

[ -d "$work/cpp-docs-ja" ] || tar --zstd -xf ../shared/corpora/cpp-docs-ja.tar.zst -C "$work"
[ -f "$work/eval.jsonl" ] || zstd -dq ../shared/corpora/cpp-docs-ja.eval.jsonl.zst -o "$work/eval.jsonl"
db="$work/db"
if [ ! -f "$work/.indexed" ]; then
  echo "== indexing with the 1-layer copy (minutes)"
  rm -rf "$db"
  "$sagasu" index "$work/cpp-docs-ja" --db "$db" -q --model "$one"
  # The 10-layer model's key, as an index made with it would record it.
  probe="$work/probe"; rm -rf "$probe" "$probe.db"; mkdir -p "$probe"
  printf '# probe\n\nprobe\n' > "$probe/a.md"
  "$sagasu" index "$probe" --db "$probe.db" -q --model "$model"
  python3 - "$db/sagasu.json" "$probe.db/sagasu.json" <<'PY'
import json, sys
meta, probe = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
meta["model"], meta["model_dir"] = probe["model"], probe["model_dir"]
json.dump(meta, open(sys.argv[1], "w"), ensure_ascii=False, indent=2)
PY
  touch "$work/.indexed"
fi

eval_args=(eval "$work/eval.jsonl" --db "$db" --type doc_description --core --limit 200)
for mode in text vector hybrid; do
  echo "== $mode"
  "$sagasu" "${eval_args[@]}" --mode "$mode"
done
echo "== vector index"
"$sagasu" "${eval_args[@]}" --ann
if [ -n "${BASELINE:-}" ]; then
  for run in 1 2; do
    echo "== hybrid, baseline $BASELINE (run $run)"
    "$BASELINE" "${eval_args[@]}" --mode hybrid
    echo "== hybrid, this build (run $run)"
    "$sagasu" "${eval_args[@]}" --mode hybrid
  done
fi
