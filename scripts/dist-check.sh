#!/usr/bin/env bash
# Checks the release artifacts as a newcomer would use them: the wheel installed with pip in
# a fresh venv puts a `sagasu` on PATH that names its commit, indexes and searches a small
# tree; the tarball holds the binary, README, licenses, man page and completions.
# usage: scripts/dist-check.sh   (after scripts/dist.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
commit=$(git rev-parse --short=12 HEAD)
wheel=$(ls dist/sagasu-*.whl | head -1)
tarball=$(ls dist/sagasu-*-x86_64-unknown-linux-gnu.tar.gz | head -1)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail() { echo "dist-check: $*" >&2; exit 1; }

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check --no-index "$wheel"
export PATH="$work/venv/bin:$PATH"
[ "$(command -v sagasu)" = "$work/venv/bin/sagasu" ] || fail "pip did not put sagasu on PATH"
version=$(sagasu --version)
case "$version" in *"$commit"*) ;; *) fail "--version does not name commit $commit: $version" ;; esac
mkdir -p "$work/tree"
printf '# 例外処理\n\n例外を投げる前に、リソースを解放します。\n' >"$work/tree/a.md"
printf '# 別のページ\n\n関係のない内容です。\n' >"$work/tree/b.md"
sagasu --threads 2 index "$work/tree" --no-embed --quiet
found=$(cd "$work/tree" && sagasu --threads 2 search 例外処理 --json -k 1)
case "$found" in *'"a.md"'*) ;; *) fail "the installed sagasu did not find a.md: $found" ;; esac

tar -tzf "$tarball" >"$work/list"
for f in sagasu README.md LICENSE-MIT LICENSE-APACHE THIRD-PARTY-LICENSES.txt doc/sagasu.1 doc/sagasu-search.1 \
         complete/sagasu.bash complete/_sagasu complete/sagasu.fish; do
  grep -q "/$f\$" "$work/list" || fail "$tarball lacks $f"
done
tar -xzf "$tarball" -C "$work"
man_page=$(ls "$work"/sagasu-*/doc/sagasu.1)
grep -q '^\.TH sagasu 1' "$man_page" || fail "the man page has no .TH header"
grep -q 'keep\\-superseded' "$man_page" || fail "the man page lacks the global flags"
grep -q 'complete' "$work"/sagasu-*/complete/sagasu.bash || fail "the bash completion is empty"
echo "dist-check: $(basename "$wheel") installs and runs; sagasu --version: $version"
