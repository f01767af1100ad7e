#!/usr/bin/env bash
# The test command: installs what is missing, builds (dev profile, dependencies optimised:
# see Cargo.toml) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
cargo test --locked "$@"
