# Shared by wrk_tracing.sh, callgrind_tracing.sh, wrk_customer_tracing.sh and
# wrk_customer_episodes.sh (sourced, not run): a Jaeger on loopback ports with memory
# storage, the echo servers with chosen tracing variables, a private PostgreSQL and the
# customer example's API server, and the cleanup that stops everything they started. The
# sourcing script sets `build` (the build directory) and `tmp` (its scratch directory) first.
#
# Every process started here is in `pids` and is stopped on exit, on Ctrl-C and on TERM;
# then each function in `cleanup_hooks` runs (stop_postgres), then $tmp is removed.
pids=()
cleanup_hooks=()
cleanup() {
  local p h
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # A bound for a process that ignores TERM (valgrind finishing its output, a stuck Jaeger).
  for _ in $(seq 100); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for h in "${cleanup_hooks[@]}"; do "$h"; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# N distinct free ports of 127.0.0.1: all sockets stay bound until all are chosen.
free_ports() {
  python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
for s in ss: s.close()' "$1"
}
accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# wait_port PORT [SECONDS=20]
wait_port() {
  for _ in $(seq $((${2:-20} * 20))); do accepts "$1" && return; sleep 0.05; done  # start-up, not measured
  echo "nothing listens on 127.0.0.1:$1" >&2; exit 1
}

# The Jaeger binary: $SNAP_JAEGER, else the build's SNAP_JAEGER, else scripts/build-jaeger.sh's cache.
jaeger_binary() {
  local j=${SNAP_JAEGER:-}
  [[ -z $j ]] && j=$(sed -n 's/^SNAP_JAEGER:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
  [[ -z $j ]] && j=${SNAP_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snapshot-tools}/jaeger-v1.75.0/jaeger
  [[ -x $j ]] || { echo "no Jaeger binary at $j: run scripts/build-jaeger.sh" >&2; exit 1; }
  echo "$j"
}

# start_jaeger: sets jaeger_pid, jaeger_otlp (OTLP/HTTP port) and jaeger_query (query API
# port). The configuration is tests/support/test_jaeger.cc's: OTLP/HTTP receiver only, no
# processors, memory storage, the query API's HTTP and gRPC listeners and nothing else,
# all on 127.0.0.1, no self-tracing, no metrics port.
start_jaeger() {
  local bin attempt grpc
  bin=$(jaeger_binary)
  for attempt in 1 2 3; do
    read -r jaeger_otlp jaeger_query grpc <<< "$(free_ports 3)"
    cat > "$tmp/jaeger.yaml" <<YAML
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
  jaeger_query:
    storage:
      traces: memstore
    enable_tracing: false
    http:
      endpoint: 127.0.0.1:$jaeger_query
    grpc:
      endpoint: 127.0.0.1:$grpc
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$jaeger_otlp
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
YAML
    (cd "$tmp" && exec "$bin" --config "$tmp/jaeger.yaml" >> "$tmp/jaeger.log" 2>&1) & jaeger_pid=$!; pids+=($!)
    # Ready: the query API answers and the OTLP port accepts (the receiver starts last).
    for _ in $(seq 600); do
      kill -0 "$jaeger_pid" 2>/dev/null || break
      if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
          "http://127.0.0.1:$jaeger_query/api/services" 2>/dev/null && accepts "$jaeger_otlp"; then
        return
      fi
      sleep 0.05
    done
    kill "$jaeger_pid" 2>/dev/null || true
    grep -q "address already in use" "$tmp/jaeger.log" || break  # a port taken meanwhile: retry
  done
  echo "Jaeger did not start; its log:" >&2; cat "$tmp/jaeger.log" >&2; exit 1
}

# start_snap NAME PORT [VAR=VALUE ...] [-- LAUNCHER ...]: builds the echo program for local
# processes into $tmp/NAME and runs its persona `api` on 127.0.0.1:PORT with exactly the
# given tracing variables (inherited OTEL_* ones are removed), optionally under LAUNCHER
# (valgrind). Sets snap_pid (the server process: /proc/PID/stat is its CPU time).
start_snap() {
  local name=$1 port=$2 out="$tmp/$1" bin="$build/bench/api/api_echo_server"
  shift 2
  local vars=() launcher=()
  while (($#)); do
    if [[ $1 == -- ]]; then shift; launcher=("$@"); break; fi
    vars+=("$1"); shift
  done
  mkdir -p "$out/state"
  echo "{\"ports\":{\"apibench.api.port\":$port}}" > "$out/state/build-state.json"
  "$bin" build --out "$out" --local >/dev/null 2>&1
  local unset=() v
  for v in $(env | sed -n 's/^\(OTEL_[A-Z_]*\)=.*/\1/p'); do unset+=(-u "$v"); done
  env "${unset[@]}" "${vars[@]}" "${launcher[@]}" "$bin" run api --log "$out/snapshot.snaplog" \
    --secrets-dir "$tmp" 2>"$tmp/$name.log" & snap_pid=$!; pids+=($!)
  wait_port "$port" $((${#launcher[@]} ? 300 : 20))
}

# start_postgres: a private PostgreSQL 15 for the customer server (/usr/lib/postgresql/15,
# package postgresql-15): trust authentication on a Unix socket in $tmp, no TCP, stopped
# on exit. Run as root, it runs the server as `postgres`. Sets postgres_url (SNAP_POSTGRES's
# form) and pg_data.
pg=/usr/lib/postgresql/15/bin
start_postgres() {
  local as_pg=() port
  if ((EUID == 0)); then as_pg=(runuser -u postgres --); fi
  pg_data=$tmp/pg/data
  mkdir -p "$tmp/pg/socket"
  if ((EUID == 0)); then chmod 0755 "$tmp"; chown -R postgres "$tmp/pg"; fi  # the server user reaches its directory
  read -r port <<< "$(free_ports 1)"
  "${as_pg[@]}" "$pg/initdb" -D "$pg_data" -U snap -A trust --no-sync -E UTF8 --locale=C >/dev/null
  cleanup_hooks+=(stop_postgres)
  "${as_pg[@]}" "$pg/pg_ctl" -D "$pg_data" -l "$tmp/pg/log" -w -t 60 \
    -o "-k $tmp/pg/socket -p $port -c listen_addresses='' -c max_connections=200" start >/dev/null
  postgres_url="host=$tmp/pg/socket port=$port user=snap dbname=postgres"
}
stop_postgres() {
  local as_pg=()
  if ((EUID == 0)); then as_pg=(runuser -u postgres --); fi
  "${as_pg[@]}" "$pg/pg_ctl" -D "$pg_data" -w -t 60 -m fast stop >/dev/null 2>&1 || true
}
# pg_ticks: the CPU time so far of all PostgreSQL's processes, in clock ticks.
pg_ticks() {
  local t=0 p
  for p in $(pgrep -u "$(stat -c %U "$pg_data")" -f "postgres" || true); do
    t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $t
}

# start_customer NAME PORT [VAR=VALUE ...] [-- LAUNCHER ...]: the customer example
# ($build/examples/customer) built --local into $tmp/NAME with its API server on PORT, run
# as `api` against the private PostgreSQL (start_postgres first) with exactly the given
# tracing and recording variables (inherited OTEL_*, SNAP_RECORD_REQUESTS* and
# SNAP_EPISODES* are removed), optionally under LAUNCHER (valgrind). Sets snap_pid; its
# stderr is $tmp/NAME.log.
start_customer() {
  local name=$1 port=$2 out="$tmp/$1" customer="$build/examples/customer"
  shift 2
  local vars=() launcher=()
  while (($#)); do
    if [[ $1 == -- ]]; then shift; launcher=("$@"); break; fi
    vars+=("$1"); shift
  done
  [[ -x $customer ]] || { echo "no $customer: build the target customer" >&2; exit 1; }
  mkdir -p "$out/state"
  echo "{\"ports\":{\"customer.customer-server.api.port\":$port}}" > "$out/state/build-state.json"
  "$customer" build --out "$out" --local >/dev/null 2>&1
  local unset=() v
  for v in $(env | sed -n 's/^\(OTEL_[A-Z_]*\|SNAP_RECORD_REQUESTS[A-Z_]*\|SNAP_EPISODES[A-Z_]*\)=.*/\1/p'); do
    unset+=(-u "$v")
  done
  env "${unset[@]}" SNAP_POSTGRES="$postgres_url" "${vars[@]}" "${launcher[@]}" "$customer" run api \
    --log "$out/snapshot.snaplog" --secrets-dir "$(ls -d "$out"/runtime-secrets/*_api_*)" 2>"$tmp/$name.log" &
  snap_pid=$!; pids+=($!)
  wait_port "$port" $((${#launcher[@]} ? 300 : 20))
}

# metric PORT NAME [LABEL_TEXT]: the sum of NAME's samples on GET /metrics (those whose
# labels contain LABEL_TEXT), or "absent".
metric() {
  python3 - "$@" <<'PY'
import sys, urllib.request
port, name, labels = sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""
text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
vals = [float(l.split()[-1]) for l in text.splitlines()
        if l.rsplit(" ", 1)[0].split("{")[0] == name and labels in l.rsplit(" ", 1)[0]]
print(f"{sum(vals):.0f}" if vals else "absent")
PY
}

# ticks PID: the process's CPU time so far (user + system, all threads), in clock ticks.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# check_dropped PORT: the server on PORT (the "down" one) counted dropped spans; says so.
check_dropped() {
  local dropped
  dropped=$(metric "$1" snap_trace_spans_dropped_total)
  if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)' "$dropped" 2>/dev/null; then
    echo "check: the down server dropped spans (snap_trace_spans_dropped_total $dropped > 0)"
  else
    echo "CHECK FAILED: the down server's snap_trace_spans_dropped_total is $dropped"
    return 1
  fi
}

cat > "$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name":"bench","count":42,"tags":["a","b"]}'
wrk.headers["Content-Type"] = "application/json"
LUA
