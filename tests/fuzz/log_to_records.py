#!/usr/bin/env python3
"""Turns snapshot logs into seeds for fuzz_log_records: the decompressed records of every
frame except the trailer (the fuzz driver writes its own trailer and footer), in the
driver's input format -- flags byte 0x03 (trailer + footer, complete), then per record a
16-bit little-endian length and the bytes. Needs the `zstd` command.

  tests/fuzz/log_to_records.py OUT_DIR LOG...
"""
import os
import struct
import subprocess
import sys

FILE_HEADER = 24
PREFIX = 16
FOOTER = 24


def records(log: bytes):
    at = FILE_HEADER
    end = len(log) - FOOTER if log[-4:] == b"SNP\x1a" else len(log)
    bodies = []
    while at + PREFIX <= end:
        compressed, _ = struct.unpack_from("<II", log, at)
        frame = log[at + PREFIX: at + PREFIX + compressed]
        bodies.append(subprocess.run(["zstd", "-d", "-c", "-q"], input=frame, check=True,
                                     stdout=subprocess.PIPE).stdout)
        at += PREFIX + compressed
    return bodies[:-1]  # drop the trailer


def main():
    out_dir, logs = sys.argv[1], sys.argv[2:]
    os.makedirs(out_dir, exist_ok=True)
    for path in logs:
        seed = bytearray([0x03])
        for body in records(open(path, "rb").read()):
            if len(body) > 0xFFFF:
                sys.exit(f"{path}: a record over 64 KiB does not fit the seed format")
            seed += struct.pack("<H", len(body)) + body
        name = os.path.splitext(os.path.basename(path))[0] + ".records"
        open(os.path.join(out_dir, name), "wb").write(seed)


if __name__ == "__main__":
    main()
