#!/usr/bin/env bash
# What tracing costs the ApiServer: the JSON echo of wrk_compare.sh (wrk -t1, keep-alive,
# loopback, one server I/O thread) against four servers in the same interleaved rounds,
# the order rotating from round to round:
#   bare  the bare Beast server (the baseline)
#   off   snap::ApiServer, OTEL_TRACES_SAMPLER=always_off (the exporter configured, to Jaeger)
#   on    snap::ApiServer, OTEL_TRACES_SAMPLER=always_on, exporting to a running Jaeger
#         (OTLP/HTTP JSON on 127.0.0.1, memory storage; started and stopped here)
#   down  snap::ApiServer, always_on, OTEL_EXPORTER_OTLP_ENDPOINT on a closed port
# Each round reads req/s and p99 from wrk and the server's CPU time (user + system of all
# its threads, the exporter's included, from /proc/PID/stat) per request; Jaeger's CPU per
# "on" request is shown beside (it shares this machine's cores). Prints each variant's
# medians, the medians of the per-round ratios against the issue's targets (100% sampling
# costs <= 5% of throughput: on/off req/s >= 0.95; collector down: down/off p99 <= 1.10),
# then checks that Jaeger holds the "on" server's spans (GET /api/services) and that the
# "down" server counts dropped spans (GET /metrics: snap_trace_spans_dropped_total > 0).
#   bench/api/wrk_tracing.sh BUILD_DIR [ROUNDS=7] [SECONDS=5] [CONNECTIONS=32]
# BUILD_DIR configured with -DSNAP_BUILD_BENCH=ON and api_echo_server built; wrk installed.
set -euo pipefail
build=$1 rounds=${2:-7} seconds=${3:-5} conns=${4:-32}
tmp=$(mktemp -d)
source "$(dirname "$0")/tracing_common.sh"

start_jaeger
read -r p_bare p_off p_on p_down closed <<< "$(free_ports 5)"
jaeger_url=http://127.0.0.1:$jaeger_otlp
start_snap off "$p_off" OTEL_SERVICE_NAME=echo-off OTEL_TRACES_SAMPLER=always_off OTEL_EXPORTER_OTLP_ENDPOINT="$jaeger_url"
pid_off=$snap_pid
start_snap on "$p_on" OTEL_SERVICE_NAME=echo-on OTEL_TRACES_SAMPLER=always_on OTEL_EXPORTER_OTLP_ENDPOINT="$jaeger_url"
pid_on=$snap_pid
start_snap down "$p_down" OTEL_SERVICE_NAME=echo-down OTEL_TRACES_SAMPLER=always_on \
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$closed"
pid_down=$snap_pid
"$build/bench/api/api_echo_server" bare "$p_bare" & pid_bare=$!; pids+=($!)
wait_port "$p_bare"
if accepts "$closed"; then echo "127.0.0.1:$closed was meant to be closed" >&2; exit 1; fi

names=(bare off on down) ports=("$p_bare" "$p_off" "$p_on" "$p_down")
server_pids=("$pid_bare" "$pid_off" "$pid_on" "$pid_down")
# "REQ_PER_S P99_US CPU_US_PER_REQ JAEGER_CPU_US_PER_REQ" of one wrk run against PORT, served by PID.
measure() {
  local before after jbefore jafter
  before=$(ticks "$2") jbefore=$(ticks "$jaeger_pid")
  wrk -t1 -c"$conns" -d"${seconds}s" --latency -s "$tmp/post.lua" "http://127.0.0.1:$1/echo" > "$tmp/wrk.out"
  after=$(ticks "$2") jafter=$(ticks "$jaeger_pid")
  awk -v ticks=$((after - before)) -v jticks=$((jafter - jbefore)) -v hz="$(getconf CLK_TCK)" '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1e6; return v }
    /^ +99%/ { p99 = us($2) } /^Requests\/sec/ { rps = $2 } / requests in / { n = $1 }
    /Non-2xx|Socket errors/ { print "wrk: " $0 > "/dev/stderr"; exit 1 }
    END { print rps, p99, ticks * 1e6 / hz / n, jticks * 1e6 / hz / n }' "$tmp/wrk.out"
}
declare -A results
n=${#names[@]}
echo "$(date -u '+%F %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg): $rounds rounds of ${seconds} s, $conns connections"
for ((i = 0; i < rounds; i++)); do
  for ((k = 0; k < n; k++)); do
    j=$(((i + k) % n))
    results[${names[j]}]+="$(measure "${ports[j]}" "${server_pids[j]}"),"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

PYTHONPATH="$(dirname "$0")" python3 - "${results[bare]}" "${results[off]}" "${results[on]}" "${results[down]}" <<'PY'
import statistics as st, sys
from tracing_ratios import ratio, rounds
bare, off, on, down = (rounds(a) for a in sys.argv[1:5])
def line(name, rs, jaeger=False):
    rps, p99, cpu = ([r[q] for r in rs] for q in range(3))
    extra = f"  Jaeger cpu/req median {st.median(r[3] for r in rs):5.1f} us" if jaeger else ""
    print(f"{name:34s} req/s median {st.median(rps):8.0f}  p99 median {st.median(p99):7.0f} us"
          f"  cpu/req median {st.median(cpu):5.1f} us{extra}  req/s runs {' '.join(f'{x:.0f}' for x in rps)}")
line("bare Beast", bare)
line("snap, tracing off (always_off)", off)
line("snap, 100% sampled, to Jaeger", on, jaeger=True)
line("snap, 100% sampled, collector down", down)
ratio("on/off req/s", on, off, 0, (">=", 0.95))
ratio("down/off p99", down, off, 1, ("<=", 1.10))
ratio("off/bare req/s", off, bare, 0)
ratio("on/off cpu/req", on, off, 2)
ratio("on/off p99", on, off, 1)
ratio("down/off req/s", down, off, 0)
ratio("down/off cpu/req", down, off, 2)
ratio("off/bare cpu/req", off, bare, 2)
PY

# The checks: spans reached Jaeger from "on" (and from no other), "down" counted its losses.
failed=0
sleep 1  # the last batches: a full one leaves at once, a partial one within the 5 s delay
python3 - "$jaeger_query" <<'PY' || failed=1
import json, sys, urllib.request
def get(path):
    return urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}{path}", timeout=10).read().decode()
services = get("/api/services")
print("Jaeger GET /api/services:", services)
ok = json.loads(services)["data"] == ["echo-on"]
print("check:" if ok else "CHECK FAILED:", "Jaeger's services are exactly the \"on\" server's (echo-on)")
d = json.loads(get("/api/traces?service=echo-on&limit=1"))["data"]
if d:
    s = d[0]["spans"][0]
    tags = ", ".join(f"{t['key']}={t['value']}" for t in s["tags"] if t["key"].startswith("http."))
    print(f"Jaeger, one trace of echo-on: {len(d[0]['spans'])} span(s), \"{s['operationName']}\", {tags}")
sys.exit(0 if ok else 1)
PY
for v in on down off; do
  p=p_$v
  echo "$v server: POST /echo answered $(metric "${!p}" snap_http_server_requests_total 'route="POST /echo"')," \
    "snap_trace_spans_dropped_total $(metric "${!p}" snap_trace_spans_dropped_total)"
done
check_dropped "$p_down" || failed=1
for v in on down off; do  # the servers' own once-a-minute lines about lost spans
  grep "snap: tracing" "$tmp/$v.log" | tail -2 | sed "s/^/$v server stderr: /" || true
done
exit $failed
