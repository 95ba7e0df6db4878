#!/usr/bin/env bash
# Instructions per request of the echo servers under callgrind, the figure a busy shared
# machine does not move: the bare Beast server, snap::ApiServer with tracing off
# (always_off), with 100% sampling exporting to a running Jaeger, and with 100% sampling
# and the collector down (a closed port). Each server runs under
# `valgrind --tool=callgrind` (all its threads, the exporter's included); a small client
# sends WARMUP requests, the counters are zeroed (callgrind_control -z), REQUESTS more
# requests go one after another on one keep-alive connection, and after a pause for the
# exporter's last batch the counters are dumped (callgrind_control -d): instructions per
# request = the dump's total / REQUESTS. Both counts are multiples of the exporter's batch
# (512 spans), so every measured span is exported inside the measurement.
#   bench/api/callgrind_tracing.sh BUILD_DIR [REQUESTS=10240] [OUT_DIR]
# OUT_DIR keeps the dumps (callgrind.VARIANT.out) for callgrind_annotate.
set -euo pipefail
build=$1 requests=${2:-10240} keep=${3:-}
warmup=1024
tmp=$(mktemp -d)
source "$(dirname "$0")/tracing_common.sh"
command -v callgrind_control >/dev/null || { echo "valgrind (callgrind_control) is not installed" >&2; exit 1; }

cat > "$tmp/client.py" <<'PY'
# client.py PORT COUNT: COUNT POST /echo requests, one after another, one keep-alive connection.
import http.client, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
body = b'{"name":"bench","count":42,"tags":["a","b"]}'
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
for _ in range(count):
    c.request("POST", "/echo", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"HTTP {r.status}")
PY

start_jaeger
read -r p_bare p_off p_on p_down closed <<< "$(free_ports 5)"
jaeger_url=http://127.0.0.1:$jaeger_otlp
vg=(valgrind --tool=callgrind --vgdb=yes)

# run_variant NAME PORT: warm up, zero, measure, dump; prints NAME's instructions per request.
run_variant() {
  local name=$1 port=$2 pid=$3 dump
  python3 "$tmp/client.py" "$port" "$warmup"
  sleep 3  # the warm-up's last batch leaves; the counters start from an idle server
  callgrind_control -z "$pid" >/dev/null 2>&1
  python3 "$tmp/client.py" "$port" "$requests"
  sleep 3  # the exporter sends the last full batch
  callgrind_control -d "$pid" >/dev/null 2>&1
  dump=$(ls -t "$tmp/$name.cg."* | grep -v '\.log$' | head -1)
  [[ -n $keep ]] && mkdir -p "$keep" && cp "$dump" "$keep/callgrind.$name.out"
  awk -v n="$requests" -v name="$name" '/^summary:/ { ir = $2 } END { printf "%s %.0f\n", name, ir / n }' "$dump"
}

declare -A ir
start_snap_cg() {  # NAME PORT VARS...
  local name=$1 port=$2; shift 2
  start_snap "$name" "$port" "$@" -- "${vg[@]}" --callgrind-out-file="$tmp/$name.cg.%p"
}
for v in bare off on down; do
  case $v in
    bare)
      "${vg[@]}" --callgrind-out-file="$tmp/bare.cg.%p" "$build/bench/api/api_echo_server" bare "$p_bare" \
        2>"$tmp/bare.log" & snap_pid=$!; pids+=($!)
      wait_port "$p_bare" 300; port=$p_bare ;;
    off) start_snap_cg off "$p_off" OTEL_SERVICE_NAME=echo-off OTEL_TRACES_SAMPLER=always_off \
           OTEL_EXPORTER_OTLP_ENDPOINT="$jaeger_url"; port=$p_off ;;
    on) start_snap_cg on "$p_on" OTEL_SERVICE_NAME=echo-on OTEL_TRACES_SAMPLER=always_on \
          OTEL_EXPORTER_OTLP_ENDPOINT="$jaeger_url"; port=$p_on ;;
    down) start_snap_cg down "$p_down" OTEL_SERVICE_NAME=echo-down OTEL_TRACES_SAMPLER=always_on \
            OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$closed"; port=$p_down ;;
  esac
  read -r _ ir[$v] <<< "$(run_variant "$v" "$port" "$snap_pid")"
  [[ $v == on || $v == down ]] && echo "$v server: snap_trace_spans_dropped_total $(metric "$port" snap_trace_spans_dropped_total)"
  kill "$snap_pid"; wait "$snap_pid" 2>/dev/null || true  # one server under valgrind at a time
done
echo "Jaeger GET /api/services: $(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' \
  "http://127.0.0.1:$jaeger_query/api/services")"
echo "instructions per request ($requests requests after $warmup of warm-up, one connection, all server threads):"
for v in bare off on down; do printf '  %-5s %8d\n' "$v" "${ir[$v]}"; done
python3 - "${ir[bare]}" "${ir[off]}" "${ir[on]}" "${ir[down]}" <<'PY'
import sys
bare, off, on, down = (float(x) for x in sys.argv[1:5])
print(f"  on/off {on / off:.3f} (+{on - off:.0f} per request), down/off {down / off:.3f} (+{down - off:.0f}),"
      f" off/bare {off / bare:.3f} (+{off - bare:.0f})")
PY
