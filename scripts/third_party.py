#!/usr/bin/env python3
"""Prints the license texts of every crate linked into the sagasu binary (normal
dependencies for x86_64 Linux, with the default features), each under its name, version and
declared license: what the MIT and Apache-2.0 licenses of those crates ask a binary
distribution to carry. Reads `cargo metadata` and the crates' own LICENSE*/COPYING* files."""
import json
import os
import subprocess
import sys

meta = json.loads(subprocess.check_output(
    ["cargo", "metadata", "--format-version", "1", "--locked",
     "--filter-platform", "x86_64-unknown-linux-gnu"]))
packages = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
root = next(p["id"] for p in meta["packages"] if p["name"] == "sagasu")
seen, todo = set(), [root]
while todo:
    pid = todo.pop()
    if pid in seen:
        continue
    seen.add(pid)
    for dep in nodes[pid]["deps"]:
        # Normal and build dependencies end up in (or build) the binary; dev ones do not.
        if any(k["kind"] in (None, "build") for k in dep["dep_kinds"]):
            todo.append(dep["pkg"])

out = sys.stdout
out.write("Third-party software linked into sagasu, with its licenses.\n\n")
missing = []
for pid in sorted(seen, key=lambda i: (packages[i]["name"], packages[i]["version"])):
    p = packages[pid]
    if p["source"] is None:  # sagasu's own crates: LICENSE-MIT / LICENSE-APACHE beside this file
        continue
    here = os.path.dirname(p["manifest_path"])
    files = sorted(f for f in os.listdir(here)
                   if f.upper().startswith(("LICENSE", "LICENCE", "COPYING", "NOTICE"))
                   and os.path.isfile(os.path.join(here, f)))
    out.write("=" * 78 + "\n")
    out.write(f"{p['name']} {p['version']} ({p.get('license') or p.get('license_file') or 'no license declared'})\n")
    if not files:
        missing.append(p["name"])
        out.write("(the crate ships no license file; its declared license applies)\n")
    for f in files:
        out.write(f"--- {f}\n")
        with open(os.path.join(here, f), encoding="utf-8", errors="replace") as fh:
            out.write(fh.read().rstrip() + "\n")
    out.write("\n")
print(f"third_party: {len(seen) - 1} crates, {len(missing)} without a license file",
      file=sys.stderr)
