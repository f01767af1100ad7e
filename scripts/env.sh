# Sourced by the scripts: one target directory for every build, kept outside the checkout so
# that repeated CI runs on a machine are incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sagasu/target}"
