#!/bin/sh
# Entrypoint of the PostgreSQL test image (scripts/docker/build-postgres-image.sh), with
# the official postgres image's contract (docker-library/postgres docker-entrypoint.sh):
#   POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE   the superuser's password (required)
#   POSTGRES_USER (default postgres), POSTGRES_DB (default: POSTGRES_USER), PGDATA
# On first start (no PG_VERSION in PGDATA) it runs initdb, then does the setup on a
# temporary server that listens only on its unix socket, so no client can connect to a
# half-initialised database; then it runs the server on 0.0.0.0:5432.
# Runs as whatever uid the container is given (the data directory is created by it).
set -eu

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
export PGDATA

if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    echo "error: both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are set (but are exclusive)" >&2
    exit 1
  fi
  POSTGRES_PASSWORD=
  IFS= read -r POSTGRES_PASSWORD < "$POSTGRES_PASSWORD_FILE" || [ -n "$POSTGRES_PASSWORD" ]
fi
if [ -z "${POSTGRES_PASSWORD:-}" ]; then
  echo "error: database is uninitialized and superuser password is not specified (POSTGRES_PASSWORD[_FILE])" >&2
  exit 1
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  # initdb reads the password from a file: the secret file itself when there is one.
  pwfile=${POSTGRES_PASSWORD_FILE:-}
  if [ -z "$pwfile" ]; then
    pwfile=/tmp/pwfile.$$
    (umask 077 && printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile")
  fi
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
         --encoding=UTF8 --locale=C -D "$PGDATA" > /dev/null
  [ "$pwfile" = "${POSTGRES_PASSWORD_FILE:-}" ] || rm -f "$pwfile"
  printf '\nhost all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" start > /dev/null
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -v ON_ERROR_STOP=1 -h /var/run/postgresql --username "$POSTGRES_USER" --no-password --dbname postgres \
         -q -c "CREATE DATABASE \"$POSTGRES_DB\"" > /dev/null
  fi
  pg_ctl -D "$PGDATA" -m fast -w stop > /dev/null
  echo "PostgreSQL init process complete; ready for start up."
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql "$@"
