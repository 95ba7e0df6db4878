#!/usr/bin/env python3
"""Fails when a lower layer includes or links a higher one.

The layers, lowest first (docs/architecture.md):
  snapshot-format < membrane < replay < components < tools < program
A source file may include public headers (`snap/NAME.h`) of its own layer and of the
layers below it; a layer's CMakeLists.txt may link `snap::` targets of its own layer and
below. Everything else (examples/, tests/, bench/) sits on top and is not checked.

  check_layers.py ROOT          checks the tree at ROOT; one line per violation, exit 1
  check_layers.py --self-test   checks a small tree with one upward include and one
                                upward link, and fails unless both are reported
"""
import pathlib
import re
import sys
import tempfile

LAYERS = ["base", "snapshot-format", "membrane", "replay", "components", "tools", "program"]
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"](snap/[^">]+)[">]')
DEFINE_TARGET = re.compile(r"\b(?:snap_add_library|add_library)\s*\(\s*(?:snap_)?([A-Za-z0-9_]+)")
LINK = re.compile(r"target_link_libraries\s*\(([^)]*)\)", re.S)
LINKED = re.compile(r"\bsnap::([A-Za-z0-9_]+)")
SOURCES = (".h", ".hpp", ".cc", ".cpp", ".c")


def layer_of(root, path):
    top = path.relative_to(root).parts[0]
    return LAYERS.index(top) if top in LAYERS else None


def public_headers(root):
    """snap/NAME.h -> the rank of the layer whose include/ folder holds it."""
    headers = {}
    for rank, layer in enumerate(LAYERS):
        for include_dir in (root / layer).rglob("include"):
            for header in include_dir.rglob("*.h"):
                headers[header.relative_to(include_dir).as_posix()] = rank
    return headers


def targets(root):
    """snap::NAME -> the rank of the layer whose CMakeLists.txt defines it."""
    found = {}
    for rank, layer in enumerate(LAYERS):
        for cmake in (root / layer).rglob("CMakeLists.txt"):
            for name in DEFINE_TARGET.findall(cmake.read_text()):
                found.setdefault(name, rank)
    return found


def violations(root):
    root = pathlib.Path(root).resolve()
    headers, defined = public_headers(root), targets(root)
    out = []
    for rank, layer in enumerate(LAYERS):
        for path in sorted((root / layer).rglob("*")):
            if path.suffix in SOURCES:
                for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                    m = INCLUDE.match(line)
                    if m and headers.get(m.group(1), -1) > rank:
                        out.append(f"{path.relative_to(root)}:{number}: {layer} includes {m.group(1)} "
                                   f"of the higher layer {LAYERS[headers[m.group(1)]]}")
            elif path.name == "CMakeLists.txt":
                for call in LINK.findall(path.read_text()):
                    for target in LINKED.findall(call):
                        if defined.get(target, -1) > rank:
                            out.append(f"{path.relative_to(root)}: {layer} links snap::{target} "
                                       f"of the higher layer {LAYERS[defined[target]]}")
    return out


def self_test():
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        files = {
            "replay/include/snap/app.h": "#pragma once\n",
            "replay/src/app.cc": '#include "snap/app.h"\n#include "snap/graph.h"\n',
            "replay/CMakeLists.txt": "snap_add_library(replay src/app.cc)\n"
                                     "target_link_libraries(snap_replay PUBLIC snap::tools)\n",
            "tools/include/snap/graph.h": '#include "snap/app.h"\n',
            "tools/CMakeLists.txt": "add_library(snap_tools STATIC x.cc)\n"
                                    "target_link_libraries(snap_tools PUBLIC snap::replay)\n",
        }
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        found = violations(root)
        expected = ["replay/src/app.cc:2: replay includes snap/graph.h of the higher layer tools",
                    "replay/CMakeLists.txt: replay links snap::tools of the higher layer tools"]
        if sorted(found) != sorted(expected):
            print("self-test: expected\n  " + "\n  ".join(expected) + "\ngot\n  " + "\n  ".join(found))
            return 1
    print("self-test: the checker reports an upward include and an upward link")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) != 2:
        print(__doc__)
        return 64
    found = violations(argv[1])
    for line in found:
        print(line)
    if not found:
        print("layers hold: no include or link points upward")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
