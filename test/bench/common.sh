# Sourced by the benchmarks: a throwaway cluster in a temporary directory
# under /tmp, run by the postgres OS user, listening on a Unix socket only,
# removed on exit (also on error or ^C).
#
# Before sourcing: PORT (each script has its own), optionally BENCH_CONF
# (extra postgresql.conf lines).  After: BIN, WORK, PSQL (an array),
# PGBENCH (an array), and
#   bench_start PRELOAD [-c name=value ...]
#                       (re)start the server with that shared_preload_libraries
#   bench_backend_pid   "$(...)" of a psql session's backend, see cpu_ns
#   cpu_ns PID          CPU time of a process so far, in nanoseconds
#   median              of the numbers on stdin, one a line
#   spread              "min-max" of the numbers on stdin
#   smoke               true in BENCH_SMOKE mode (short runs, for the tests)
#
# Environment: PG_CONFIG (default Debian's PostgreSQL 15), PGBIN (overrides
# its bindir), BENCH_OUT (when set, a script also writes its Markdown
# section and data files there; see run.sh), BENCH_SMOKE.
# shellcheck shell=bash

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
BIN=${PGBIN:-$("$PG_CONFIG" --bindir)}

WORK=$(mktemp -d /tmp/migguard-bench.XXXXXX)
chmod 755 "$WORK"
bench_cleanup()
{
	# background clients first (sleepers, pgbench), then the server
	local pids
	set +e
	trap '' INT TERM
	pids=$(jobs -p)
	[ -n "$pids" ] && kill $pids 2>/dev/null
	"$BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

"$BIN/initdb" -D "$WORK/data" -A trust >/dev/null
cat >>"$WORK/data/postgresql.conf" <<CONF
port = $PORT
unix_socket_directories = '$WORK'
listen_addresses = ''
autovacuum = off
${BENCH_CONF:-}
CONF

PSQL=("$BIN/psql" -X -q -h "$WORK" -p "$PORT" -d postgres)
PGBENCH=("$BIN/pgbench" -h "$WORK" -p "$PORT")

bench_start()
{
	local preload=$1
	shift

	if "$BIN/pg_ctl" -D "$WORK/data" status >/dev/null 2>&1; then
		"$BIN/pg_ctl" -D "$WORK/data" -w stop >/dev/null
	fi
	"$BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w \
		-o "-c shared_preload_libraries='$preload' $*" start >/dev/null
}

cpu_ns()
{
	if [ -r "/proc/$1/schedstat" ]; then
		cut -d' ' -f1 "/proc/$1/schedstat"
	else
		awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f\n", ($14 + $15) * 1e9 / hz }' "/proc/$1/stat"
	fi
}

median()
{
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) print "n/a";
		else if (NR % 2) print v[(NR + 1) / 2];
		else printf "%.4g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

spread()
{
	sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%s-%s\n", lo, hi; else print "n/a" }'
}

smoke()
{
	[ -n "${BENCH_SMOKE:-}" ] && [ "${BENCH_SMOKE}" != 0 ]
}

# Where a script writes its report section (nothing when BENCH_OUT is unset).
bench_md()
{
	if [ -n "${BENCH_OUT:-}" ]; then
		cat >"$BENCH_OUT/$1"
	else
		cat >/dev/null
	fi
}
