#!/usr/bin/env bash
# Builds the Jaeger tracing backend that the observability tests start, from the Go module
# proxy, into a cache keyed by version:
#   ${SNAP_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snapshot-tools}/jaeger-v1.75.0/jaeger
# Compiling it takes minutes, so a cached binary is used as it is: the script then returns
# at once. Progress goes to stderr; the last line on stdout is the binary's absolute path.
#
# The version is pinned: v1.75.0 is the approved one (its cmd/jaeger is the Jaeger v2 binary,
# built on the OpenTelemetry collector). CGO_ENABLED=0 makes it static, so the same file
# also goes into a `FROM scratch` image.
set -euo pipefail

version=v1.75.0
module=github.com/jaegertracing/jaeger
package=$module/cmd/jaeger

say() { echo "build-jaeger: $*" >&2; }

. "$(dirname "$0")/go-env.sh"
cache_root=$(snap_tool_cache)
dest_dir=$cache_root/jaeger-$version
dest=$dest_dir/jaeger

# The fast path: no lock, no go, nothing else. The binary only ever appears by rename(2)
# of a finished build, so an executable file here is a whole one.
if [ -x "$dest" ]; then
  echo "$dest"
  exit 0
fi

go=$(snap_find_go)
if [ -z "$go" ]; then
  say "error: no 'go' toolchain in PATH or /usr/local/go/bin:"
  say "       Jaeger $version is built from source, with Go 1.24 or newer"
  say "       install Go (https://go.dev/doc/install) or put a prebuilt binary at $dest"
  exit 1
fi

mkdir -p "$dest_dir"
# Two builds at once (the normal and the sanitizer test runs, or two checkouts) would each
# spend minutes on the same binary: the second waits for the first and then finds it.
exec 9>"$dest_dir/.lock"
flock 9
if [ -x "$dest" ]; then
  echo "$dest"
  exit 0
fi

# Go's caches private to the tool cache, a static build with the Go that is here
# (go-env.sh says why).
snap_go_env "$cache_root"
tmp=$(snap_fresh_build_dir "$dest_dir")
trap 'rm -rf "$tmp"' EXIT

say "building $package@$version with $("$go" version | cut -d' ' -f3) (CGO_ENABLED=0); this takes several minutes"
start=$(date +%s)
# Not `go install $package@$version`: Jaeger's go.mod has a replace directive (sarama),
# which `go install pkg@version` refuses. So the module is downloaded (and checked against
# the checksum database) and built as the main module from its own directory, which builds
# exactly the dependency versions of its go.mod and go.sum (-mod=readonly, Go's default:
# nothing there is rewritten). The build writes only to $tmp, so the binary reaches $dest
# by rename alone, whole.
info=$(cd "$tmp" && "$go" mod download -json "$module@$version") || {
  say "error: could not download $module@$version from the Go module proxy:"
  echo "$info" >&2
  exit 1
}
src=$(echo "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
[ -f "$src/go.mod" ] || { say "error: no source directory in: $info"; exit 1; }
# -s -w: no symbol table or DWARF (a test tool, much smaller without them). The -X values
# are what Jaeger's own Makefile sets, so `jaeger version` names what this is.
(cd "$src" && "$go" build -o "$tmp/jaeger" \
  -ldflags="-s -w -X $module/internal/version.latestVersion=$version \
            -X $module/internal/version.commitSHA=module-proxy" \
  ./cmd/jaeger) >&2
"$tmp/jaeger" version >/dev/null 2>&1 || { say "error: the built binary does not run"; exit 1; }
mv -f "$tmp/jaeger" "$dest"
say "built in $(($(date +%s) - start)) s: $dest ($(du -h "$dest" | cut -f1))"
echo "$dest"
