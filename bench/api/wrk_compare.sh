#!/usr/bin/env bash
# Requests/s, p99 latency and server CPU time per request (user + system, from
# /proc/PID/stat: what a busy shared machine does not distort) of a JSON echo through
# snap::ApiServer vs a bare Beast server doing the same echo, both one I/O thread, same
# wrk load (keep-alive, loopback), run alternately ROUNDS times so both see the same
# drift of a shared machine. With
# BASE_BUILD_DIR (another build, e.g. of main), its snap::ApiServer runs in the same
# rounds as "base"; the order of the servers rotates from round to round. Prints each
# one's medians and the medians of the per-round ratios.
#   bench/api/wrk_compare.sh BUILD_DIR [ROUNDS=5] [SECONDS=5] [CONNECTIONS=32] [BASE_BUILD_DIR]
set -euo pipefail
build=$1 rounds=${2:-5} seconds=${3:-5} conns=${4:-32} base=${5:-}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# start_snap NAME BUILD_DIR PORT: builds the echo program for local processes and runs its persona.
start_snap() {
  local out="$tmp/$1" bin="$2/bench/api/api_echo_server"
  mkdir -p "$out/state"
  echo "{\"ports\":{\"apibench.api.port\":$3}}" > "$out/state/build-state.json"
  "$bin" build --out "$out" --local >/dev/null 2>&1
  "$bin" run api --log "$out/snapshot.snaplog" --secrets-dir "$tmp" 2>"$tmp/$1.log" & pids+=($!)
  for _ in $(seq 200); do
    "$bin" health api --log "$out/snapshot.snaplog" >/dev/null 2>&1 && return
    sleep 0.05  # waiting for the server to start, not measuring
  done
  echo "$1 did not start" >&2; exit 1
}
names=(snap bare) ports=("$(free_port)" "$(free_port)")
start_snap snap "$build" "${ports[0]}"; server_pids=("${pids[-1]}")
"$build/bench/api/api_echo_server" bare "${ports[1]}" & pids+=($!); server_pids+=($!)
if [[ -n $base ]]; then
  names+=(base); ports+=("$(free_port)"); start_snap base "$base" "${ports[2]}"; server_pids+=("${pids[-1]}")
fi
for _ in $(seq 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/${ports[1]}") 2>/dev/null && break
  sleep 0.05
done

cat > "$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name":"bench","count":42,"tags":["a","b"]}'
wrk.headers["Content-Type"] = "application/json"
LUA
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# "REQ_PER_S P99_US CPU_US_PER_REQ" of one wrk run against PORT, served by PID.
measure() {
  local before after
  before=$(cpu_ticks "$2")
  wrk -t1 -c"$conns" -d"${seconds}s" --latency -s "$tmp/post.lua" "http://127.0.0.1:$1/echo" > "$tmp/wrk.out"
  after=$(cpu_ticks "$2")
  awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1e6; return v }
    /^ +99%/ { p99 = us($2) } /^Requests\/sec/ { rps = $2 } / requests in / { n = $1 }
    /Non-2xx/ { print "non-2xx responses" > "/dev/stderr"; exit 1 }
    END { print rps, p99, ticks * 1e6 / hz / n }' "$tmp/wrk.out"
}
n=${#names[@]}
declare -A results
for ((i = 0; i < rounds; i++)); do
  for ((k = 0; k < n; k++)); do
    j=$(((i + k) % n))
    results[${names[j]}]+="$(measure "${ports[j]}" "${server_pids[j]}"),"
  done
done
python3 - "${results[snap]}" "${results[bare]}" "${results[base]:-}" <<'PY'
import statistics, sys
def parse(arg):
    return [tuple(float(v) for v in r.split()) for r in arg.split(",") if r]
snap, bare, base = parse(sys.argv[1]), parse(sys.argv[2]), parse(sys.argv[3])
def line(name, rs):
    rps = [r[0] for r in rs]; p99 = [r[1] for r in rs]; cpu = [r[2] for r in rs]
    print(f"{name:24s} req/s median {statistics.median(rps):8.0f}  p99 median {statistics.median(p99):7.0f} us"
          f"  cpu/req median {statistics.median(cpu):5.1f} us  req/s runs {' '.join(f'{x:.0f}' for x in rps)}")
def ratio(label, a, b, q):
    r = [x[q] / y[q] for x, y in zip(a, b)]
    print(f"{label}: median {statistics.median(r):.3f}  (min {min(r):.3f}, max {max(r):.3f}, rounds {len(r)})")
line("snap::ApiServer", snap)
if base: line("snap::ApiServer (base)", base)
line("bare Beast", bare)
ratio("snap/bare req/s", snap, bare, 0)
if base:
    ratio("base/bare req/s", base, bare, 0)
    ratio("snap/base req/s", snap, base, 0)
    ratio("snap/base p99", snap, base, 1)
    ratio("snap/base cpu/req", snap, base, 2)
ratio("snap/bare p99", snap, bare, 1)
ratio("snap/bare cpu/req", snap, bare, 2)
PY
