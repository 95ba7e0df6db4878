#!/usr/bin/env python3
"""Checks that every code sample in a public header's comment (*/include/snap/*.h) is
compiled: each block of consecutive `//   ` comment lines (at least 3 spaces after `//`)
that looks like code must appear, line by line with whitespace normalised, in
tests/docs/header_samples_test.cc (or another tests/docs/*_test.cc). Prints each missing block and exits 1."""
import re
import sys
from pathlib import Path

SAMPLE = re.compile(r"^\s*//   (.*)$")
BULLET = re.compile(r"^\s*//\s*-\s")


def norm(line):
    return " ".join(line.split())


def looks_like_code(lines):
    for line in lines:
        if line.lstrip().startswith(('{"', "HTTP/")):
            continue  # a wire format (JSON, HTTP), not C++
        code = re.sub(r"\s//.*$", "", line).rstrip()
        if code.endswith((";", "{", "}")) or code.endswith("})"):
            return True
    return False


def blocks(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if SAMPLE.match(lines[i]) and not (i > 0 and BULLET.match(lines[i - 1])):
            start = i
            body = []
            while i < len(lines) and SAMPLE.match(lines[i]):
                body.append(SAMPLE.match(lines[i]).group(1))
                i += 1
            if looks_like_code(body):
                yield start + 1, body
        else:
            # skip a bullet's continuation lines whole
            if SAMPLE.match(lines[i]):
                while i < len(lines) and SAMPLE.match(lines[i]):
                    i += 1
                continue
            i += 1


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    # header_samples_test.cc, and the tests that must include one header alone
    # (umbrella_header_test.cc: snap/snap.h).
    tests = sorted((root / "tests/docs").glob("*_test.cc"))
    haystack = "\n" + "\n".join(norm(l) for t in tests for l in t.read_text(encoding="utf-8").splitlines()) + "\n"
    headers = sorted(root.glob("*/include/snap/*.h")) + sorted(root.glob("components/*/include/snap/*.h"))
    missing = 0
    count = 0
    for header in headers:
        for line, body in blocks(header):
            count += 1
            needle = "\n" + "\n".join(norm(l) for l in body) + "\n"
            if needle not in haystack:
                missing += 1
                print(f"{header.relative_to(root)}:{line}: sample not in tests/docs/*_test.cc:")
                for l in body:
                    print(f"    {l}")
    if missing:
        print(f"{missing} of {count} header samples are not compiled by tests/docs/*_test.cc")
        return 1
    print(f"all {count} header samples are compiled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
