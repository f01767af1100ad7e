# Sourced by the bench scripts from the repository root: installs what is missing, builds the
# release binary ($sagasu; SAGASU_BIN=PATH measures that binary instead, e.g. a copy that a
# rebuild during a long bench does not replace), and bench_venv PKG… makes the benches'
# Python venv ($venv) with those packages.
scripts/setup.sh
. scripts/env.sh
if [ -n "${SAGASU_BIN:-}" ]; then
  sagasu=$SAGASU_BIN
else
  cargo build --release --locked -q --workspace --all-targets
  sagasu="$CARGO_TARGET_DIR/release/sagasu"
fi
venv="$HOME/.cache/sagasu/bench-venv"

bench_venv() {
  if ! "$venv/bin/python" -c "import $(IFS=,; echo "$*")" >/dev/null 2>&1; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "$@"
  fi
}
