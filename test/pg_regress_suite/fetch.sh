#!/usr/bin/env bash
# Fetch (once) PostgreSQL 15's regression suite from Debian's source package
# and build its helper libraries (regress.so, refint.so, autoinc.so) with a
# small PGXS Makefile.  Everything lands in a cache OUTSIDE the checkout:
#
#   MG_PGREGRESS_CACHE (default /var/cache/migguard/pg15-regress)
#     src/                 the unpacked source package (postgresql-15-15.x)
#     lib/                 regress.so refint.so autoinc.so, built for PG_CONFIG
#
# Prints the path of the unpacked source.  Run as root (apt-get source needs
# no root, but the cache directory usually does).  Only the version in
# Debian's main archive can be fetched (15.18 while the server is 15.20):
# the runner compares runs on one server with each other, never with the
# suite's expected files, so the minor difference does not matter.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
cache=${MG_PGREGRESS_CACHE:-/var/cache/migguard/pg15-regress}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$cache"

src=$(ls -d "$cache"/src/postgresql-15-*/ 2>/dev/null | head -n 1 || true)
if [ -z "$src" ] || [ ! -f "$src/src/test/regress/parallel_schedule" ]; then
	for p in dpkg-dev xz-utils; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p" >&2
	done
	apt=$cache/apt
	rm -rf "$apt" "$cache/src"
	mkdir -p "$apt/lists/partial" "$cache/src"
	# the same mirror the system's own sources name, main archive only
	mirror=$(grep -rhoE 'https?://[^ ]*debian/?$|https?://[^ ]*/debian( |$)' \
		/etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -n 1 | tr -d ' ' || true)
	mirror=${mirror:-http://deb.debian.org/debian}
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main" \
		>"$apt/sources.list"
	opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=-"
		-o "Dir::State::Lists=$apt/lists" -o "APT::Get::List-Cleanup=0")
	apt-get "${opts[@]}" update -q >&2
	(cd "$cache/src" && apt-get "${opts[@]}" source -q postgresql-15 >&2)
	chmod -R a+rX "$cache/src"
	src=$(ls -d "$cache"/src/postgresql-15-*/ | head -n 1)
fi
src=${src%/}

# The helper libraries, rebuilt when the server's pg_config changes.
lib=$cache/lib
stamp="$PG_CONFIG $($PG_CONFIG --version)"
if [ ! -f "$lib/regress.so" ] || [ "$(cat "$lib/stamp" 2>/dev/null)" != "$stamp" ]; then
	rm -rf "$lib"
	mkdir -p "$lib"
	cp "$src/src/test/regress/regress.c" "$src/contrib/spi/refint.c" \
		"$src/contrib/spi/autoinc.c" "$here/Makefile.regress" "$lib/"
	make -s -C "$lib" -f Makefile.regress PG_CONFIG="$PG_CONFIG" >&2
	echo "$stamp" >"$lib/stamp"
	chmod -R a+rX "$lib"
fi
echo "$src"
