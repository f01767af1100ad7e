#!/usr/bin/env bash
# The test command: installs what is missing, builds (dev profile, dependencies optimised:
# see Cargo.toml) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
# The MCP test drives the server with the official Python SDK.
if [ -z "${SAGASU_MCP_PYTHON:-}" ]; then
  if py="$(scripts/mcp-sdk.sh)"; then
    export SAGASU_MCP_PYTHON="$py"
  else
    echo "test: could not install the MCP Python SDK; its test will be skipped (fails under CI)" >&2
  fi
fi
cargo test --locked "$@"
