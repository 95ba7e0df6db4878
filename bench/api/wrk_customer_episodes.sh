#!/usr/bin/env bash
# What recording requests as episodes (docs/episodes.md) costs the customer example's API
# server (examples/customer): `GET /api/customer/1` for a stored customer (or, with LOAD
# post, `POST /api/customer` storing it again), answered from a real PostgreSQL (a private
# server on a Unix socket, started and stopped here: tracing_common.sh), against four
# servers in the same interleaved rounds, the order rotating from round to round:
#   bare    the bare Beast echo server (the baseline of wrk_tracing.sh: no database)
#   off     the customer API server, SNAP_RECORD_REQUESTS=off
#   errors  the same, =errors: every request recorded in memory (a ring of 32), written
#           only when it failed -- none does here
#   all     the same, =all: every request written, one file each, into a directory of
#           $tmp bounded by SNAP_EPISODES_MAX_BYTES (MAX_BYTES, default 32m): once full,
#           each new episode removes the oldest, so the disk holds at most that
# Tracing is off in all three (OTEL_TRACES_SAMPLER=always_off, no exporter), as in the
# "off" server of wrk_customer_tracing.sh. Each snap server is the customer program built
# --local into a directory of its own and run as the persona `api`. wrk -t1, keep-alive,
# loopback. Prints each variant's medians (req/s, p99, server and PostgreSQL CPU per
# request) and the medians of the per-round ratios against the issue's targets
# (errors/off req/s >= 0.97, all/off req/s >= 0.85); then checks what each server wrote
# (snap_episodes_total, the directory's files and bytes against the bound) and that one
# episode of the "all" server replays the same (`customer replay`, exit 0).
#   bench/api/wrk_customer_episodes.sh BUILD_DIR [ROUNDS=7] [SECONDS=5] [CONNECTIONS=32] [LOAD=get|post] [KEEP_DIR]
# KEEP_DIR keeps the "all" server's build log and one GET and one POST episode of it, for
# `episode_bench --log KEEP_DIR/snapshot.snaplog --get KEEP_DIR/get.episode --post KEEP_DIR/post.episode`.
# BUILD_DIR with examples/customer and bench/api/api_echo_server built; wrk and
# PostgreSQL 15 (postgresql-15) installed; run as root it runs the server as `postgres`.
set -euo pipefail
build=$1 rounds=${2:-7} seconds=${3:-5} conns=${4:-32} load=${5:-get} keep=${6:-}
max_bytes=${MAX_BYTES:-32m}
tmp=$(mktemp -d)
source "$(dirname "$0")/tracing_common.sh"
customer="$build/examples/customer"
[[ -x $customer ]] || { echo "no $customer: build the target customer" >&2; exit 1; }
[[ $load == get || $load == post ]] || { echo "LOAD is get or post, not $load" >&2; exit 2; }
start_postgres

read -r p_bare p_off p_errors p_all <<< "$(free_ports 4)"
quiet=(OTEL_TRACES_SAMPLER=always_off)
start_customer off "$p_off" "${quiet[@]}" SNAP_RECORD_REQUESTS=off SNAP_EPISODES="$tmp/episodes-off"
pid_off=$snap_pid
start_customer errors "$p_errors" "${quiet[@]}" SNAP_RECORD_REQUESTS=errors SNAP_EPISODES="$tmp/episodes-errors" \
  SNAP_EPISODES_MAX_BYTES="$max_bytes"
pid_errors=$snap_pid
start_customer all "$p_all" "${quiet[@]}" SNAP_RECORD_REQUESTS=all SNAP_EPISODES="$tmp/episodes-all" \
  SNAP_EPISODES_MAX_BYTES="$max_bytes"
pid_all=$snap_pid
"$build/bench/api/api_echo_server" bare "$p_bare" & pid_bare=$!; pids+=($!)
wait_port "$p_bare"

# post PORT ID NAME: stores a customer (every server shares the one database).
post() {
  python3 - "$@" <<'PY'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
c.request("POST", "/api/customer", json.dumps({"id": sys.argv[2], "name": sys.argv[3]}).encode(),
          {"Content-Type": "application/json"})
r = c.getresponse(); r.read()
sys.exit(0 if r.status == 204 else f"POST /api/customer: HTTP {r.status}")
PY
}
post "$p_off" 1 "John Doe"  # the customer every GET reads
if [[ -n $keep ]]; then
  # One POST and one GET episode to keep, recorded before the load (the bound may remove
  # them during it).
  post "$p_all" 2 "Jane Roe"
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=30).read()' \
    "http://127.0.0.1:$p_all/api/customer/2"
  mkdir -p "$keep"
  cp "$tmp/all/snapshot.snaplog" "$keep/snapshot.snaplog"
  cp "$(ls "$tmp"/episodes-all/*.episode | head -1)" "$keep/post.episode"
  cp "$(ls "$tmp"/episodes-all/*.episode | sed -n 2p)" "$keep/get.episode"
fi
cat > "$tmp/get.lua" <<'LUA'
wrk.method = "GET"
LUA
cat > "$tmp/post-customer.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"id":"1","name":"John Doe"}'
wrk.headers["Content-Type"] = "application/json"
LUA
if [[ $load == get ]]; then snap_script=get.lua snap_path=/api/customer/1 route='GET /api/customer/{id}'
else snap_script=post-customer.lua snap_path=/api/customer route='POST /api/customer'; fi

names=(bare off errors all) ports=("$p_bare" "$p_off" "$p_errors" "$p_all")
server_pids=("$pid_bare" "$pid_off" "$pid_errors" "$pid_all")
scripts=(post.lua "$snap_script" "$snap_script" "$snap_script") paths=(/echo "$snap_path" "$snap_path" "$snap_path")
# "REQ_PER_S P99_US CPU_US_PER_REQ POSTGRES_CPU_US_PER_REQ" of one wrk run: port, server
# pid, lua script, path. PostgreSQL's CPU is all its processes'.
measure() {
  local before after pbefore pafter
  before=$(ticks "$2") pbefore=$(pg_ticks)
  wrk -t1 -c"$conns" -d"${seconds}s" --latency -s "$tmp/$3" "http://127.0.0.1:$1$4" > "$tmp/wrk.out"
  after=$(ticks "$2") pafter=$(pg_ticks)
  awk -v ticks=$((after - before)) -v pticks=$((pafter - pbefore)) -v hz="$(getconf CLK_TCK)" '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1e6; return v }
    /^ +99%/ { p99 = us($2) } /^Requests\/sec/ { rps = $2 } / requests in / { n = $1 }
    /Non-2xx|Socket errors/ { print "wrk: " $0 > "/dev/stderr"; exit 1 }
    END { print rps, p99, ticks * 1e6 / hz / n, pticks * 1e6 / hz / n }' "$tmp/wrk.out"
}
declare -A results
n=${#names[@]}
echo "$(date -u '+%F %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg):" \
  "$rounds rounds of ${seconds} s, $conns connections, load $load ${snap_path}, episodes bounded at $max_bytes"
for ((i = 0; i < rounds; i++)); do
  for ((k = 0; k < n; k++)); do
    j=$(((i + k) % n))
    results[${names[j]}]+="$(measure "${ports[j]}" "${server_pids[j]}" "${scripts[j]}" "${paths[j]}"),"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

PYTHONPATH="$(dirname "$0")" python3 - "$load" "${results[bare]}" "${results[off]}" "${results[errors]}" "${results[all]}" <<'PY'
import statistics as st, sys
from tracing_ratios import ratio, rounds
load = sys.argv[1]
bare, off, errors, alls = (rounds(a) for a in sys.argv[2:6])
def line(name, rs):
    rps, p99, cpu, pcpu = ([r[q] for r in rs] for q in range(4))
    print(f"{name:36s} req/s {st.median(rps):6.0f}  p99 {st.median(p99):6.0f} us"
          f"  cpu/req: server {st.median(cpu):5.1f} us, PostgreSQL {st.median(pcpu):5.1f} us"
          f"  req/s runs {' '.join(f'{x:.0f}' for x in rps)}")
line("bare Beast (echo, no database)", bare)
line(f"customer {load}, recording off", off)
line(f"customer {load}, recording errors", errors)
line(f"customer {load}, recording all", alls)
ratio("errors/off req/s", errors, off, 0, (">=", 0.97))
ratio("all/off req/s", alls, off, 0, (">=", 0.85))
ratio("errors/off cpu/req", errors, off, 2)
ratio("all/off cpu/req", alls, off, 2)
ratio("errors/off p99", errors, off, 1)
ratio("all/off p99", alls, off, 1)
ratio("off/bare req/s", off, bare, 0)
ratio("errors/bare req/s", errors, bare, 0)
ratio("all/bare req/s", alls, bare, 0)
PY

failed=0
for v in off errors all; do
  p=p_$v
  echo "$v server: $route answered $(metric "${!p}" snap_http_server_requests_total "route=\"$route\"")," \
    "episodes written $(metric "${!p}" snap_episodes_total 'outcome="written"')," \
    "dropped $(metric "${!p}" snap_episodes_total 'outcome="dropped"');" \
    "$(find "$tmp/episodes-$v" -name '*.episode' 2>/dev/null | wc -l) files," \
    "$(du -sb "$tmp/episodes-$v" 2>/dev/null | cut -f1 || echo 0) bytes in its directory"
done
python3 - "$tmp/episodes-all" "$max_bytes" <<'PY' || failed=1
import os, sys
d, bound = sys.argv[1], sys.argv[2]
units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
limit = int(bound[:-1]) * units[bound[-1].lower()] if bound[-1].lower() in units else int(bound)
files = [os.path.join(d, f) for f in os.listdir(d) if f.endswith(".episode")]
total = sum(os.path.getsize(f) for f in files)
ok = total <= limit and not [f for f in os.listdir(d) if f.endswith(".partial")]
print("check:" if ok else "CHECK FAILED:", f"the all server's episodes take {total} bytes in {len(files)} files,"
      f" bound {limit} ({total / max(len(files), 1):.0f} bytes per episode)")
sys.exit(0 if ok else 1)
PY
last=$(find "$tmp/episodes-all" -name '*.episode' | sort | tail -1)  # tens of thousands: no glob
start_ns=$(date +%s%N)
if "$customer" replay "$last" --log "$tmp/all/snapshot.snaplog" > "$tmp/replay.out" 2>&1; then
  echo "check: the all server's last episode replays the same (customer replay, exit 0, $((($(date +%s%N) - start_ns) / 1000000)) ms for the process: startup replay included)"
else
  echo "CHECK FAILED: customer replay $(basename "$last"): exit $?"; cat "$tmp/replay.out"; failed=1
fi
exit $failed
