#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite with ctest.
#   scripts/test.sh              normal build in build/
#   scripts/test.sh --sanitize   AddressSanitizer + UBSan build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The Jaeger backend the observability tests start: built once (minutes) into a cache keyed
# by its version, then reused at once by every run and by both build modes.
jaeger=$(scripts/build-jaeger.sh | tail -n 1)
# The Go tools the OpenAPI interop tests run (oapi-codegen, kin-openapi's validator, a Go
# that builds the generated clients offline): the same cache, built once, one line each.
go_tools=$(scripts/build-go-tools.sh)
go_tool() { sed -n "s/^$1=//p" <<<"$go_tools"; }
# The kube-apiserver the Kubernetes manifest test applies the generated manifests to: built
# once (7 to 27 minutes, with what else the cores do) into the same cache, keyed by its version.
kube_apiserver=$(scripts/build-kube-apiserver.sh | tail -n 1)

build_dir=build
extra=()
if [ "${1:-}" = "--sanitize" ]; then
  build_dir=build-asan
  extra=(-DSNAP_SANITIZE=ON -DSNAP_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

cmake -S . -B "$build_dir" -G Ninja "${extra[@]}" -DSNAP_JAEGER="$jaeger" \
  -DSNAP_OAPI_CODEGEN="$(go_tool oapi-codegen)" -DSNAP_OPENAPI_VALIDATE="$(go_tool openapi-validate)" \
  -DSNAP_INTEROP_GO="$(go_tool go)" -DSNAP_KUBE_APISERVER="$kube_apiserver" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)"
