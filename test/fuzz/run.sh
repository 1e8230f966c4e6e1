#!/usr/bin/env bash
# migguard's fuzzers on a throwaway preloaded server (PG_CONFIG's binaries,
# migguard installed there), run as PG_USER, listening on a Unix socket only.
#
#   ddl_fuzz.py    DDL sessions + readers + writers + random cancels, first in
#                  migguard.mode = enforce, then in log
#   check_fuzz.py  random, truncated and mutated SQL into check()/explain()
#
# After each phase, with every fuzz session closed:
#   - no "terminated by signal", PANIC or TRAP in the server log
#   - migguard.guarded_ddl is empty
#   - pg_locks holds no lock of a finished session, a prepared transaction
#     or a client session but the checking one
#   - no invalid index is left (after a grace period for the cleanup worker);
#     in log mode, migguard dropped none, and the harness drops those left
#   - migguard.events and guarded_ddl hold valid UTF-8 only
#
#   test/fuzz/run.sh                 short run (~2 minutes: CI)
#   test/fuzz/run.sh --long [SECS]   long run (default 1800 s of DDL fuzzing
#                                    and 600 s of check fuzzing per mode)
#   MG_FUZZ_SEED=N                   reproduce a run (the seed is printed)
#   MG_FUZZ_DDL_SECS, MG_FUZZ_CHECK_SECS   other durations of the short run
#   MG_FUZZ_WORK=DIR                 keep the server and logs there
# Exits non-zero when an invariant fails.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PG_USER=${PG_USER:-postgres}
ddl_secs=${MG_FUZZ_DDL_SECS:-30}
check_secs=${MG_FUZZ_CHECK_SECS:-25}
if [ "${1:-}" = "--long" ]; then
	ddl_secs=${2:-1800}
	check_secs=$((ddl_secs / 3))
fi
seed=${MG_FUZZ_SEED:-$(date +%s)}
bindir=$($PG_CONFIG --bindir)
py=/usr/bin/python3

as_pg() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

work=${MG_FUZZ_WORK:-$(mktemp -d /tmp/migguard-fuzz.XXXXXX)}
mkdir -p "$work"
chown "$PG_USER" "$work"
chmod 755 "$work"
data=$work/data
sock=$work/sock
log=$work/server.log
port=$((40000 + $$ % 20000))
as_pg mkdir -p "$sock"
# the scripts run as PG_USER: give them a copy it can read
as_pg mkdir -p "$work/bin"
cp "$here"/*.py "$work/bin/"
chmod 755 "$work/bin" && chmod 644 "$work/bin"/*.py

stop_server() {
	as_pg "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}
trap stop_server EXIT

rm -rf "$data"
as_pg "$bindir/initdb" -D "$data" -A trust -U postgres --no-sync -E UTF8 --no-locale >"$work/initdb.log"
cat <<EOF | as_pg tee -a "$data/postgresql.conf" >/dev/null
port = $port
listen_addresses = ''
unix_socket_directories = '$sock'
fsync = off
max_connections = 50
shared_preload_libraries = 'migguard'
migguard.mode = enforce
# small, so the rules fire and the guard wraps the fuzzers' DDL
migguard.large_table_size = '512kB'
migguard.lock_timeout = '2s'
migguard.cic_wait_timeout = '5s'
migguard.lock_retries = 2
migguard.retry_delay = '50ms'
migguard.terminate_idle_blockers = on
migguard.idle_blocker_age = '1s'
log_line_prefix = '%m [%p] %q%a '
# where an internal error comes from
log_error_verbosity = verbose
autovacuum_naptime = 1
EOF
as_pg "$bindir/pg_ctl" -D "$data" -l "$log" -w start >/dev/null
psql() { as_pg "$bindir/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres "$@"; }
psql -d postgres -c "CREATE DATABASE fuzz"
psql -d fuzz -c "CREATE EXTENSION migguard"
echo "fuzz: server in $work (port $port), seed $seed, ddl ${ddl_secs}s per mode, check ${check_secs}s"

failed=0
# What must be left of the fuzz sessions once they have closed: nothing.
# Each: a description, the columns to show, the FROM ... WHERE of the rows.
# Locks: those of sessions that are gone, of prepared transactions, or of
# any client session but the checking one.
leftovers=(
	"migguard.guarded_ddl not empty|*|migguard.guarded_ddl"
	"locks left in pg_locks|l.locktype, l.relation::regclass, l.mode, l.granted, l.pid, a.application_name, a.state, left(a.query, 80)|pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a USING (pid) WHERE l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid() AND (a.pid IS NULL OR a.backend_type = 'client backend')"
	"invalid indexes left behind|indexrelid::regclass, indrelid::regclass|pg_catalog.pg_index WHERE NOT indisvalid"
)
invalid_indexes="pg_catalog.pg_index WHERE NOT indisvalid"
# Log mode observes and changes nothing: a concurrent build that PostgreSQL
# itself ends (a deadlock, the fuzzer's cancel) leaves its invalid index,
# which migguard only records.  There the check is that migguard dropped
# nothing during the phase; the harness then drops what is left, so the
# next phase starts clean.
log_mode_indexes() {
	local phase=$1 since=$2 n
	if tail -n +"$since" "$log" | grep -n 'migguard dropped invalid index'; then
		echo "FAIL ($phase): migguard dropped an index in log mode"
		failed=1
	fi
	n=$(psql -d fuzz -c "SELECT count(*) FROM $invalid_indexes")
	[ "$n" -eq 0 ] && return
	echo "fuzz $phase: $n invalid index(es) failed builds left, as in log mode they stay:"
	psql -d fuzz -c "SELECT indexrelid::regclass FROM $invalid_indexes" | while read -r idx; do
		echo "  $idx (dropped by the harness)"
		psql -d fuzz -c "SET migguard.mode = off" -c "DROP INDEX IF EXISTS $idx" >/dev/null
	done
}
invariants() {
	local phase=$1 i n what cols from total
	# the cleanup worker may still be dropping an index, a backend may still
	# be exiting: give them time
	for i in $(seq 1 30); do
		total=0
		for entry in "${leftovers[@]}"; do
			IFS='|' read -r what cols from <<<"$entry"
			n=$(psql -d fuzz -c "SELECT count(*) FROM $from")
			total=$((total + n))
		done
		[ "$total" -eq 0 ] && break
		sleep 1
	done
	if grep -nE 'terminated by signal|PANIC|TRAP:|was terminated by' "$log"; then
		echo "FAIL ($phase): a server process crashed (log: $log)"
		failed=1
	fi
	for entry in "${leftovers[@]}"; do
		IFS='|' read -r what cols from <<<"$entry"
		n=$(psql -d fuzz -c "SELECT count(*) FROM $from")
		if [ "$n" -ne 0 ]; then
			echo "FAIL ($phase): $what:"
			psql -d fuzz -c "SELECT $cols FROM $from"
			failed=1
		fi
	done
	# text migguard keeps in shared memory is cut on character boundaries:
	# the server's own conversion check rejects invalid UTF-8
	for view in events guarded_ddl; do
		if ! out=$(psql -d fuzz -c "SELECT count(*) FROM migguard.$view v
				WHERE pg_catalog.convert_from(pg_catalog.convert_to(v::text, 'UTF8'), 'UTF8') IS NULL" 2>&1); then
			echo "FAIL ($phase): migguard.$view holds text that is not valid UTF-8: $out"
			failed=1
		fi
	done
	echo "fuzz $phase: invariants checked ($(grep -c 'migguard' "$log" || true) migguard log lines so far)"
}

for mode in enforce log; do
	psql -d postgres -c "ALTER SYSTEM SET migguard.mode = $mode" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 1
	status=0
	since=$(($(wc -l <"$log") + 1))
	as_pg "$py" "$work/bin/ddl_fuzz.py" --host "$sock" --port "$port" --dbname fuzz \
		--seconds "$ddl_secs" --seed "$seed" >"$work/ddl_$mode.json" 2>"$work/ddl_$mode.err" || status=$?
	echo "ddl fuzz ($mode): $(cat "$work/ddl_$mode.json")"
	if [ "$status" -ne 0 ]; then
		echo "FAIL: ddl fuzz ($mode) exited $status"
		tail -n 30 "$work/ddl_$mode.err"
		failed=1
	fi
	grep -m 5 'internal error' "$work/ddl_$mode.err" || true
	[ "$mode" = log ] && log_mode_indexes "ddl/$mode" "$since"
	invariants "ddl/$mode"
done

corpus=$(ls -d /var/cache/migguard/pg15-regress/src/postgresql-15-*/src/test/regress/sql 2>/dev/null | head -n 1 || true)
status=0
as_pg "$py" "$work/bin/check_fuzz.py" --host "$sock" --port "$port" --dbname fuzz \
	--seconds "$check_secs" --seed "$seed" ${corpus:+--corpus "$corpus"} \
	--reproducer "$work/check_fuzz_reproducer.sql" >"$work/check.json" 2>"$work/check.err" || status=$?
echo "check fuzz: $(cat "$work/check.json")"
head -n 40 "$work/check.err"
if [ "$status" -ne 0 ]; then
	echo "FAIL: check fuzz exited $status"
	[ -f "$work/check_fuzz_reproducer.sql" ] && cat "$work/check_fuzz_reproducer.sql"
	failed=1
fi
invariants check

if [ "$failed" -ne 0 ]; then
	echo "fuzz: FAILED (seed $seed; files in $work)"
	exit 1
fi
echo "fuzz: passed (seed $seed)"
