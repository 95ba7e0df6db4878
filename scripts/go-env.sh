# Sourced by the scripts that build test tools from the Go module proxy (build-jaeger.sh,
# build-go-tools.sh, build-kube-apiserver.sh): where the tool cache is, which `go` builds,
# and the environment every such build runs in. Defines functions only; nothing runs on
# sourcing, so a script's fast path (a cached tool) needs neither Go nor a lock.

# The tool cache, absolute (so the paths a script prints are too), created if missing:
#   ${SNAP_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snapshot-tools}
snap_tool_cache() {
  local root=${SNAP_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snapshot-tools}
  mkdir -p "$root"
  (cd "$root" && pwd -P)
}

# The `go` to build with, absolute: the one in PATH, else /usr/local/go/bin/go; empty when
# there is none (the caller says what it needed Go for).
snap_find_go() {
  local go
  go=$(command -v go || true)
  if [ -z "$go" ] && [ -x /usr/local/go/bin/go ]; then go=/usr/local/go/bin/go; fi
  [ -n "$go" ] || return 0
  echo "$(cd "$(dirname "$go")" && pwd -P)/$(basename "$go")"
}

# Exports the build environment, with Go's caches under CACHE_ROOT/go. They are private to
# the tool cache rather than the user's default ones (~/go/pkg/mod, ~/.cache/go-build): a
# build then neither depends on nor fills the GOPATH, caches and GOFLAGS a developer has
# for other Go work (the proxy settings, GOPROXY and friends, stay the user's: they are how
# this machine reaches the proxy); everything downloaded is in one place and goes with
# `rm -rf CACHE_ROOT` (-modcacherw: Go otherwise makes the module cache read-only, and rm
# would fail); and the caches are shared by every tool and version built here, so a new
# pinned version reuses most of the downloads and compiled packages. -trimpath: no build
# paths in the binaries. Extra GOFLAGS (such as -mod=mod) are the arguments after the first.
snap_go_env() {
  local cache_root=$1
  shift
  export GOPATH=$cache_root/go/path
  export GOMODCACHE=$cache_root/go/mod
  export GOCACHE=$cache_root/go/build
  export GOFLAGS="$* -modcacherw -trimpath -buildvcs=false"
  GOFLAGS=${GOFLAGS# }
  export CGO_ENABLED=0
  # Build with the Go that is here, never a toolchain fetched on the fly for a go.mod line.
  export GOTOOLCHAIN=local
  unset GOBIN GOOS GOARCH GOENV GOWORK
}

# A directory for one build beside DEST_DIR, after removing those that earlier builds left.
# A build killed outright (SIGKILL, a lost machine) leaves its temporary directory, never a
# tool; the caller holds the lock, so no other build is running and any such one is stale.
snap_fresh_build_dir() {
  mkdir -p "$1"
  rm -rf "$1"/.build.*
  mktemp -d "$1/.build.XXXXXX"
}
