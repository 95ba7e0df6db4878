#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, builds tests/install/consumer against
# it with find_package(snap), and runs the result: build, verify, and read the log.
set -euo pipefail
build_dir=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/include/snap/log_reader.h"
test -x "$work/prefix/bin/snapshot"
cmake -S "$source_dir/tests/install/consumer" -B "$work/consumer" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/consumer/consumer" build --out "$work/out" > "$work/build.txt"
grep -q '^startup: port=20000 ' "$work/build.txt"
"$work/consumer/consumer" verify "$work/out/snapshot.snaplog" > "$work/verify.txt"
grep -q 'replays cleanly' "$work/verify.txt"
"$work/consumer/consumer" count "$work/out/snapshot.snaplog" | grep -q '^events='
echo "install: find_package(snap) consumer builds and runs"
