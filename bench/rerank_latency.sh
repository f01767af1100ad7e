#!/usr/bin/env bash
# Reranker latency on this machine: a cross-encoder of the exact ruri-v3-30m shape (random
# weights: honest for speed, meaningless for quality) scores C candidates of L tokens, as
# one search with --rerank does. Prints p50/p95 over 20 timed queries for each (C, L), the
# default (20, 256) among them; release build, --threads as given (default: all cores).
# usage: bench/rerank_latency.sh [WORK] [THREADS]   (WORK default ~/.cache/sagasu/rerank)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/release.sh
work=${1:-$HOME/.cache/sagasu/rerank}
threads=${2:-$(nproc)}
mkdir -p "$work"
bench_venv numpy
model="$work/ruri-v3-30m-reranker-random"
[ -f "$model/model.safetensors" ] || "$venv/bin/python" bench/random_modernbert.py "$model" --reranker
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), --threads $threads"
for c in 10 20 30; do
  for len in 128 256 512; do
    "$sagasu" --threads "$threads" bench-rerank --model "$model" --candidates "$c" --len "$len" --reps 20
  done
done
