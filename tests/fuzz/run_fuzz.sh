#!/usr/bin/env bash
# Builds the log-reader fuzzers with clang (libFuzzer + ASan + UBSan) in build-fuzz/ and
# runs them for SECONDS in total (default 60), split evenly over every target and limit
# mode, each on a scratch copy of its checked-in seed corpus, so the corpus never changes
# by itself. Each target runs twice: under small limits (fast runs, limit checks reached)
# and under the reader's production limits (SNAP_FUZZ_LIMITS=production), the ones replay
# and `snapshot inspect` use. MODES="production" (or "small") runs only one.
#   tests/fuzz/run_fuzz.sh                          # 60 s: 10 s per target and mode, as CI runs it
#   tests/fuzz/run_fuzz.sh 3600 fuzz_log_records    # an hour on one target (30 min per mode)
# Extra libFuzzer flags go in FUZZ_FLAGS, e.g. FUZZ_FLAGS="-jobs=2 -workers=2".
# Exits non-zero on the first finding; its input is left in build-fuzz/findings/.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_log_reader fuzz_log_records fuzz_episode_reader)
read -r -a modes <<< "${MODES:-small production}"
per_target=$(( seconds / (${#targets[@]} * ${#modes[@]}) ))
[ "$per_target" -gt 0 ] || per_target=1

declare -A corpus=([fuzz_log_reader]=tests/fuzz/corpus [fuzz_log_records]=tests/fuzz/corpus-records
                  [fuzz_episode_reader]=tests/fuzz/corpus-episodes)

CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSNAP_FUZZ=ON -DSNAP_SANITIZE=ON -DSNAP_BUILD_TESTS=ON -DSNAP_BUILD_BENCH=OFF -DSNAP_BUILD_EXAMPLES=OFF >/dev/null
# The machine is shared: at most JOBS (default 2) compile jobs, not ninja's nproc+2.
cmake --build build-fuzz --target "${targets[@]}" --parallel "${JOBS:-2}"

mkdir -p build-fuzz/findings
for target in "${targets[@]}"; do
  for mode in "${modes[@]}"; do
    work=$(mktemp -d)
    cp "${corpus[$target]}"/* "$work/"
    echo "== $target, $mode limits: ${per_target} s"
    # shellcheck disable=SC2086  # FUZZ_FLAGS is a list of flags
    SNAP_FUZZ_LIMITS=$mode ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      "build-fuzz/tests/fuzz/$target" "$work" -max_total_time="$per_target" -max_len=65536 \
      -artifact_prefix="build-fuzz/findings/$mode-" -print_final_stats=1 ${FUZZ_FLAGS:-} || { rm -rf "$work"; exit 1; }
    rm -rf "$work"
  done
done
