#!/usr/bin/env bash
# What naming the caller's build costs a round trip (docs/api.md, "Version skew"): the
# instructions snap::ApiServer spends per request without and with a Snap-Build header
# (the server's own build, so the request is served), under callgrind (all server
# threads). One server; a small client sends WARMUP requests, then ROUNDS alternating
# rounds of REQUESTS without and with the header on one keep-alive connection, the
# counters zeroed before and dumped after each (callgrind_control -z / -d).
#   bench/api/callgrind_build_header.sh BUILD_DIR [REQUESTS=5000] [ROUNDS=3]
set -euo pipefail
build=$1 requests=${2:-5000} rounds=${3:-3}
warmup=1000
tmp=$(mktemp -d)
source "$(dirname "$0")/tracing_common.sh"
command -v callgrind_control >/dev/null || { echo "valgrind (callgrind_control) is not installed" >&2; exit 1; }

cat > "$tmp/client.py" <<'PY'
# client.py PORT COUNT [BUILD]: COUNT POST /echo requests on one keep-alive connection,
# naming BUILD in Snap-Build when given.
import http.client, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
headers = {"Content-Type": "application/json"}
if len(sys.argv) > 3: headers["Snap-Build"] = sys.argv[3]
body = b'{"name":"bench","count":42,"tags":["a","b"]}'
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
for _ in range(count):
    c.request("POST", "/echo", body, headers)
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"HTTP {r.status}")
PY

read -r port <<< "$(free_ports 1)"
start_snap echo "$port" -- valgrind --tool=callgrind --vgdb=yes --callgrind-out-file="$tmp/echo.cg.%p"
build_id=
for _ in $(seq 600); do  # its start-up line follows its listening socket (start-up, not measured)
  build_id=$(sed -n 's/.*; build \([0-9a-f]\{12\}\), version skew.*/\1/p' "$tmp/echo.log" | head -1)
  [[ -n $build_id ]] && break
  sleep 0.1
done
[[ -n $build_id ]] || { echo "no build id in the server's log ($tmp/echo.log)" >&2; exit 1; }
python3 "$tmp/client.py" "$port" "$warmup" "$build_id"

# measure [BUILD]: instructions per request of one round.
measure() {
  local dump
  callgrind_control -z "$snap_pid" >/dev/null 2>&1
  python3 "$tmp/client.py" "$port" "$requests" "$@"
  callgrind_control -d "$snap_pid" >/dev/null 2>&1
  dump=$(ls -t "$tmp"/echo.cg.* | head -1)
  awk -v n="$requests" '/^summary:/ { ir = $2 } END { printf "%.0f\n", ir / n }' "$dump"
}
without=() with=()
for _ in $(seq "$rounds"); do
  without+=("$(measure)")
  with+=("$(measure "$build_id")")
done
echo "server instructions per request ($requests requests per round, $rounds rounds, build $build_id):"
echo "  without Snap-Build: ${without[*]}"
echo "  with Snap-Build:    ${with[*]}"
python3 - "${without[*]}" "${with[*]}" <<'PY'
import statistics, sys
a = [float(x) for x in sys.argv[1].split()]
b = [float(x) for x in sys.argv[2].split()]
ratios = [y / x for x, y in zip(a, b)]
print(f"  with/without {statistics.median(ratios):.4f} (+{statistics.median(b) - statistics.median(a):.0f} per request)")
PY
