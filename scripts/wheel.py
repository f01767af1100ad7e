#!/usr/bin/env python3
"""Writes a wheel that carries the sagasu binary as a script (what maturin's
`bindings = "bin"` makes, without building again): `pip install` puts `sagasu` on PATH.

The platform tag is manylinux_2_NN_x86_64 where 2.NN is the newest GLIBC_ symbol version the
binary references (read from its dynamic symbol table with objdump, else from the raw bytes):
the lowest glibc it runs on.

usage: scripts/wheel.py STAGED_DIR VERSION OUT_DIR   (prints the wheel's path)
"""
import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile


def glibc_floor(binary):
    try:
        text = subprocess.check_output(["objdump", "-T", binary], text=True,
                                       stderr=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError):
        with open(binary, "rb") as fh:
            text = fh.read().decode("latin-1")
    versions = {tuple(int(x) for x in m.groups())
                for m in re.finditer(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?", text)}
    if not versions:
        sys.exit("wheel: no GLIBC symbol versions found in the binary")
    return max(versions)


def record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def main():
    staged, version, out_dir = sys.argv[1:4]
    binary = os.path.join(staged, "sagasu")
    major, minor = glibc_floor(binary)
    tag = f"py3-none-manylinux_{major}_{minor}_x86_64"
    dist_info = f"sagasu-{version}.dist-info"
    data = f"sagasu-{version}.data"
    with open(os.path.join(staged, "README.md"), encoding="utf-8") as fh:
        readme = fh.read()
    metadata = (
        "Metadata-Version: 2.4\n"
        "Name: sagasu\n"
        f"Version: {version}\n"
        "Summary: Fast keyword and semantic search over large Markdown collections, Japanese first\n"
        "License-Expression: MIT OR Apache-2.0\n"
        "License-File: LICENSE-MIT\n"
        "License-File: LICENSE-APACHE\n"
        "License-File: THIRD-PARTY-LICENSES.txt\n"
        "Requires-Python: >=3.8\n"
        "Description-Content-Type: text/markdown\n\n" + readme)
    wheel_meta = ("Wheel-Version: 1.0\nGenerator: sagasu scripts/wheel.py\n"
                  f"Root-Is-Purelib: false\nTag: {tag}\n")
    entries = [
        (f"{data}/scripts/sagasu", open(binary, "rb").read(), 0o755),
        (f"{dist_info}/METADATA", metadata.encode(), 0o644),
        (f"{dist_info}/WHEEL", wheel_meta.encode(), 0o644),
    ]
    for lic in ("LICENSE-MIT", "LICENSE-APACHE", "THIRD-PARTY-LICENSES.txt"):
        entries.append((f"{dist_info}/licenses/{lic}",
                        open(os.path.join(staged, lic), "rb").read(), 0o644))
    record = [record_line(name, blob) for name, blob, _ in entries]
    record.append(f"{dist_info}/RECORD,,")
    entries.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode(), 0o644))
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"sagasu-{version}-{tag}.whl")
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for name, blob, mode in entries:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, blob)
    shutil.move(tmp, path)
    print(path)


if __name__ == "__main__":
    main()
