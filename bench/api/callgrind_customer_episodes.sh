#!/usr/bin/env bash
# Instructions per request of the customer example's API server by recording policy, the
# figure a busy shared machine does not move (wrk_customer_episodes.sh measures the same
# servers' throughput): SNAP_RECORD_REQUESTS off, errors and all, each under
# `valgrind --tool=callgrind` (all its threads) against the private PostgreSQL of
# tracing_common.sh, one server at a time. As callgrind_tracing.sh: a small client sends
# WARMUP requests (`GET /api/customer/1`, one keep-alive connection, one after another),
# the counters are zeroed (callgrind_control -z), REQUESTS more are sent and the counters
# dumped (callgrind_control -d): instructions per request = the dump's total / REQUESTS.
# The warm-up fills the in-memory ring (32 episodes), and "all" writes into a directory
# bounded at MAX_BYTES (default 256k, a few hundred episodes), full before the counters
# start: each measured request writes one file and removes the oldest, the steady state of
# a deployment. Tracing is off (always_off) in all three. PostgreSQL's own instructions are
# not counted (another process).
#   bench/api/callgrind_customer_episodes.sh BUILD_DIR [REQUESTS=2048] [OUT_DIR]
# OUT_DIR keeps the dumps (callgrind.VARIANT.out) for callgrind_annotate.
set -euo pipefail
build=$1 requests=${2:-2048} keep=${3:-}
warmup=1024
max_bytes=${MAX_BYTES:-256k}
tmp=$(mktemp -d)
source "$(dirname "$0")/tracing_common.sh"
command -v callgrind_control >/dev/null || { echo "valgrind (callgrind_control) is not installed" >&2; exit 1; }
[[ -x $build/examples/customer ]] || { echo "no $build/examples/customer: build the target customer" >&2; exit 1; }
start_postgres

cat > "$tmp/client.py" <<'PY'
# client.py PORT COUNT: COUNT GET /api/customer/1, one after another, one keep-alive connection.
import http.client, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
for _ in range(count):
    c.request("GET", "/api/customer/1")
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"HTTP {r.status}")
PY

vg=(valgrind --tool=callgrind --vgdb=yes)
read -r p_off p_errors p_all <<< "$(free_ports 3)"
declare -A ir
seeded=0
for v in off errors all; do
  p=p_$v
  start_customer "$v" "${!p}" OTEL_TRACES_SAMPLER=always_off SNAP_RECORD_REQUESTS=$v \
    SNAP_EPISODES="$tmp/episodes-$v" SNAP_EPISODES_MAX_BYTES="$max_bytes" \
    -- "${vg[@]}" --callgrind-out-file="$tmp/$v.cg.%p"
  if ((!seeded)); then
    python3 - "${!p}" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=120)
c.request("POST", "/api/customer", b'{"id":"1","name":"John Doe"}', {"Content-Type": "application/json"})
r = c.getresponse(); r.read()
sys.exit(0 if r.status == 204 else f"POST /api/customer: HTTP {r.status}")
PY
    seeded=1
  fi
  python3 "$tmp/client.py" "${!p}" "$warmup"
  sleep 1
  callgrind_control -z "$snap_pid" >/dev/null 2>&1
  python3 "$tmp/client.py" "${!p}" "$requests"
  callgrind_control -d "$snap_pid" >/dev/null 2>&1
  dump=$(ls -t "$tmp/$v.cg."* | grep -v '\.log$' | head -1)
  [[ -n $keep ]] && mkdir -p "$keep" && cp "$dump" "$keep/callgrind.$v.out"
  ir[$v]=$(awk -v n="$requests" '/^summary:/ { ir = $2 } END { printf "%.0f", ir / n }' "$dump")
  echo "$v server: episodes written $(metric "${!p}" snap_episodes_total 'outcome="written"')," \
    "$(find "$tmp/episodes-$v" -name '*.episode' 2>/dev/null | wc -l) files in its directory"
  kill "$snap_pid"; wait "$snap_pid" 2>/dev/null || true  # one server under valgrind at a time
done
echo "instructions per request ($requests GET /api/customer/1 after $warmup of warm-up, one connection, all server threads):"
for v in off errors all; do printf '  %-6s %8d\n' "$v" "${ir[$v]}"; done
python3 - "${ir[off]}" "${ir[errors]}" "${ir[all]}" <<'PY'
import sys
off, errors, alls = (float(x) for x in sys.argv[1:4])
print(f"  errors/off {errors / off:.3f} (+{errors - off:.0f} per request), all/off {alls / off:.3f} (+{alls - off:.0f})")
PY
