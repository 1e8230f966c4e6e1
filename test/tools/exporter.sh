# Debian's prometheus-postgres-exporter (0.11) with contrib/prometheus/
# queries.yaml against the migguard cluster, as a pg_monitor role, on
# 127.0.0.1.  Sourced by test/suites/20-tools.sh; defines test_exporter.
# shellcheck shell=bash

EXPORTER_PID=

exporter_stop() {
	[ -n "$EXPORTER_PID" ] || return 0
	kill "$EXPORTER_PID" 2>/dev/null
	wait "$EXPORTER_PID" 2>/dev/null
	EXPORTER_PID=
	return 0
}

# scrape MATCH: the value of the first metric line that starts with MATCH
scrape_value() {
	grep -F -- "$1" "$TOOLS_TMP/logs/exporter/metrics.txt" | grep -v '^#' | head -n 1 | awk '{print $NF}'
}

test_exporter() {
	local out=$TOOLS_TMP/logs/exporter port i v
	mkdir -p "$out"
	mg_psql postgres -c "CREATE DATABASE monitor" -c "CREATE ROLE mg_exporter LOGIN IN ROLE pg_monitor"
	mg_psql monitor -c "CREATE EXTENSION migguard"
	mg_big_table monitor mon_big
	mg_psql monitor -c "CREATE TABLE mon_queue (id int)"
	# something to count: a rejection
	mg_psql monitor -c "CREATE INDEX ON mon_big (qty)" >/dev/null 2>&1
	# and a lock queue of plain sessions (nothing migguard guards): one
	# holds SHARE UPDATE EXCLUSIVE, another waits for the same
	PGAPPNAME=mon_holder mg_psql monitor -c "BEGIN" -c "LOCK TABLE mon_queue IN SHARE UPDATE EXCLUSIVE MODE" \
		-c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
	mg_wait_for monitor "SELECT count(*) = 1 FROM pg_locks WHERE relation = 'mon_queue'::regclass AND granted"
	PGAPPNAME=mon_waiter mg_psql monitor -c "BEGIN" -c "LOCK TABLE mon_queue IN SHARE UPDATE EXCLUSIVE MODE" >/dev/null 2>&1 &
	mg_wait_waiters monitor mon_queue 1

	port=$(free_port)
	DATA_SOURCE_NAME="postgresql://mg_exporter@127.0.0.1:$MG_PORT/monitor?sslmode=disable" \
		prometheus-postgres-exporter --web.listen-address="127.0.0.1:$port" \
		--extend.query-path="$work/contrib/prometheus/queries.yaml" >"$out/exporter.log" 2>&1 &
	EXPORTER_PID=$!
	for i in $(seq 1 50); do
		curl -sf "http://127.0.0.1:$port/metrics" >"$out/metrics.txt" 2>/dev/null &&
			grep -q '^migguard_lock_queue_waiting' "$out/metrics.txt" && break
		sleep 0.2
	done

	v=$(scrape_value "migguard_stats_rejected")
	[ -n "$v" ] && awk -v v="$v" 'BEGIN { exit !(v >= 1) }' &&
		[ -n "$(scrape_value migguard_stats_statements_checked)" ] &&
		[ -n "$(scrape_value migguard_stats_cancelled)" ] &&
		grep -q '^# TYPE migguard_stats_rejected counter' "$out/metrics.txt"
	result "exporter: migguard.stats counters are in /metrics (migguard_stats_rejected = ${v:-none})" $?
	v=$(scrape_value "migguard_lock_queue_waiting{")
	[ -n "$v" ] && awk -v v="$v" 'BEGIN { exit !(v >= 1) }' &&
		[ -n "$(scrape_value 'migguard_lock_queue_relation_waiting{mode="ShareUpdateExclusiveLock",relation="public.mon_queue"')" ]
	result "exporter: the current lock queue is in /metrics (migguard_lock_queue_waiting = ${v:-none}, per relation and mode)" $?
	[ "$(scrape_value migguard_status_watcher_running)" = 1 ] && [ "$(scrape_value migguard_status_preloaded)" = 1 ] &&
		[ -n "$(scrape_value migguard_guarded_ddl_in_flight)" ]
	result "exporter: the watcher's health and guarded DDL in flight are in /metrics" $?
	[ "$(scrape_value pg_exporter_user_queries_load_error)" = 0 ] && [ "$(scrape_value pg_exporter_last_scrape_error)" = 0 ]
	result "exporter: the queries file loads and every query runs as a pg_monitor role" $?

	exporter_stop
	mg_psql monitor -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name IN ('mon_holder', 'mon_waiter')" >/dev/null 2>&1
	wait
}
