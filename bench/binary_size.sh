#!/usr/bin/env bash
# What the release binary holds: links the binary once more without stripping (only the final
# link reruns; every crate comes from the release build) and sums the sizes of its code symbols
# by the crate they belong to. A generic function instantiated for another crate's type
# (`core::ptr::drop_in_place<sqlparser::ast::Expr>`) counts for that crate: that is the code
# the crate brings. Then relinks the stripped binary.
#   bench/binary_size.sh [TOP]   (default 20 rows)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
top=${1:-20}
bin="$CARGO_TARGET_DIR/release/sagasu"
cargo build --release --locked --bin sagasu -q
stripped=$(stat -c %s "$bin")
cargo rustc --release --locked --bin sagasu -q -- -C strip=none
syms=$(mktemp)
trap 'rm -f "$syms"' EXIT
nm -S --size-sort -C --defined-only "$bin" > "$syms"
cargo build --release --locked --bin sagasu -q
touch src/main.rs && cargo build --release --locked --bin sagasu -q
python3 - "$syms" "$stripped" "$top" <<'PY'
import collections, re, sys
syms, stripped, top = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lock = open("Cargo.lock").read()
crates = {c.replace("-", "_") for c in re.findall(r'^name = "([^"]+)"', lock, re.M)}
base = {"core", "alloc", "std"}
plumbing = {"hashbrown", "futures_util", "futures_core", "tokio"} | base
by_crate, total = collections.Counter(), 0
for line in open(syms):
    parts = line.rstrip("\n").split(" ", 3)
    if len(parts) < 4 or parts[2] not in "tTwW":
        continue
    size = int(parts[1], 16)
    total += size
    found = [x for x in re.findall(r"(?<![A-Za-z0-9_])([a-z_][a-z0-9_]*)::", parts[3])
             if x in crates or x in base]
    owner = next((x for x in found if x not in plumbing), None)
    by_crate[owner or (found[0] if found else "(C code, unnamed)")] += size
families = collections.Counter()
for c, s in by_crate.items():
    head = c.split("_")[0]
    families[head if head in ("lance", "datafusion", "arrow", "aws", "candle") else c] += s
mib = lambda b: b / 2**20
print(f"stripped binary {mib(stripped):.1f} MiB; code symbols {mib(total):.1f} MiB")
print(f"{'crate':<36}{'MiB':>8}{'share':>8}")
for c, s in by_crate.most_common(top):
    print(f"{c:<36}{mib(s):>8.1f}{100 * s / total:>7.1f}%")
print(f"\n{'family (lance*, datafusion*, …)':<36}{'MiB':>8}{'share':>8}")
for c, s in families.most_common(10):
    print(f"{c:<36}{mib(s):>8.1f}{100 * s / total:>7.1f}%")
own = sum(s for c, s in by_crate.items() if c.startswith("sagasu"))
print(f"\nsagasu's own crates: {mib(own):.1f} MiB; candle: {mib(families['candle']):.1f} MiB")
PY
