#!/bin/sh
# Deployment timings on this machine's Docker engine, images already built:
#   cold  `docker-compose up -d` on a fresh project (new volume: initdb runs) until the
#         customer example's client job has posted and read back its record
#   warm  the same after `down` (volume kept: no initdb)
#   db    baseline, same run: `up -d` of the database service alone until it is healthy
#   dev   baseline, same run: `customer dev --exit-after-jobs` (everything in one process)
# Repetitions are interleaved; the medians are printed, with the image sizes.
#
# Usage: bench/deploy/bench_deploy.sh BUILD_DIR [REPETITIONS]   (BUILD_DIR holds examples/customer)
set -eu

build=$(cd "${1:?usage: bench_deploy.sh BUILD_DIR [REPETITIONS]}" && pwd)
reps=${2:-3}
here=$(cd "$(dirname "$0")/../.." && pwd)
app=$build/examples/customer
unique=$$
work=$(mktemp -d)
export SNAP_IMAGE=snapbench-customer-$unique:app SNAP_POSTGRES_IMAGE=snapbench-postgres-$unique:15
projects=
cleanup() {
  for p in $projects; do docker-compose -p "$p" -f "$work/out/docker-compose.yml" down -v >/dev/null 2>&1 || true; done
  docker rmi -f "$SNAP_IMAGE" "$SNAP_POSTGRES_IMAGE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

(cd "$work" && "$app" build --out "$work/out" 2>/dev/null)
t=$(now); docker build -q -t "$SNAP_IMAGE" "$work/out" >/dev/null 2>&1; app_build=$(since "$t")
t=$(now); "$here/scripts/docker/build-postgres-image.sh" "$SNAP_POSTGRES_IMAGE" >/dev/null; pg_build=$(since "$t")

client_done() {  # project: waits for the client job, checks its output
  c=$(docker-compose -p "$1" -f "$work/out/docker-compose.yml" ps -q example-client)
  [ "$(timeout 180 docker wait "$c")" = 0 ]
  docker logs "$c" 2>&1 | grep -q 'Loaded customer: {"id":"1","name":"John Doe"}'
}

: > "$work/cold"; : > "$work/warm"; : > "$work/db"; : > "$work/dev"
i=0
while [ $i -lt "$reps" ]; do
  i=$((i + 1))
  p=snapbench${unique}r$i
  projects="$projects $p ${p}db"
  compose="docker-compose -p $p -f $work/out/docker-compose.yml"

  t=$(now); $compose up -d >/dev/null 2>&1; client_done "$p"; since "$t" >> "$work/cold"
  $compose down >/dev/null 2>&1
  t=$(now); $compose up -d >/dev/null 2>&1; client_done "$p"; since "$t" >> "$work/warm"
  $compose down -v >/dev/null 2>&1

  t=$(now)
  docker-compose -p "${p}db" -f "$work/out/docker-compose.yml" up -d customer-server-db >/dev/null 2>&1
  c=$(docker-compose -p "${p}db" -f "$work/out/docker-compose.yml" ps -q customer-server-db)
  until [ "$(docker inspect -f '{{.State.Health.Status}}' "$c")" = healthy ]; do sleep 0.2; done
  since "$t" >> "$work/db"
  docker-compose -p "${p}db" -f "$work/out/docker-compose.yml" down -v >/dev/null 2>&1

  t=$(now)
  if (cd "$work" && "$app" dev --exit-after-jobs 2>/dev/null | grep -q 'Loaded customer'); then since "$t" >> "$work/dev"; fi
done

size() { docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.1f MB", $1 / 1000000}'; }
echo "repetitions: $reps (interleaved), medians in seconds"
echo "cold up -> client read back (initdb included): $(median < "$work/cold")"
echo "warm up -> client read back (volume kept):     $(median < "$work/warm")"
echo "baseline: database alone up -> healthy (cold): $(median < "$work/db")"
echo "baseline: customer dev, in one process:        $(median < "$work/dev") ($(wc -l < "$work/dev") of $reps runs succeeded)"
echo "app image build: ${app_build}s, $(size "$SNAP_IMAGE") (binary $(du -m "$work/out/app/customer" | cut -f1) MB)"
echo "PostgreSQL image build: ${pg_build}s, $(size "$SNAP_POSTGRES_IMAGE")"
