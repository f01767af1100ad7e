#!/usr/bin/env bash
# Makes a virtual environment with the official MCP Python SDK (what tests/mcp_client.py
# drives `sagasu serve` with) and numpy (for the random-weights reranker of
# tests/mcp_concurrency.rs), and prints its python. Reused when it is already there.
set -euo pipefail
venv="${SAGASU_MCP_VENV:-$HOME/.cache/sagasu/mcp-venv}"
if ! "$venv/bin/python" -c "import mcp.client.stdio, numpy" >/dev/null 2>&1; then
  if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "mcp>=2.3,<3" numpy >&2
fi
echo "$venv/bin/python"
