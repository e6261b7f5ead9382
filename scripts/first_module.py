#!/usr/bin/env python3
"""Prints the first wasm module's size and checks how it was split.

cargo-leptos' splitter (wasm_split_cli_support 0.2) gives up on splitting
the read-only data when its new layout is longer than the linker's, and
then puts all of it (every page's strings, ~70 KB) in the first module.
`frontend/src/lib.rs` leaves room so that this does not happen; this check
fails the build if it does anyway (the first module's data section is then
about 97 KB instead of about 26 KB).
"""
import gzip
import subprocess
import sys

LIMIT = 64 * 1024


def leb(buf, i):
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def main(path):
    wasm = open(path, "rb").read()
    if wasm[:4] != b"\0asm":
        sys.exit(f"{path}: not a wasm module")
    i, data = 8, 0
    while i < len(wasm):
        section = wasm[i]
        size, i = leb(wasm, i + 1)
        if section == 11:
            data += size
        i += size
    try:  # `gzip -9`, as bench/RESULTS.md measures
        zipped = len(subprocess.run(["gzip", "-9c", path], capture_output=True, check=True).stdout)
    except (OSError, subprocess.CalledProcessError):
        zipped = len(gzip.compress(wasm, 9))
    print(f"first wasm module: {zipped:,} B gzipped, {len(wasm):,} B raw, data {data:,} B")
    if data > LIMIT:
        sys.exit(
            f"{path}: its data section is {data:,} B (over {LIMIT:,}): the splitter "
            "put every page's read-only data in the first module; give it more room "
            "(SPLIT_SLACK in frontend/src/lib.rs)"
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/site/pkg/wavekeep.wasm")
