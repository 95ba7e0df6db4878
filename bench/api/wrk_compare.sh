#!/usr/bin/env bash
# Requests/s of a JSON echo through snap::ApiServer vs a bare Beast server doing the same
# echo, both one server thread, same wrk load (keep-alive, loopback), run alternately
# ROUNDS times so both see the same drift of a shared machine. Prints each one's median
# and the median of the per-round ratios snap/bare.
#   bench/api/wrk_compare.sh BUILD_DIR [ROUNDS=5] [SECONDS=5] [CONNECTIONS=32]
set -euo pipefail
build=$1 rounds=${2:-5} seconds=${3:-5} conns=${4:-32}
bin=$build/bench/api/api_echo_server
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
snap_port=$(free_port) bare_port=$(free_port)
mkdir -p "$tmp/out/state"
echo "{\"ports\":{\"apibench.api.port\":$snap_port}}" > "$tmp/out/state/build-state.json"
"$bin" build --out "$tmp/out" --local >/dev/null 2>&1
"$bin" run api --log "$tmp/out/snapshot.snaplog" --secrets-dir "$tmp" 2>"$tmp/snap.log" & pids+=($!)
"$bin" bare "$bare_port" & pids+=($!)
for _ in $(seq 200); do
  if "$bin" health api --log "$tmp/out/snapshot.snaplog" >/dev/null 2>&1 &&
     (exec 3<>"/dev/tcp/127.0.0.1/$bare_port") 2>/dev/null; then break; fi
  sleep 0.05  # waiting for two servers to start, not measuring
done

cat > "$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name":"bench","count":42,"tags":["a","b"]}'
wrk.headers["Content-Type"] = "application/json"
LUA
rps() { wrk -t1 -c"$conns" -d"${seconds}s" -s "$tmp/post.lua" "http://127.0.0.1:$1/echo" |
        awk '/^Requests\/sec/ { print $2 } /Non-2xx/ { print "non-2xx responses" > "/dev/stderr"; exit 1 }'; }
snap=() bare=()
for ((i = 0; i < rounds; i++)); do
  if ((i % 2 == 0)); then snap+=("$(rps "$snap_port")"); bare+=("$(rps "$bare_port")")
  else bare+=("$(rps "$bare_port")"); snap+=("$(rps "$snap_port")"); fi
done
python3 - "${snap[*]}" "${bare[*]}" <<'PY'
import statistics, sys
s = [float(x) for x in sys.argv[1].split()]
b = [float(x) for x in sys.argv[2].split()]
print(f"snap::ApiServer  req/s median {statistics.median(s):9.0f}  runs {' '.join(f'{x:.0f}' for x in s)}")
print(f"bare Beast       req/s median {statistics.median(b):9.0f}  runs {' '.join(f'{x:.0f}' for x in b)}")
r = [x / y for x, y in zip(s, b)]
print(f"snap/bare: median {statistics.median(r):.3f}  (min {min(r):.3f}, max {max(r):.3f}, rounds {len(r)})")
PY
