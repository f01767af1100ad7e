#!/usr/bin/env bash
# Reranker latency on this machine: a cross-encoder of the exact ruri-v3-30m shape (random
# weights: honest for speed, meaningless for quality) scores C candidates of L tokens, as
# one search with --rerank does. Prints p50/p95 over 20 timed queries for each (C, L), the
# default (20, 256) among them; release build, --threads as given (default: all cores).
# usage: bench/rerank_latency.sh [WORK] [THREADS]   (WORK default ~/.cache/sagasu/rerank)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
cargo build --release --locked -q
sagasu="$CARGO_TARGET_DIR/release/sagasu"
work=${1:-$HOME/.cache/sagasu/rerank}
threads=${2:-$(nproc)}
mkdir -p "$work"
venv="$HOME/.cache/sagasu/bench-venv"
if ! "$venv/bin/python" -c "import numpy" >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check numpy
fi
model="$work/ruri-v3-30m-reranker-random"
[ -f "$model/model.safetensors" ] || "$venv/bin/python" bench/random_modernbert.py "$model" --reranker
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), --threads $threads"
for c in 10 20 30; do
  for len in 128 256 512; do
    "$sagasu" --threads "$threads" bench-rerank --model "$model" --candidates "$c" --len "$len" --reps 20
  done
done
