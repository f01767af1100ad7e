#!/usr/bin/env bash
# An index on object storage against local disk, on cpp-docs-ja (release build, keyword
# index, --threads 2): SeaweedFS's S3 gateway on loopback, reached directly and through a
# proxy adding 20 ms per round trip (bench/delay_proxy.py: this kernel has no netem). Prints
# one row per place: index time and requests, bytes, search p50/p95 cold (a new process per
# query) and warm (in process), and how long a running `serve` takes to see a commit.
# usage: bench/object_store.sh [WORK]   (default ~/.cache/sagasu/object-store)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/release.sh
weed="$(scripts/weed.sh)"
work=${1:-$HOME/.cache/sagasu/object-store}
mkdir -p "$work"
rm -rf "$work/cpp-docs-ja"
tar --zstd -xf ../shared/corpora/cpp-docs-ja.tar.zst -C "$work"
[ -f "$work/eval.jsonl" ] || zstd -dq ../shared/corpora/cpp-docs-ja.eval.jsonl.zst -o "$work/eval.jsonl"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); sagasu $("$sagasu" --version)"
python3 bench/object_store.py "$sagasu" "$weed" "$work" "$work/cpp-docs-ja" "$work/eval.jsonl"
