#!/usr/bin/env bash
# The main job, end to end, on the customer-server example (examples/customer):
#   1. build snapshot and the example;
#   2. record its startup: `customer build --out build/demo/customer` writes the log, the
#      Dockerfile, docker-compose.yml and each persona's secrets;
#   3. run it in-process (`customer dev`: memory store, direct calls): the client job
#      posts {id: "1", name: "John Doe"} and reads it back;
#   4. where a Docker engine is reachable: build its images locally (no registry), start
#      it with the generated compose file, let the client job run in its own container
#      against the API server and PostgreSQL, run the get-customer command through the
#      generated bin/get-customer script, show the row in PostgreSQL, and remove
#      everything it created.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$(date +%s)
step() { echo; echo "== [$(( $(date +%s) - started ))s] $*"; }

step "installing packages (if missing) and building"
scripts/install-deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "$(nproc)" --target customer snapshot

customer="$root/build/examples/customer"
out="$root/build/demo/customer"

step "customer build --out $out   (records startup; writes the log and the deployment)"
"$customer" build --out "$out"
ls "$out"

step "snapshot inspect --summary   (what the log holds)"
"$root/build/tools/snapshot" inspect --summary "$out/snapshot.snaplog"

step "customer dev --exit-after-jobs   (every persona in this process, the store in memory)"
work=$(mktemp -d)
(cd "$work" && "$customer" dev --exit-after-jobs) | tee "$work/dev.txt"
grep -q 'Loaded customer: {"id":"1","name":"John Doe"}' "$work/dev.txt" || { echo "demo: dev run failed"; exit 1; }

step "customer verify   (does this binary still replay the build's log?)"
"$customer" verify "$out/snapshot.snaplog"

if ! docker info >/dev/null 2>&1 || ! command -v docker-compose >/dev/null; then
  echo
  echo "demo: OK in process. No Docker engine (or docker-compose) here: skipping the deployment."
  rm -rf "$work"
  exit 0
fi

project="snapdemo$$"
app_image="snap-demo-customer:$project"
pg_image="snap-demo-postgres:$project"
compose() { SNAP_IMAGE=$app_image SNAP_POSTGRES_IMAGE=$pg_image docker-compose -p "$project" -f "$out/docker-compose.yml" "$@"; }
cleanup() {
  compose --profile commands down -v --remove-orphans >/dev/null 2>&1 || true
  docker rmi -f "$app_image" "$pg_image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step "docker build $out   (FROM scratch: the binary, its library closure and the log; nothing pulled)"
docker build -q -t "$app_image" "$out"
step "scripts/docker/build-postgres-image.sh   (PostgreSQL from this machine's binaries)"
scripts/docker/build-postgres-image.sh "$pg_image" >/dev/null
docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^(snap-demo-customer|snap-demo-postgres):$project"

step "docker-compose up -d   (PostgreSQL, then the API server once the database is healthy, then the client job)"
compose up -d
client=$(compose ps -q example-client)
status=$(docker wait "$client")
docker logs "$client"
[ "$status" = 0 ] || { echo "demo: the client job exited $status"; compose logs; exit 1; }

step "bin/get-customer 1   (the command persona in its own container, through the API server)"
SNAP_IMAGE=$app_image SNAP_POSTGRES_IMAGE=$pg_image COMPOSE_PROJECT_NAME=$project "$out/bin/get-customer" 1

step "the row in PostgreSQL"
# The store's table is its Id's safe name (customer.customer-server.customers).
compose exec -T customer-server-db psql -h /var/run/postgresql -U snap -d snap \
  -c "SELECT key, value FROM customer_customer_server_customers_0741b80c"

step "docker-compose down -v   (removes the containers, networks, volume and images it made)"
cleanup
trap - EXIT
echo "demo: OK -- built, ran in process, deployed with docker-compose, read the customer back from PostgreSQL ($(( $(date +%s) - started ))s)"
