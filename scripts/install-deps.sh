#!/usr/bin/env bash
# Installs the Debian bookworm packages snapshot builds and tests with. Idempotent: does
# nothing when every package is already there. Needs root (or sudo) only to install.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libboost1.81-dev libboost-json1.81-dev
  capnproto libcapnp-dev libzstd-dev libpqxx-dev libcli11-dev libspdlog-dev libedit-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  postgresql-15 clang libclang-rt-14-dev
  binutils graphviz python3
  prometheus  # promtool: the metrics tests check the exposition with it
  etcd-server libssl-dev  # the Kubernetes manifest test: kube-apiserver's store, and its HTTPS client
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
