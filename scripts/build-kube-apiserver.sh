#!/usr/bin/env bash
# Builds kube-apiserver, which the Kubernetes manifest test (tests/deploy) starts, from the
# Go module proxy into the tool cache that scripts/build-jaeger.sh uses, keyed by version:
#   ${SNAP_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snapshot-tools}/kube-apiserver-v1.37.2/kube-apiserver
# From an empty cache this takes about 7 minutes on 2 cores; a cached binary is used as it
# is: the script then returns at once, without Go. Progress goes to stderr; the last line
# on stdout is the binary's absolute path.
#
# The version is pinned (k8s.io/kubernetes v1.37.2, its staging modules at v0.37.2).
set -euo pipefail

version=v1.37.2
staging_version=v0.${version#v1.}
module=k8s.io/kubernetes

say() { echo "build-kube-apiserver: $*" >&2; }

. "$(dirname "$0")/go-env.sh"
cache_root=$(snap_tool_cache)
dest_dir=$cache_root/kube-apiserver-$version
dest=$dest_dir/kube-apiserver

# The fast path: no lock, no go. The binary only ever appears by rename(2) of a finished
# build, so an executable file here is a whole one.
if [ -x "$dest" ]; then
  echo "$dest"
  exit 0
fi

go=$(snap_find_go)
if [ -z "$go" ]; then
  say "error: no 'go' toolchain in PATH or /usr/local/go/bin:"
  say "       kube-apiserver $version is built from source, with Go 1.26 or newer"
  say "       install Go (https://go.dev/doc/install) or put a prebuilt binary at $dest"
  exit 1
fi

mkdir -p "$dest_dir"
# The normal and the sanitizer test runs (or two checkouts) may start this at once: the
# second waits for the first and then finds the binary.
exec 9>"$dest_dir/.lock"
flock 9
if [ -x "$dest" ]; then
  echo "$dest"
  exit 0
fi

# -mod=mod: the staging modules are laid out below by this script, so go.sum gains their
# lines as the build reads them (in the temporary copy only).
# GOWORK=off: the module has a go.work naming the staging modules as a workspace, and
# -mod=mod is refused in workspace mode.
snap_go_env "$cache_root" -mod=mod
export GOWORK=off
tmp=$(snap_fresh_build_dir "$dest_dir")
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

# Prints the directory of MODULE@VERSION in the module cache, downloading it (checked
# against the checksum database) if it is not there yet.
module_dir() {
  local info dir
  info=$(cd "$tmp" && "$go" mod download -json "$1@$2") || {
    say "error: could not download $1@$2 from the Go module proxy:"
    echo "$info" >&2
    return 1
  }
  dir=$(echo "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -f "$dir/go.mod" ] || { say "error: no source directory in: $info"; return 1; }
  echo "$dir"
}

say "building $module/cmd/kube-apiserver@$version with $("$go" version | cut -d' ' -f3); this takes several minutes"
start=$(date +%s)
src=$tmp/kubernetes
from=$(module_dir "$module" "$version")
cp -r "$from" "$src"
chmod -R u+w "$src"

# The module as the proxy serves it has no staging/ tree, yet its go.mod replaces every
# k8s.io/NAME it is made with by ./staging/src/k8s.io/NAME. Each of those is published as
# its own module at the matching v0 version: it goes where the replace points. The
# sample-* modules are examples that the server does not import and that the proxy does not
# serve; an empty module stands in for each, which is all the module graph asks of them.
staged=0
for name in $(sed -n 's|^[[:space:]]*k8s.io/\([a-z0-9-]*\) => ./staging/src/k8s.io/\1$|\1|p' "$src/go.mod"); do
  into=$src/staging/src/k8s.io/$name
  mkdir -p "$(dirname "$into")"
  if [[ $name == sample-* ]]; then
    mkdir -p "$into"
    echo "module k8s.io/$name" >"$into/go.mod"
    continue
  fi
  from=$(module_dir "k8s.io/$name" "$staging_version")
  cp -r "$from" "$into"
  chmod -R u+w "$into"
  staged=$((staged + 1))
done
[ "$staged" -gt 0 ] || { say "error: no ./staging replace in $module@$version's go.mod"; exit 1; }
say "laid out $staged staging modules at $staging_version"

# -s -w: no symbol table or DWARF (a test tool, much smaller without them). The -X values
# are those Kubernetes' own build sets, so that the server reports the version it is.
version_pkg=k8s.io/component-base/version
minor=${version#v1.}
minor=${minor%%.*}
(cd "$src" && "$go" build -o "$tmp/kube-apiserver" \
  -ldflags="-s -w -X $version_pkg.gitVersion=$version -X $version_pkg.gitMajor=1 \
            -X $version_pkg.gitMinor=$minor -X $version_pkg.gitTreeState=clean" \
  ./cmd/kube-apiserver) >&2
"$tmp/kube-apiserver" --version >&2 || { say "error: the built binary does not run"; exit 1; }
mv -f "$tmp/kube-apiserver" "$dest"
say "built in $(($(date +%s) - start)) s: $dest ($(du -h "$dest" | cut -f1))"
echo "$dest"
