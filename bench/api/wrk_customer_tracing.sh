#!/usr/bin/env bash
# What tracing costs the customer example's API server (examples/customer), the server the
# issue names: `GET /api/customer/1` for a stored customer, answered from a real PostgreSQL
# (a private server on a Unix socket, started and stopped here), against four servers in
# the same interleaved rounds, the order rotating from round to round:
#   bare  the bare Beast echo server (the same baseline as wrk_tracing.sh: no database)
#   off   the customer API server, OTEL_TRACES_SAMPLER=always_off (exporter configured)
#   on    the same, always_on, exporting to a running Jaeger (a server span and a store
#         span per request)
#   down  always_on, OTEL_EXPORTER_OTLP_ENDPOINT on a closed port
# Each snap server is the customer program built --local into a directory of its own and
# run as the persona `api` with SNAP_POSTGRES naming the private server; all three read
# the one customer the script stores first. wrk -t1, keep-alive, loopback. Prints each
# variant's medians and the medians of the per-round ratios against the issue's targets
# (on/off req/s >= 0.95; down/off p99 <= 1.10), then checks that Jaeger holds the "on"
# server's traces (server span + store span) and that "down" counted dropped spans.
#   bench/api/wrk_customer_tracing.sh BUILD_DIR [ROUNDS=7] [SECONDS=5] [CONNECTIONS=32]
# BUILD_DIR with examples/customer and bench/api/api_echo_server built; wrk and
# PostgreSQL 15 (postgresql-15) installed; run as root it runs the server as `postgres`.
set -euo pipefail
build=$1 rounds=${2:-7} seconds=${3:-5} conns=${4:-32}
tmp=$(mktemp -d)
source "$(dirname "$0")/tracing_common.sh"
[[ -x $build/examples/customer ]] || { echo "no $build/examples/customer: build the target customer" >&2; exit 1; }
start_postgres  # tracing_common.sh: the private PostgreSQL; start_customer runs the server on it

start_jaeger
read -r p_bare p_off p_on p_down closed <<< "$(free_ports 5)"
jaeger_url=http://127.0.0.1:$jaeger_otlp
start_customer off "$p_off" OTEL_SERVICE_NAME=customer-off OTEL_TRACES_SAMPLER=always_off \
  OTEL_EXPORTER_OTLP_ENDPOINT="$jaeger_url"
pid_off=$snap_pid
start_customer on "$p_on" OTEL_SERVICE_NAME=customer-on OTEL_TRACES_SAMPLER=always_on \
  OTEL_EXPORTER_OTLP_ENDPOINT="$jaeger_url"
pid_on=$snap_pid
start_customer down "$p_down" OTEL_SERVICE_NAME=customer-down OTEL_TRACES_SAMPLER=always_on \
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$closed"
pid_down=$snap_pid
"$build/bench/api/api_echo_server" bare "$p_bare" & pid_bare=$!; pids+=($!)
wait_port "$p_bare"
if accepts "$closed"; then echo "127.0.0.1:$closed was meant to be closed" >&2; exit 1; fi

# The customer every GET reads (stored through the "off" server: no span of it in Jaeger).
python3 - "$p_off" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
c.request("POST", "/api/customer", b'{"id":"1","name":"John Doe"}', {"Content-Type": "application/json"})
r = c.getresponse(); r.read()
sys.exit(0 if r.status == 204 else f"POST /api/customer: HTTP {r.status}")
PY
cat > "$tmp/get.lua" <<'LUA'
wrk.method = "GET"
LUA

names=(bare off on down) ports=("$p_bare" "$p_off" "$p_on" "$p_down")
server_pids=("$pid_bare" "$pid_off" "$pid_on" "$pid_down")
scripts=(post.lua get.lua get.lua get.lua) paths=(/echo /api/customer/1 /api/customer/1 /api/customer/1)
# "REQ_PER_S P99_US CPU_US_PER_REQ JAEGER_CPU_US_PER_REQ POSTGRES_CPU_US_PER_REQ" of one
# wrk run: port, server pid, lua script, path. PostgreSQL's CPU is all its processes'.
measure() {
  local before after jbefore jafter pbefore pafter
  before=$(ticks "$2") jbefore=$(ticks "$jaeger_pid") pbefore=$(pg_ticks)
  wrk -t1 -c"$conns" -d"${seconds}s" --latency -s "$tmp/$3" "http://127.0.0.1:$1$4" > "$tmp/wrk.out"
  after=$(ticks "$2") jafter=$(ticks "$jaeger_pid") pafter=$(pg_ticks)
  awk -v ticks=$((after - before)) -v jticks=$((jafter - jbefore)) -v pticks=$((pafter - pbefore)) \
      -v hz="$(getconf CLK_TCK)" '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1e6; return v }
    /^ +99%/ { p99 = us($2) } /^Requests\/sec/ { rps = $2 } / requests in / { n = $1 }
    /Non-2xx|Socket errors/ { print "wrk: " $0 > "/dev/stderr"; exit 1 }
    END { print rps, p99, ticks * 1e6 / hz / n, jticks * 1e6 / hz / n, pticks * 1e6 / hz / n }' "$tmp/wrk.out"
}
declare -A results
n=${#names[@]}
echo "$(date -u '+%F %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg): $rounds rounds of ${seconds} s, $conns connections"
for ((i = 0; i < rounds; i++)); do
  for ((k = 0; k < n; k++)); do
    j=$(((i + k) % n))
    results[${names[j]}]+="$(measure "${ports[j]}" "${server_pids[j]}" "${scripts[j]}" "${paths[j]}"),"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

PYTHONPATH="$(dirname "$0")" python3 - "${results[bare]}" "${results[off]}" "${results[on]}" "${results[down]}" <<'PY'
import statistics as st, sys
from tracing_ratios import ratio, rounds
bare, off, on, down = (rounds(a) for a in sys.argv[1:5])
def line(name, rs):
    rps, p99, cpu, jcpu, pcpu = ([r[q] for r in rs] for q in range(5))
    print(f"{name:40s} req/s {st.median(rps):6.0f}  p99 {st.median(p99):6.0f} us"
          f"  cpu/req: server {st.median(cpu):5.1f} us, Jaeger {st.median(jcpu):5.1f} us, PostgreSQL {st.median(pcpu):5.1f} us"
          f"  req/s runs {' '.join(f'{x:.0f}' for x in rps)}")
line("bare Beast (echo, no database)", bare)
line("customer, tracing off (always_off)", off)
line("customer, 100% sampled, to Jaeger", on)
line("customer, 100% sampled, collector down", down)
ratio("on/off req/s", on, off, 0, (">=", 0.95))
ratio("down/off p99", down, off, 1, ("<=", 1.10))
ratio("on/off cpu/req", on, off, 2)
ratio("on/off p99", on, off, 1)
ratio("down/off req/s", down, off, 0)
ratio("off/bare req/s", off, bare, 0)
PY

failed=0
sleep 1  # the last batches: a full one leaves at once, a partial one within the 5 s delay
python3 - "$jaeger_query" <<'PY' || failed=1
import json, sys, urllib.request
def get(path):
    return urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}{path}", timeout=10).read().decode()
services = json.loads(get("/api/services"))["data"]
ok = services == ["customer-on"]
print("check:" if ok else "CHECK FAILED:", f"Jaeger's services {services} are exactly the \"on\" server's")
d = json.loads(get("/api/traces?service=customer-on&limit=1"))["data"]
if d:
    print("Jaeger, one trace of customer-on:", ", ".join(sorted(s["operationName"] for s in d[0]["spans"])))
    ok = ok and len(d[0]["spans"]) == 2
sys.exit(0 if ok else 1)
PY
for v in on down off; do
  p=p_$v
  echo "$v server: GET /api/customer/1 answered $(metric "${!p}" snap_http_server_requests_total 'route="GET /api/customer/{id}"')," \
    "snap_trace_spans_dropped_total $(metric "${!p}" snap_trace_spans_dropped_total)"
done
check_dropped "$p_down" || failed=1
exit $failed
