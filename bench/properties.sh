#!/usr/bin/env bash
# Property tests of the bytes → sections path with many more cases than CI runs (CI: 2,000
# arbitrary byte strings, 2,000 Markdown-like ones, 3,000 edited cpp-docs-ja files).
#   bench/properties.sh [CASES]   (default 100000 per property)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
cases=${1:-100000}
start=$(date +%s)
PROPTEST_CASES=$cases cargo test --release --locked --lib properties -- --include-ignored
echo "properties: $cases cases each, $(( $(date +%s) - start )) s"
