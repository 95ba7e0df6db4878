#!/usr/bin/env bash
# Builds the log-reader fuzzer with clang (libFuzzer + ASan + UBSan) in build-fuzz/ and
# runs it for SECONDS (default 60) on a scratch copy of the checked-in seed corpus.
#   tests/fuzz/run_fuzz.sh 3600      # an hour
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSNAP_FUZZ=ON -DSNAP_SANITIZE=ON -DSNAP_BUILD_TESTS=ON -DSNAP_BUILD_BENCH=OFF -DSNAP_BUILD_EXAMPLES=OFF >/dev/null
# The machine is shared: at most JOBS (default 2) compile jobs, not ninja's nproc+2.
cmake --build build-fuzz --target fuzz_log_reader --parallel "${JOBS:-2}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp tests/fuzz/corpus/* "$work/"
mkdir -p build-fuzz/findings
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  build-fuzz/tests/fuzz/fuzz_log_reader "$work" -max_total_time="$seconds" -max_len=65536 \
  -artifact_prefix=build-fuzz/findings/ -print_final_stats=1
