#!/usr/bin/env bash
# Build hygiene: migguard compiles without a warning, as errors, with
#   gcc   -Wall -Wextra (PG's own CFLAGS plus these)
#   clang -Wall -Wextra (PG's CFLAGS are gcc's, so clang gets a set of its own)
# Both leave out -Wunused-parameter and -Wmissing-field-initializers (hook
# signatures and { 0 } initialisers are PostgreSQL's style), clang also
# -Wignored-attributes (PostgreSQL's headers say gnu_printf, which clang does
# not know).  Each build runs in a scratch copy, so the
# installed library of this test run is untouched.
set -euo pipefail
top=${MIGGUARD_WORK:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/scripts/common.sh"
ensure_packages "build-essential postgresql-server-dev-15 clang"

# PostgreSQL's own headers count as system headers: their inline functions'
# -Wextra noise (sign-compare in array.h) is theirs, not migguard's
common="-isystem $("$PG_CONFIG" --includedir-server) -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror"
GCC_COPT="$common"
CLANG_CFLAGS="-O2 -g -fno-strict-aliasing -fwrapv -Wmissing-prototypes -Wpointer-arith \
-Wdeclaration-after-statement -Werror=vla -Wendif-labels -Wformat-security \
$common -Wno-ignored-attributes"

scratch=$(mktemp -d /tmp/migguard-hygiene.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
status=0
build() {
	local name=$1
	shift
	local dir=$scratch/$name
	mkdir -p "$dir"
	tar -C "$top" --exclude=.git --exclude=.demo --exclude=node_modules \
		--exclude='*.o' --exclude='*.bc' --exclude='*.so' -cf - Makefile src sql migguard.control |
		tar -C "$dir" -xf -
	chown -R "$PG_USER" "$scratch"
	if as_pg make -C "$dir" -s PG_CONFIG="$PG_CONFIG" "$@" >"$dir/build.log" 2>&1; then
		echo "hygiene: $name build clean"
	else
		echo "hygiene: $name build FAILED:"
		cat "$dir/build.log"
		status=1
	fi
}
build gcc CC=gcc COPT="$GCC_COPT"
build clang CC=clang CFLAGS="$CLANG_CFLAGS"
exit $status
