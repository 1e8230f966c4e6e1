# Shared by test/suites/20-tools.sh and the scripts under test/tools/: a
# throwaway migguard cluster on 127.0.0.1, and the pass/fail bookkeeping.
# shellcheck shell=bash
#
# Needs: PG_CONFIG, PG_USER and as_pg (scripts/common.sh).  Sets TOOLS_TMP
# (a temp dir the test user owns), MG_PORT, MG_BIN, MG_SOCK.

TOOLS_PASSED=0
TOOLS_FAILED=0
TOOLS_FAILURES=""

ok() {
	TOOLS_PASSED=$((TOOLS_PASSED + 1))
	echo "ok: $*"
}

not_ok() {
	TOOLS_FAILED=$((TOOLS_FAILED + 1))
	TOOLS_FAILURES="$TOOLS_FAILURES
  $*"
	echo "not ok: $*"
}

# cond...; result "description" $?
result() {
	if [ "$2" -eq 0 ]; then ok "$1"; else not_ok "$1"; fi
}

# has FILE TEXT: the file contains the text (fixed string); on failure the
# file's end is shown
has() {
	grep -qF -- "$2" "$1" && return 0
	echo "--- $1 does not contain: $2 (last lines:)"
	tail -n 15 "$1" | sed 's/^/    /'
	return 1
}

lacks() {
	grep -qF -- "$2" "$1" || return 0
	echo "--- $1 contains: $2"
	return 1
}

# a TCP port nobody listens on, on 127.0.0.1
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

tools_tmp_init() {
	TOOLS_TMP=$(mktemp -d /tmp/migguard-tools.XXXXXX)
	chmod 755 "$TOOLS_TMP"
	[ "$(id -u)" -eq 0 ] && chown "$PG_USER" "$TOOLS_TMP"
	MG_BIN=$("$PG_CONFIG" --bindir)
	MG_SOCK=$TOOLS_TMP/run
	as_pg mkdir -p "$MG_SOCK" "$TOOLS_TMP/logs"
	chmod 777 "$TOOLS_TMP/logs"
}

# Start a cluster with migguard preloaded, listening on 127.0.0.1 only.
# Extra postgresql.conf lines come on stdin.
mg_cluster_start() {
	MG_PORT=$(free_port)
	as_pg "$MG_BIN/initdb" -D "$TOOLS_TMP/data" -U postgres --auth=trust >/dev/null
	{
		cat <<CONF
port = $MG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$MG_SOCK'
shared_preload_libraries = 'migguard'
max_connections = 60
max_prepared_transactions = 5
autovacuum = off
log_line_prefix = '%m [%p] %a '
CONF
		cat
	} | as_pg tee -a "$TOOLS_TMP/data/postgresql.conf" >/dev/null
	as_pg "$MG_BIN/pg_ctl" -D "$TOOLS_TMP/data" -l "$TOOLS_TMP/logs/server.log" -w start >/dev/null
}

mg_cluster_stop() {
	[ -n "${TOOLS_TMP:-}" ] && [ -f "$TOOLS_TMP/data/postmaster.pid" ] &&
		as_pg "$MG_BIN/pg_ctl" -D "$TOOLS_TMP/data" -m fast -w stop >/dev/null 2>&1
	return 0
}

# psql straight to the server (not through a pooler), as superuser
mg_psql() {
	local db=$1
	shift
	"$MG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$MG_PORT" -U postgres -d "$db" "$@"
}

# the value of one query
mg_val() {
	mg_psql "$1" -At -c "$2"
}

# A table of about 1.5 MB, "large" for the tools cluster, which sets
# migguard.large_table_size = 1MB so that the tables stay quick to build.
mg_big_table() {
	local db=$1 table=$2
	mg_psql "$db" -c "SET migguard.mode = off" \
		-c "CREATE TABLE $table (id bigint PRIMARY KEY, qty int NOT NULL DEFAULT 0, note text)" \
		-c "INSERT INTO $table SELECT g, g % 100, 'note ' || g FROM generate_series(1, 25000) g" \
		-c "ANALYZE $table"
}

# the number of events of one action since the cluster started
mg_events() {
	mg_val "$1" "SELECT count(*) FROM migguard.events WHERE action = '$2'"
}

# mg_young_holders DB: in DB, every lock holder counts as young, so that a
# guarded DDL joins the lock queue at once instead of waiting beside it (the
# transaction guard's migguard.old_holder_age): for checks of what happens
# in the queue
mg_young_holders() {
	mg_psql postgres -c "ALTER DATABASE $1 SET migguard.old_holder_age = '1h'"
}

# wait up to 10 s for a query to return "t"
mg_wait_for() {
	local db=$1 sql=$2 i
	for i in $(seq 1 100); do
		[ "$(mg_val "$db" "$sql")" = t ] && return 0
		sleep 0.1
	done
	echo "--- timed out waiting for: $sql"
	return 1
}

# mg_holder DB TABLE SECONDS: a session (application_name "holder") that
# reads TABLE in a transaction, then keeps running pg_sleep(SECONDS); returns
# once it holds its lock.  Its psql's pid is in HOLDER_PID.
mg_holder() {
	local db=$1 table=$2 secs=$3
	PGAPPNAME=holder mg_psql "$db" -c "BEGIN" -c "SELECT count(*) FROM $table" \
		-c "SELECT pg_sleep($secs)" -c "COMMIT" >/dev/null 2>&1 &
	HOLDER_PID=$!
	mg_wait_for "$db" "SELECT count(*) > 0 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE a.application_name = 'holder' AND l.relation = '$table'::regclass AND l.granted"
}

# the holder is still running its statement
mg_holder_active() {
	[ "$(mg_val "$1" "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'holder' AND state = 'active'")" = 1 ]
}

# wait until at least N sessions wait for a lock on TABLE
mg_wait_waiters() {
	mg_wait_for "$1" "SELECT count(*) >= $3 FROM pg_locks WHERE relation = '$2'::regclass AND NOT granted"
}

# wait until someone holds ACCESS EXCLUSIVE on TABLE
mg_wait_strong_lock() {
	mg_wait_for "$1" "SELECT count(*) > 0 FROM pg_locks WHERE relation = '$2'::regclass
		AND mode = 'AccessExclusiveLock' AND granted"
}

# readers OUT N COMMAND...: N clients run COMMAND at once, output in OUTi.txt;
# fails if one of them did
readers() {
	local out=$1 n=$2 i pids=() status=0
	shift 2
	for i in $(seq 1 "$n"); do
		"$@" >"$out$i.txt" 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || status=1; done
	return $status
}

# behind_strong_lock DB TABLE OUT COMMAND...: start COMMAND (a migration
# run) in the background, pid in MIGRATE_PID; once it holds ACCESS EXCLUSIVE
# on TABLE, 3 readers of TABLE queue behind it; fails if a reader failed
behind_strong_lock() {
	local db=$1 table=$2 out=$3
	shift 3
	"$@" &
	MIGRATE_PID=$!
	mg_wait_strong_lock "$db" "$table"
	readers "$out" 3 mg_psql "$db" -At -c "SELECT count(*) FROM $table"
}

tools_summary() {
	echo "$1: $TOOLS_PASSED passed, $TOOLS_FAILED failed"
	[ "$TOOLS_FAILED" -eq 0 ] && return 0
	echo "failed:$TOOLS_FAILURES"
	return 1
}

# the value of migguard.rule_levels in contrib/migguard-strict.conf
strict_rule_levels() {
	sed -n "s/^migguard.rule_levels = '\(.*\)'$/\1/p" "$work/contrib/migguard-strict.conf"
}
