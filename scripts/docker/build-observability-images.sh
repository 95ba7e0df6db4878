#!/bin/sh
# Builds the two images `build --observability` deployments run, from this machine's
# binaries, with no registry and no network: Jaeger (the binary scripts/build-jaeger.sh
# built) and Prometheus (Debian's `prometheus` package), each FROM scratch with its
# shared-library closure, laid out like the official images where a compose file relies
# on it: the entrypoint takes the same arguments, Prometheus runs as nobody and owns
# /prometheus. Extra files (a test's probe) go to / in both, with their closures. Tests use
# them in place of jaegertracing/jaeger and prom/prometheus.
#
# Usage: scripts/docker/build-observability-images.sh JAEGER_BINARY JAEGER_TAG PROMETHEUS_TAG [FILE...]
#   (must run as root: the files are owned by the images' users)
#   $SNAP_PROMETHEUS: the Prometheus binary (default: prometheus on the PATH)
set -eu

jaeger=${1:?usage: build-observability-images.sh JAEGER_BINARY JAEGER_TAG PROMETHEUS_TAG [FILE...]}
jaeger_tag=${2:?missing JAEGER_TAG}
prometheus_tag=${3:?missing PROMETHEUS_TAG}
shift 3
prometheus=${SNAP_PROMETHEUS:-$(command -v prometheus || true)}
[ -x "$jaeger" ] || { echo "no Jaeger binary at $jaeger (scripts/build-jaeger.sh builds it)" >&2; exit 1; }
[ -n "$prometheus" ] && [ -x "$prometheus" ] || { echo "no prometheus binary (apt-get install prometheus)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# copy ROOT FILE DEST: the real file at DEST in ROOT, and the libraries it loads (with
# the loader) at their own paths. A static binary has none.
copy() {
  mkdir -p "$1$(dirname "$3")"
  cp -L "$2" "$1$3"
  ldd "$2" 2>/dev/null | awk '/=> \//{print $3} /^\t\//{print $1}' | sort -u | while read -r lib; do
    [ -e "$1$lib" ] || { mkdir -p "$1$(dirname "$lib")" && cp -L "$lib" "$1$lib"; }
  done
}

# The users, the name service switch, /tmp; then the extra files.
base() {
  mkdir -p "$1/etc" "$1/tmp"
  chmod 1777 "$1/tmp"
  printf 'root:x:0:0:root:/:/nonexistent\nnobody:x:65534:65534:nobody:/nonexistent:/nonexistent\njaeger:x:10001:10001:jaeger:/nonexistent:/nonexistent\n' >"$1/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\njaeger:x:10001:\n' >"$1/etc/group"
  printf 'hosts: files dns\n' >"$1/etc/nsswitch.conf"
  shift
  for file in "$@"; do copy "$root" "$file" "/$(basename "$file")"; done
}

root=$work/jaeger
base "$root" "$@"
copy "$root" "$jaeger" /jaeger
tar --numeric-owner -C "$root" -c . | docker import \
  --change 'USER 10001:10001' \
  --change 'EXPOSE 4318 16686' \
  --change 'ENTRYPOINT ["/jaeger"]' \
  - "$jaeger_tag" >/dev/null

root=$work/prometheus
base "$root" "$@"
copy "$root" "$prometheus" /bin/prometheus
mkdir -p "$root/prometheus" "$root/etc/prometheus"
chown 65534:65534 "$root/prometheus"
tar --numeric-owner -C "$root" -c . | docker import \
  --change 'USER 65534:65534' \
  --change 'WORKDIR /prometheus' \
  --change 'EXPOSE 9090' \
  --change 'ENTRYPOINT ["/bin/prometheus"]' \
  - "$prometheus_tag" >/dev/null
echo "$jaeger_tag $prometheus_tag"
