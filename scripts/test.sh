#!/usr/bin/env bash
# The test command: installs what is missing, builds (release profile: the one build the
# benchmarks and the demo share) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
cargo test --release --locked "$@"
