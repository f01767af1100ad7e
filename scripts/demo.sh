#!/usr/bin/env bash
# The main job: index a real Markdown tree and search it.
#   scripts/demo.sh [TREE] [QUERY]
# Without TREE it unpacks the Japanese C++ docs corpus from ../shared/corpora.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
# Every target: the tests (scripts/test.sh) then reuse this build instead of compiling the
# dependencies again with their dev-only features.
cargo build --release --locked --workspace --all-targets
sagasu="$CARGO_TARGET_DIR/release/sagasu"
tree=${1:-}
if [ -z "$tree" ]; then
  corpus=../shared/corpora/cpp-docs-ja.tar.zst
  [ -f "$corpus" ] || { echo "demo: give a Markdown tree: scripts/demo.sh DIR" >&2; exit 2; }
  tree=${TMPDIR:-/tmp}/sagasu-demo/cpp-docs-ja
  if [ ! -d "$tree" ]; then
    mkdir -p "$(dirname "$tree")"
    tar --zstd -xf "$corpus" -C "$(dirname "$tree")"
  fi
fi
query=${2:-"例外処理のベストプラクティス"}
"$sagasu" index "$tree"
"$sagasu" stats --db "$tree/.sagasu"
echo "--- sagasu search \"$query\""
(cd "$tree" && "$sagasu" search "$query" -k 5)
