# Sourced by the benchmarks: a throwaway cluster in a temporary directory,
# run by the postgres OS user, listening on a Unix socket only.
#
# Before sourcing: PORT.  After: BIN, WORK, PSQL (an array), and
# bench_start PRELOAD, which (re)starts the server with that
# shared_preload_libraries.  Extra postgresql.conf lines: BENCH_CONF.

BIN=${PGBIN:-/usr/lib/postgresql/15/bin}

WORK=$(mktemp -d /tmp/migguard-bench.XXXXXX)
trap '"$BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

"$BIN/initdb" -D "$WORK/data" -A trust >/dev/null
cat >>"$WORK/data/postgresql.conf" <<CONF
port = $PORT
unix_socket_directories = '$WORK'
listen_addresses = ''
autovacuum = off
${BENCH_CONF:-}
CONF

PSQL=("$BIN/psql" -X -q -h "$WORK" -p "$PORT" -d postgres)

bench_start()
{
	local preload=$1

	if "$BIN/pg_ctl" -D "$WORK/data" status >/dev/null 2>&1; then
		"$BIN/pg_ctl" -D "$WORK/data" -w stop >/dev/null
	fi
	"$BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w \
		-o "-c shared_preload_libraries='$preload'" start >/dev/null
}
