# PgBouncer in transaction pooling mode in front of a migguard cluster.
# Sourced by test/suites/20-tools.sh after lib.sh; defines test_pgbouncer.
# shellcheck shell=bash

pgbouncer_start() {
	local dir=$TOOLS_TMP/pgbouncer
	PB_PORT=$(free_port)
	as_pg mkdir -p "$dir"
	as_pg tee "$dir/userlist.txt" >/dev/null <<<'"postgres" ""'
	# "bouncer" has a pool of 8 server connections, "bouncer1" one, so that
	# two clients of bouncer1 are sure to share a server connection
	as_pg tee "$dir/pgbouncer.ini" >/dev/null <<INI
[databases]
bouncer = host=$MG_SOCK port=$MG_PORT dbname=bouncer pool_size=8
bouncer1 = host=$MG_SOCK port=$MG_PORT dbname=bouncer pool_size=1

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 100
default_pool_size = 8
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
ignore_startup_parameters = extra_float_digits
INI
	as_pg pgbouncer -d "$dir/pgbouncer.ini"
	local i
	for i in $(seq 1 50); do
		pb_psql bouncer -c "SELECT 1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "--- pgbouncer did not start"
	cat "$dir/pgbouncer.log"
	return 1
}

pgbouncer_stop() {
	local pidfile=${TOOLS_TMP:-/nonexistent}/pgbouncer/pgbouncer.pid pid i
	pid=$(cat "$pidfile" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	rm -f "$pidfile"
	return 0
}

# psql through the pooler
pb_psql() {
	local db=$1
	shift
	"$MG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -h 127.0.0.1 -p "$PB_PORT" -U postgres -d "$db" "$@"
}

test_pgbouncer() {
	local out=$TOOLS_TMP/logs/pgbouncer
	mkdir -p "$out"
	mg_psql postgres -c "CREATE DATABASE bouncer"
	mg_psql bouncer -c "CREATE EXTENSION migguard"
	mg_big_table bouncer pb_big
	# the watcher and the cap are what end a wait here, not retries, nor a
	# wait beside the queue
	mg_psql postgres -c "ALTER DATABASE bouncer SET migguard.lock_retries = 0" \
		-c "ALTER DATABASE bouncer SET migguard.lock_timeout = '3s'"
	mg_young_holders bouncer
	if ! pgbouncer_start; then
		not_ok "pgbouncer: the pooler starts"
		return
	fi

	# 1. a rejection arrives through the pooler with its SQLSTATE, detail and hint
	if pb_psql bouncer -c "CREATE INDEX pb_big_qty ON pb_big (qty)" >"$out/reject.txt" 2>&1; then
		not_ok "pgbouncer: CREATE INDEX on a large table is rejected"
	else
		has "$out/reject.txt" "ERROR:  55MG1: CREATE INDEX on large table \"pb_big\"" &&
			has "$out/reject.txt" "Rule: index_not_concurrent." &&
			has "$out/reject.txt" "HINT:  Build it without blocking writes: CREATE INDEX CONCURRENTLY"
		result "pgbouncer: a rejection arrives with SQLSTATE 55MG1, its detail and its hint" $?
	fi

	# 2. the lock_timeout cap holds although the client asks for no timeout
	# (and, in transaction pooling, its SET may land on another server
	# connection altogether): the ALTER gives up while the holder still runs
	mg_holder bouncer pb_big 8
	if pb_psql bouncer -c "SET lock_timeout = 0" -c "ALTER TABLE pb_big ADD COLUMN capped int" >"$out/cap.txt" 2>&1; then
		not_ok "pgbouncer: the lock_timeout cap holds through the pooler (the ALTER succeeded)"
	else
		has "$out/cap.txt" "ERROR:  55P03:" && mg_holder_active bouncer
		result "pgbouncer: the lock_timeout cap holds through the pooler although the client set lock_timeout = 0" $?
	fi
	kill "$HOLDER_PID" 2>/dev/null
	wait "$HOLDER_PID" 2>/dev/null
	mg_psql bouncer -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'" >/dev/null

	# 3. the watcher cancels a DDL sent through the pooler as soon as readers,
	# also coming through the pooler, queue behind it; they go on at once
	local cancels_before
	cancels_before=$(mg_events bouncer cancel)
	mg_holder bouncer pb_big 8
	pb_psql bouncer -c "ALTER TABLE pb_big ADD COLUMN watched int" >"$out/watch.txt" 2>&1 &
	local alter=$!
	mg_wait_waiters bouncer pb_big 1
	if readers "$out/reader" 3 pb_psql bouncer -At -c "SELECT count(*) FROM pb_big" &&
		mg_holder_active bouncer; then
		ok "pgbouncer: readers queued through the pooler complete while the blocking transaction still runs"
	else
		not_ok "pgbouncer: readers queued through the pooler complete while the blocking transaction still runs"
	fi
	! wait "$alter" &&
		has "$out/watch.txt" "ERROR:  55P03: canceling statement because other sessions queued behind its lock"
	result "pgbouncer: the watcher cancels an ALTER sent through the pooler, with 55P03 and the reason" $?
	test "$(mg_events bouncer cancel)" -gt "$cancels_before"
	result "pgbouncer: the cancel is an event" $?
	kill "$HOLDER_PID" 2>/dev/null
	wait "$HOLDER_PID" 2>/dev/null
	mg_psql bouncer -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'" >/dev/null

	# 4. a bypass set by one client (SET LOCAL in its transaction) never
	# applies to the next client on the same server connection
	pb_psql bouncer1 -At -c "BEGIN" -c "SET LOCAL migguard.allow = 'index_not_concurrent'" \
		-c "CREATE INDEX pb_big_qty_a ON pb_big (qty)" -c "SELECT 'pid ' || pg_backend_pid()" \
		-c "COMMIT" >"$out/bypass_a.txt" 2>&1
	has "$out/bypass_a.txt" "pid "
	result "pgbouncer: a client's SET LOCAL migguard.allow lets its CREATE INDEX through" $?
	pb_psql bouncer1 -At -c "SELECT 'pid ' || pg_backend_pid()" \
		-c "CREATE INDEX pb_big_qty_b ON pb_big (qty)" >"$out/bypass_b.txt" 2>&1
	local pid_a pid_b
	pid_a=$(grep '^pid ' "$out/bypass_a.txt")
	pid_b=$(grep '^pid ' "$out/bypass_b.txt")
	[ -n "$pid_a" ] && [ "$pid_a" = "$pid_b" ] &&
		has "$out/bypass_b.txt" "ERROR:  55MG1: CREATE INDEX on large table \"pb_big\""
	result "pgbouncer: the next client on the same server connection ($pid_a) does not inherit the bypass" $?

	pgbouncer_stop
}
