#!/usr/bin/env bash
# The release artifacts, from the same release build as the README's two commands (no second
# dependency build):
#   dist/sagasu-VERSION-x86_64-unknown-linux-gnu.tar.gz   binary, README, licenses (sagasu's
#       and every linked crate's), man page, shell completions
#   dist/sagasu-VERSION-py3-none-manylinux_2_NN_x86_64.whl  the binary as a wheel's script:
#       `pip install` puts `sagasu` on PATH. NN is the newest glibc symbol version the binary
#       needs, read from it (the lowest glibc it runs on), not the build machine's glibc.
# usage: scripts/dist.sh   (prints the two paths)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
cargo build --release --locked --workspace --all-targets >&2
bin="$CARGO_TARGET_DIR/release/sagasu"
version=$(cargo metadata --no-deps --format-version 1 --locked \
  | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="sagasu"))')
target=x86_64-unknown-linux-gnu
name="sagasu-$version-$target"
stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
pkg="$stage/$name"
mkdir -p "$pkg/doc" "$pkg/complete" dist
cp "$bin" "$pkg/sagasu"
cp README.md LICENSE-MIT LICENSE-APACHE "$pkg/"
"$bin" generate man --out "$pkg/doc"
"$bin" generate bash >"$pkg/complete/sagasu.bash"
"$bin" generate zsh >"$pkg/complete/_sagasu"
"$bin" generate fish >"$pkg/complete/sagasu.fish"
"$bin" generate powershell >"$pkg/complete/_sagasu.ps1"
python3 scripts/third_party.py >"$pkg/THIRD-PARTY-LICENSES.txt"
tar -C "$stage" -czf "dist/$name.tar.gz" "$name"
wheel=$(python3 scripts/wheel.py "$pkg" "$version" dist)
echo "dist/$name.tar.gz"
echo "$wheel"
