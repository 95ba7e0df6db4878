#!/usr/bin/env python3
"""Every C++ sample in README.md is compiled and run: each ```cpp block must appear,
verbatim, in a source file the build compiles and a test runs (examples/). Fails naming
the first line of a sample that is not found."""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
readme = (root / "README.md").read_text()
sources = {p: p.read_text() for p in (root / "examples").rglob("*.cc")}
samples = re.findall(r"```cpp\n(.*?)```", readme, re.S)
if not samples:
    sys.exit("README.md has no ```cpp sample: nothing checked")
missing = [s for s in samples if not any(s.strip() in text for text in sources.values())]
for s in missing:
    print(f"README.md sample not found verbatim in examples/: {s.strip().splitlines()[0]!r}")
print(f"{len(samples) - len(missing)} of {len(samples)} README samples are compiled sources")
sys.exit(1 if missing else 0)
