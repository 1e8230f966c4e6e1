#!/usr/bin/env bash
# Suite 60-package: build the Debian package postgresql-15-migguard with
# pg_buildext (debian/), install it, and create the extension from the
# installed files on a throwaway server: fresh, and 0.1 updated to the
# current version.
#
# With PG_CONFIG pointing at the system's PostgreSQL (CI) the package is
# really installed (apt-get install ./the.deb) and removed again; with a
# private relocated copy (/work/tools/private-pg) it is unpacked into that
# copy with dpkg -x, so other users of the machine are not disturbed.
# Either way the tree's own build is installed again at the end.
set -euo pipefail

top=${MIGGUARD_WORK:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/scripts/common.sh"

ensure_packages "build-essential dpkg-dev debhelper fakeroot postgresql-server-dev-all postgresql-15"

bindir=$("$PG_CONFIG" --bindir)
system_bindir=/usr/lib/postgresql/15/bin
tmp=$(mktemp -d /tmp/migguard-package.XXXXXX)
chmod 755 "$tmp"
datadir=$tmp/data
sockdir=$tmp/run
installed=""
status=1

cleanup() {
	if [ -f "$datadir/postmaster.pid" ]; then
		as_pg "$bindir/pg_ctl" -D "$datadir" -m immediate stop >/dev/null 2>&1 || true
	fi
	if [ "$installed" = real ]; then
		dpkg -r postgresql-15-migguard >/dev/null || true
	fi
	# put the tree's own build back where the package was
	if [ -n "$installed" ]; then
		build_and_install "$top" >/dev/null || echo "could not reinstall the tree's build" >&2
	fi
	[ "$status" -eq 0 ] && rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "60-package: FAILED: $*" >&2
	exit 1
}

# ---- build the package from a clean copy of the tree ----
src=$tmp/migguard
mkdir -p "$src"
tar -C "$top" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	--exclude=results --exclude=output_iso --exclude=tmp_check --exclude=tmp_regress \
	--exclude=tmp_isolation --exclude=.demo --exclude=node_modules \
	--exclude=regression.diffs --exclude=regression.out -cf - . | tar -C "$src" -xf -
echo "building the package (dpkg-buildpackage -b)"
(cd "$src" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1 || {
	tail -n 40 "$tmp/build.log"
	fail "dpkg-buildpackage failed (log: $tmp/build.log)"
}
version=$(cd "$src" && dpkg-parsechangelog -S Version)
deb=$(ls "$tmp"/postgresql-15-migguard_"$version"_*.deb)
echo "built $(basename "$deb")"

# ---- what the package holds ----
dpkg-deb -c "$deb" >"$tmp/contents"
for f in usr/lib/postgresql/15/lib/migguard.so \
	usr/share/postgresql/15/extension/migguard.control \
	usr/share/postgresql/15/extension/migguard--0.1.sql \
	usr/share/postgresql/15/extension/migguard--0.1--0.2.sql \
	"usr/share/postgresql/15/extension/migguard--$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$src/migguard.control").sql"; do
	grep -q " \./$f\$" "$tmp/contents" || fail "the package lacks $f"
done
dpkg-deb -f "$deb" Package Depends
mkdir "$tmp/unpacked"
dpkg-deb -x "$deb" "$tmp/unpacked"

# ---- install it ----
if [ "$bindir" = "$system_bindir" ]; then
	echo "installing the package (apt-get install)"
	installed=real
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q "$deb" >"$tmp/install.log" 2>&1 || {
		cat "$tmp/install.log"
		fail "the package does not install"
	}
	dpkg -s postgresql-15-migguard | grep -q "^Status: install ok installed" || fail "the package is not installed"
else
	case $bindir in
	*/usr/lib/postgresql/15/bin) root=${bindir%/usr/lib/postgresql/15/bin} ;;
	*) fail "PG_CONFIG $PG_CONFIG is neither the system's PostgreSQL 15 nor a private copy" ;;
	esac
	echo "unpacking the package into the private copy $root (dpkg -x)"
	installed=private
	dpkg-deb -x "$deb" "$root"
fi
cmp "$("$PG_CONFIG" --pkglibdir)/migguard.so" "$tmp/unpacked/usr/lib/postgresql/15/lib/migguard.so" ||
	fail "the installed migguard.so is not the package's"

# ---- a server with the packaged library preloaded ----
mkdir -p "$sockdir"
chown -R "$PG_USER" "$tmp"
as_pg "$bindir/initdb" -D "$datadir" -A trust -U postgres >/dev/null
cat >>"$datadir/postgresql.conf" <<CONF
shared_preload_libraries = 'migguard'
listen_addresses = ''
unix_socket_directories = '$sockdir'
port = 5460
CONF
as_pg "$bindir/pg_ctl" -D "$datadir" -l "$tmp/server.log" -w start >/dev/null
psql_q() {
	as_pg "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p 5460 -U postgres -At "$@"
}

# fresh install of the default version
out=$(psql_q -d postgres <<'SQL'
CREATE EXTENSION migguard;
SELECT preloaded, extension_version, library_version
  FROM migguard.status;
SQL
)
echo "fresh: $out"
default_version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$src/migguard.control")
[ "$out" = "t|$default_version|$default_version" ] || fail "fresh install: got '$out'"

# a rejection from the packaged library, with its SQLSTATE
out=$(psql_q -d postgres <<'SQL' 2>&1 || true
SET migguard.large_table_size = '64kB';
SET migguard.lock_retries = 0;
CREATE TABLE pkg_big AS SELECT g AS id, g AS n FROM generate_series(1, 5000) g;
ANALYZE pkg_big;
\set VERBOSITY verbose
CREATE INDEX ON pkg_big (n);
SQL
)
echo "$out" | grep -q "55MG1" || fail "no rejection with SQLSTATE 55MG1: $out"
echo "$out" | grep -q "index_not_concurrent" || fail "the rejection does not name its rule: $out"
echo "rejection: $(echo "$out" | grep -m1 ERROR)"

# 0.1 from the package's files, updated to the default version
as_pg "$bindir/createdb" -h "$sockdir" -p 5460 -U postgres upgraded
out=$(psql_q -d upgraded <<'SQL'
CREATE EXTENSION migguard VERSION '0.1';
ALTER EXTENSION migguard UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'migguard';
SELECT count(*) > 0 FROM migguard.rules();
SQL
)
echo "updated: $(echo "$out" | tr '\n' ' ')"
[ "$out" = "$default_version"$'\n'"t" ] || fail "0.1 updated: got '$out'"

status=0
echo "60-package: passed"
