#!/usr/bin/env bash
# Builds the Go tools the OpenAPI interop test (tests/interop) runs, from the Go module
# proxy, into the tool cache that scripts/build-jaeger.sh uses:
#   ${SNAP_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snapshot-tools}/
#     oapi-codegen-v2.8.2/oapi-codegen           the client generator, `go install`ed
#     openapi-validate-v0.153.0-HASH/openapi-validate
#                                                 tests/interop/validate: kin-openapi's
#                                                 loader and validator over a document
#     interop-go-HASH/go                          `go` for building the generated clients
#                                                 (tests/interop/client) without a network:
#                                                 their modules are downloaded and their
#                                                 packages compiled here, once
# HASH is of the sources (and of this script), so an edit rebuilds and nothing else does.
# From an empty cache this takes about 3 minutes on 2 busy cores (the downloads, and some
# 2 CPU-minutes of compiling); what is there already is used as it is: the script then
# returns at once, without Go.
# Progress goes to stderr; stdout is one NAME=PATH line per tool (absolute paths):
#   oapi-codegen=...
#   openapi-validate=...
#   go=...
# scripts/test.sh passes them to CMake (SNAP_OAPI_CODEGEN, SNAP_OPENAPI_VALIDATE,
# SNAP_INTEROP_GO).
#
# The versions are pinned: oapi-codegen v2.8.2 and kin-openapi v0.153.0 (both read OpenAPI
# 3.1); go.mod and go.sum of the two modules under tests/interop pin everything else.
set -euo pipefail

oapi_version=v2.8.2
kin_version=v0.153.0

say() { echo "build-go-tools: $*" >&2; }

repo=$(cd "$(dirname "$0")/.." && pwd -P)
validate_src=$repo/tests/interop/validate
client_src=$repo/tests/interop/client

. "$repo/scripts/go-env.sh"
cache_root=$(snap_tool_cache)

# Hash of files (sorted names, then contents): the key of what is built from them.
hash_of() { (for f in "$@"; do echo "== ${f#"$repo"/}"; cat "$f"; done) | sha256sum | cut -c1-12; }
self=$repo/scripts/build-go-tools.sh
validate_hash=$(hash_of "$self" "$validate_src/go.mod" "$validate_src/go.sum" "$validate_src"/*.go)
client_hash=$(hash_of "$self" "$client_src/go.mod" "$client_src/go.sum")

oapi=$cache_root/oapi-codegen-$oapi_version/oapi-codegen
validate=$cache_root/openapi-validate-$kin_version-$validate_hash/openapi-validate
interop_go=$cache_root/interop-go-$client_hash/go

report() {
  echo "oapi-codegen=$oapi"
  echo "openapi-validate=$validate"
  echo "go=$interop_go"
}

# The fast path: no lock, no go. Each file only ever appears by rename(2) of a finished
# build, so an executable file here is a whole one.
if [ -x "$oapi" ] && [ -x "$validate" ] && [ -x "$interop_go" ]; then
  report
  exit 0
fi

go=$(snap_find_go)
if [ -z "$go" ]; then
  say "error: no 'go' toolchain in PATH or /usr/local/go/bin:"
  say "       the OpenAPI interop test builds oapi-codegen $oapi_version and a kin-openapi"
  say "       $kin_version validator from source, and compiles generated Go clients, with Go 1.26"
  say "       or newer: install Go (https://go.dev/doc/install)"
  exit 1
fi

# The normal and the sanitizer test runs (or two checkouts) may start this at once: the
# second waits for the first and then finds the tools.
exec 9>"$cache_root/.go-tools.lock"
flock 9

# Go's caches are those of build-jaeger.sh, private to the tool cache (go-env.sh says
# why): downloads and compiled packages are shared by every tool built here, and a CI run
# downloads each module once. -mod=mod: go.sum is committed, so this only ever adds what is
# missing from it (nothing, while go.mod and go.sum agree); -trimpath (go-env.sh) gives the
# same compiled packages whatever directory a client is built in.
snap_go_env "$cache_root" -mod=mod

start=$(date +%s)

# Each tool is built in a temporary directory beside its destination and renamed into
# place (snap_fresh_build_dir: a build killed outright leaves only that directory).
# fresh_dir DIR sets $tmp (not a command substitution: its subshell would keep the list).
tmp_dirs=()
trap 'rm -rf "${tmp_dirs[@]}"' EXIT
fresh_dir() {
  tmp=$(snap_fresh_build_dir "$1")
  tmp_dirs+=("$tmp")
}

if [ ! -x "$oapi" ]; then
  say "building oapi-codegen $oapi_version with $("$go" version | cut -d' ' -f3)"
  fresh_dir "$(dirname "$oapi")"
  (cd "$tmp" && GOBIN=$tmp "$go" install -ldflags="-s -w" \
    "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@$oapi_version") >&2
  [ "$("$tmp/oapi-codegen" -version 2>&1 | grep -c "$oapi_version")" -ge 1 ] \
    || { say "error: the built oapi-codegen does not say it is $oapi_version"; exit 1; }
  mv -f "$tmp/oapi-codegen" "$oapi"
fi

if [ ! -x "$validate" ]; then
  say "building the OpenAPI validator (kin-openapi $kin_version)"
  fresh_dir "$(dirname "$validate")"
  (cd "$validate_src" && "$go" build -ldflags="-s -w" -o "$tmp/openapi-validate" .) >&2
  mv -f "$tmp/openapi-validate" "$validate"
fi

if [ ! -x "$interop_go" ]; then
  say "downloading and compiling what the generated Go clients import"
  fresh_dir "$(dirname "$interop_go")"
  # Everything the client module needs, checked against its go.sum; then the packages a
  # generated client imports compiled into GOCACHE with the flags the test builds with,
  # so that the test compiles only the client itself (seconds, not minutes).
  (cd "$client_src" && "$go" mod download && "$go" build \
    github.com/oapi-codegen/runtime github.com/oapi-codegen/runtime/types \
    bytes context encoding/json fmt io net/http net/url os strings time) >&2
  # The test runs this `go`: the caches and flags above, and GOPROXY=off, so a module
  # missing from the cache is an error naming it, never a download during a test.
  cat >"$tmp/go" <<EOF
#!/bin/sh
# Written by scripts/build-go-tools.sh: Go with the tool cache's modules and compiled
# packages, for building the interop test's generated clients offline.
export GOPATH='$GOPATH' GOMODCACHE='$GOMODCACHE' GOCACHE='$GOCACHE'
export GOFLAGS='$GOFLAGS' CGO_ENABLED=0 GOTOOLCHAIN=local GOPROXY=off GOSUMDB=off GOENV=off
unset GOBIN GOOS GOARCH GOWORK
exec '$go' "\$@"
EOF
  chmod +x "$tmp/go"
  mv -f "$tmp/go" "$interop_go"
fi

say "ready in $(($(date +%s) - start)) s"
report
