#!/usr/bin/env bash
# Build PostgreSQL MAJOR from Debian's source package, then build migguard
# against it and run its pg_regress, isolation and TAP suites on throwaway
# servers, as the unprivileged test user.
#
#   test/majors/build-pg.sh MAJOR            build (or reuse) and test
#   test/majors/build-pg.sh MAJOR --pg-only  only build (or reuse) PostgreSQL
#
# Exit status: 0 passed, 1 failed, 2 major not supported here, 3 source
# package not reachable (trixie's postgresql-17 files were missing on the
# mirror when this was written).
#
# Sources: Debian's source packages through a private apt configuration
# (the system's apt configuration is not changed): 13 from bullseye, 17
# from trixie, 18 from sid.  14 and 16 are in no current Debian suite and
# are not reachable this way.  The upstream tarball inside the source
# package (*.orig.tar.*) is built as it is, without Debian's patches.
#
# The build goes to $MG_PG_CACHE/pg-MAJOR (default /var/cache/migguard),
# outside the checkout, and is reused when it is complete (a build writes
# .complete last).  Needs root (packages, the cache); tests run as
# $PG_USER (default postgres).
set -euo pipefail

major=${1:?usage: build-pg.sh MAJOR [--pg-only]}
mode=${2:-test}
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/scripts/common.sh"

cache=${MG_PG_CACHE:-/var/cache/migguard}
prefix=$cache/pg-$major
jobs=${MG_JOBS:-2}

case $major in
13) suite=bullseye ;;
17) suite=trixie ;;
18) suite=sid ;;
15) suite=bookworm ;;
14 | 16)
	echo "PostgreSQL $major: no current Debian suite carries postgresql-$major; not reachable" >&2
	exit 2
	;;
*)
	echo "PostgreSQL $major: unknown major" >&2
	exit 2
	;;
esac

log() { echo "[pg-$major] $*"; }

# ---- PostgreSQL itself --------------------------------------------------

# Like ensure_packages, but waits for apt's locks: other builds and test
# suites may be installing packages at the same time.
install_build_packages() {
	local missing=() p
	for p in build-essential bison flex perl libipc-run-perl bzip2 xz-utils; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing: ${missing[*]}"
	local lock=(-o DPkg::Lock::Timeout=900)
	DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -q "${missing[@]}" >/dev/null 2>&1 || {
		apt-get "${lock[@]}" update -q >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -q "${missing[@]}"
	}
}

fetch_source() {
	local dir=$1
	local mirror
	# the mirror the system already uses (deb822 or one-line format)
	mirror=$(sed -n 's/^URIs: *\([^ ]*debian\)\/\{0,1\}$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
	[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
	mkdir -p "$dir/lists/partial" "$dir/archives/partial" "$dir/src"
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" > "$dir/sources.list"
	local opts=(-o "Dir::Etc::sourcelist=$dir/sources.list" -o "Dir::Etc::sourceparts=-"
		-o "Dir::State::Lists=$dir/lists" -o "Dir::Cache::archives=$dir/archives"
		-o "APT::Get::List-Cleanup=0")
	log "apt-get update ($mirror $suite, private lists in $dir)"
	apt-get "${opts[@]}" update -q >"$dir/apt-update.log" 2>&1 || {
		cat "$dir/apt-update.log" >&2
		return 1
	}
	log "apt-get source --download-only postgresql-$major"
	(cd "$dir/src" && apt-get "${opts[@]}" source --download-only -q "postgresql-$major") >"$dir/apt-source.log" 2>&1 || {
		cat "$dir/apt-source.log" >&2
		if grep -q "404 *Not Found\|Unable to find a source package" "$dir/apt-source.log"; then
			echo "[pg-$major] postgresql-$major's source is not reachable in $suite" >&2
			rm -rf "$dir"
			exit 3
		fi
		return 1
	}
}

build_pg() {
	if [ -f "$prefix/.complete" ] && [ -x "$prefix/bin/pg_config" ]; then
		log "reusing $prefix ($(cat "$prefix/.complete"))"
		return 0
	fi
	[ "$(id -u)" -eq 0 ] || { echo "building PostgreSQL needs root (packages, $cache)" >&2; exit 1; }
	install_build_packages
	local t0 work tarball
	t0=$(date +%s)
	mkdir -p "$cache"
	work=$(mktemp -d "$cache/build-$major.XXXXXX")
	fetch_source "$work"
	tarball=$(ls "$work"/src/postgresql-"$major"_*.orig.tar.* | head -n 1)
	log "unpacking $(basename "$tarball")"
	tar -C "$work" -xf "$tarball"
	local srcdir
	srcdir=$(find "$work" -maxdepth 1 -type d -name "postgresql-$major*" | head -n 1)
	rm -rf "$prefix"
	log "configure (prefix $prefix)"
	(cd "$srcdir" && ./configure --without-readline --without-zlib --without-icu \
		--without-llvm --enable-tap-tests --prefix="$prefix") >"$work/configure.log" 2>&1 || {
		tail -n 40 "$work/configure.log" >&2
		return 1
	}
	log "make -j$jobs"
	make -C "$srcdir" -j"$jobs" -s >"$work/make.log" 2>&1 || {
		tail -n 60 "$work/make.log" >&2
		return 1
	}
	log "make install"
	make -C "$srcdir" -s install >"$work/install.log" 2>&1 || {
		tail -n 40 "$work/install.log" >&2
		return 1
	}
	# PGXS installcheck needs pg_regress, pg_isolation_regress and the TAP
	# modules under pgxs; "make install" puts them there only in some
	# versions, so install those directories explicitly (idempotent).
	for d in src/test/regress src/test/isolation src/test/perl; do
		make -C "$srcdir/$d" -s install >>"$work/install.log" 2>&1 || {
			tail -n 40 "$work/install.log" >&2
			return 1
		}
	done
	# (lib/postgresql/pgxs: configure adds "postgresql" to a prefix that
	# does not name it)
	local pgx
	pgx=$(dirname "$(dirname "$("$prefix/bin/pg_config" --pgxs)")")/test
	# Before PG14 the isolation tester is built but not installed (Debian's
	# packages copy it into pgxs themselves): do the same.
	if [ ! -x "$pgx/isolation/pg_isolation_regress" ]; then
		install -d "$pgx/isolation"
		install -m 755 "$srcdir/src/test/isolation/pg_isolation_regress" \
			"$srcdir/src/test/isolation/isolationtester" "$pgx/isolation/"
	fi
	for f in regress/pg_regress isolation/pg_isolation_regress isolation/isolationtester; do
		[ -x "$pgx/$f" ] || { echo "missing after install: $pgx/$f" >&2; return 1; }
	done
	ls "$pgx"/perl/PostgreSQL/Test/Cluster.pm "$pgx"/perl/PostgresNode.pm 2>/dev/null | head -n 1 | grep -q . ||
		{ echo "missing after install: TAP modules under $pgx/perl" >&2; return 1; }
	"$prefix/bin/pg_config" --version >"$prefix/.complete"
	rm -rf "$work"
	log "built $(cat "$prefix/.complete") in $(($(date +%s) - t0)) s"
}

build_pg
[ "$mode" = --pg-only ] && exit 0

# ---- migguard against it ------------------------------------------------

# A private copy of the build, so installing migguard never changes the
# cache (PostgreSQL's installation is relocatable), and a copy of the tree,
# both owned by the test user.
t0=$(date +%s)
work=$(mktemp -d "/tmp/migguard-pg$major.XXXXXX")
chmod 755 "$work"
cp -a "$prefix" "$work/pg"
mkdir "$work/src"
tar -C "$top" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	--exclude=results --exclude=output_iso --exclude=tmp_check --exclude=tmp_regress \
	--exclude=tmp_isolation --exclude=.demo --exclude=node_modules --exclude=log \
	--exclude=regression.diffs --exclude=regression.out -cf - . | tar -C "$work/src" -xf -
chown -R "$PG_USER" "$work"
pgc=$work/pg/bin/pg_config
log "building migguard against $("$pgc" --version) (-Werror)"
as_pg make -C "$work/src" -s PG_CONFIG="$pgc" COPT=-Werror >"$work/build.log" 2>&1 || {
	cat "$work/build.log"
	echo "[pg-$major] migguard does not build (tree in $work)" >&2
	exit 1
}
as_pg make -C "$work/src" -s PG_CONFIG="$pgc" install >>"$work/build.log" 2>&1

# pg_regress and the isolation specs; TAP (PostgreSQL::Test::Cluster
# exists from PG15 on, and as a compatibility module in later 13 and 14
# minors) when the build has it.
tap=0
[ -f "$(dirname "$(dirname "$("$pgc" --pgxs)")")/test/perl/PostgreSQL/Test/Cluster.pm" ] && tap=1
[ "${MG_MAJOR_TAP:-1}" = 0 ] && tap=0
# rules_plan checks every hazard's exact hint and PostgreSQL's own error
# texts, which are written for 15 (other majors word them differently and
# offer other syntax): on other majors the plan is covered by rules and the
# isolation spec, not by that file.
regress_override=()
if [ "$major" != 15 ]; then
	regress_override=("REGRESS=$(cd "$work/src" && ls sql/*.sql | sed -e 's|sql/||' -e 's|\.sql$||' | grep -v -e '^migguard--' -e '^rules_plan$' | tr '\n' ' ')")
fi
log "make installcheck (pg_regress, isolation$([ $tap = 1 ] && echo ", TAP"))"
status=0
if [ $tap = 1 ]; then
	as_pg make -C "$work/src" PG_CONFIG="$pgc" "${regress_override[@]}" installcheck >"$work/installcheck.log" 2>&1 || status=$?
else
	as_pg make -C "$work/src" PG_CONFIG="$pgc" "${regress_override[@]}" TAP_TESTS= installcheck >"$work/installcheck.log" 2>&1 || status=$?
fi
grep -E '^(test |ok |not ok |     [a-z_]+ +\.\.\.|t/|All tests|Result:|Files=)' "$work/installcheck.log" || true
if [ $status -ne 0 ]; then
	for f in "$work/src/regression.diffs" "$work/src/output_iso/regression.diffs"; do
		[ -s "$f" ] && { echo "=== $f"; cat "$f"; }
	done
	for f in "$work"/src/tmp_check/log/regress_log_*; do
		[ -f "$f" ] && grep -q "not ok" "$f" && { echo "=== $f (last 40 lines)"; tail -n 40 "$f"; }
	done
	tail -n 20 "$work/installcheck.log"
	echo "[pg-$major] tests FAILED against $("$pgc" --version) (tree in $work)" >&2
	exit 1
fi
log "passed against $("$pgc" --version) in $(($(date +%s) - t0)) s"
rm -rf "$work"
