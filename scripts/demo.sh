#!/usr/bin/env bash
# The main job, end to end: builds snapshot and the `hello` example, records hello's
# startup (`hello build`), inspects the log, then starts each persona in its own
# "container" -- a fresh directory holding only the log and that persona's secrets, with
# an empty environment -- and checks that every one replays the build's startup.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "$(nproc)" --target hello snapshot

hello="$PWD/build/examples/hello"
out="$PWD/build/demo/hello"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== hello build --out $out"
HELLO_REGION=eu-west "$hello" build --out "$out" | tee "$work/build.txt"
build_startup=$(grep '^startup:' "$work/build.txt")

if "$PWD/build/tools/snapshot" --help 2>/dev/null | grep -q inspect; then
  echo "== snapshot inspect --summary $out/snapshot.snaplog"
  "$PWD/build/tools/snapshot" inspect --summary "$out/snapshot.snaplog" || true
fi

# container PERSONA: a directory with only the log and the persona's own secrets.
container() {
  local dir="$work/$1"
  mkdir -p "$dir/secrets"
  cp "$out/snapshot.snaplog" "$dir/"
  for s in "$out"/runtime-secrets/hello_"$1"_*/; do
    cp -a "$s". "$dir/secrets/" 2>/dev/null || true
  done
  echo "$dir"
}

# run_daemon PERSONA READY_TEXT: start it, wait for READY_TEXT, stop it with SIGTERM.
run_daemon() {
  local persona=$1 ready=$2 dir
  dir=$(container "$persona")
  echo "== [$persona] env -i hello run $persona   (in $dir)"
  (cd "$dir" && exec env -i "$hello" run "$persona" --log "$dir/snapshot.snaplog" --secrets-dir "$dir/secrets") \
    >"$dir/out.txt" 2>"$dir/err.txt" &
  local pid=$!
  for _ in $(seq 1 300); do
    grep -q "$ready" "$dir/out.txt" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || { cat "$dir/err.txt"; echo "demo: $persona failed"; exit 1; }
  cat "$dir/out.txt"
  check_startup "$persona" "$dir/out.txt"
}

check_startup() {
  local got
  got=$(grep '^startup:' "$2")
  if [ "$got" != "$build_startup" ]; then
    echo "demo: $1 replayed a different startup:"; echo "  build: $build_startup"; echo "  $1:   $got"; exit 1
  fi
  echo "   -> $1 replayed the build's startup exactly"
}

run_daemon api "api: Hello"
run_daemon cleaner "cleaner: shard"

dir=$(container greet)
echo "== [greet] env -i hello run greet world"
(cd "$dir" && env -i "$hello" run greet world --log "$dir/snapshot.snaplog" --secrets-dir "$dir/secrets") | tee "$dir/out.txt"
check_startup greet "$dir/out.txt"

echo "== hello verify $out/snapshot.snaplog"
"$hello" verify "$out/snapshot.snaplog"
echo "demo: OK -- build, then three personas replaying in separate processes"
