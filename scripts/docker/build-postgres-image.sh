#!/bin/sh
# Builds a PostgreSQL 15 image from this machine's installed server binaries, with no
# registry and no network: the binaries the official image's entrypoint contract needs
# (postgres, initdb, pg_ctl, psql, pg_isready, sh), their shared-library closure, the
# server's share files, and scripts/docker/postgres-entrypoint.sh, imported with
# `docker import`. Tests use it in place of the official postgres image.
#
# Usage: scripts/docker/build-postgres-image.sh TAG     (must run as root: the files
# are owned by the image's postgres user, uid 999 as in the official image)
set -eu

tag=${1:?usage: build-postgres-image.sh TAG}
here=$(cd "$(dirname "$0")" && pwd)
pg=${SNAP_POSTGRES_BIN:-/usr/lib/postgresql/15}
share=/usr/share/postgresql/$(basename "$pg")
[ -x "$pg/bin/postgres" ] || { echo "no PostgreSQL server binaries in $pg (apt-get install postgresql-15)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

copy() {  # copy FILE [DEST]: the real file at DEST (default: the same path) in the image
  dest=${2:-$1}
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$1" "$root$dest"
}

for bin in postgres initdb pg_ctl psql pg_isready; do copy "$pg/bin/$bin"; done
# initdb loads these two (PL/pgSQL, the snowball dictionaries); no other extension is shipped.
copy "$pg/lib/plpgsql.so"
copy "$pg/lib/dict_snowball.so"
mkdir -p "$root/usr/share/postgresql"
cp -R -L "$share" "$root/usr/share/postgresql/"
rm -rf "$root$share/man"
copy /usr/share/zoneinfo/UTC
copy /usr/share/zoneinfo/Etc/UTC
copy /bin/dash /bin/sh
copy /bin/rm

# The shared-library closure of every ELF file copied so far, and the loader.
for file in "$root$pg"/bin/* "$root$pg"/lib/*.so "$root/bin/sh" "$root/bin/rm"; do
  ldd "${file#"$root"}" 2>/dev/null || ldd "$file"
done | awk '/=> \//{print $3} /^\t\//{print $1}' | sort -u | while read -r lib; do
  [ -e "$root$lib" ] || copy "$lib"
done

mkdir -p "$root/etc" "$root/tmp" "$root/var/run/postgresql" "$root/var/lib/postgresql/data" "$root/usr/local/bin"
printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\npostgres:x:999:\n' > "$root/etc/group"
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
cp "$here/postgres-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
chmod 0755 "$root/usr/local/bin/docker-entrypoint.sh"
chmod 1777 "$root/tmp"
chown -R 999:999 "$root/var/lib/postgresql" "$root/var/run/postgresql"
chmod 2777 "$root/var/run/postgresql"
# 1777, as in the official image: any uid may create PGDATA inside it.
chmod 1777 "$root/var/lib/postgresql/data"

tar --numeric-owner -C "$root" -c . | docker import \
  --change "ENV PATH=$pg/bin:/usr/local/bin:/usr/bin:/bin" \
  --change 'ENV PGDATA=/var/lib/postgresql/data' \
  --change 'ENV TZ=UTC' \
  --change 'ENV LANG=C' \
  --change 'USER 999:999' \
  --change 'EXPOSE 5432' \
  --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
  - "$tag" > /dev/null
echo "$tag"
