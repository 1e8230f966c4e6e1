#!/bin/bash
# Benchmark, not a test: what an ALTER TABLE stuck behind a long transaction
# does to the application's latency, for three setups side by side:
#
#   none          no migguard, the DDL session has no lock_timeout
#   lock_timeout  no migguard, the DDL session sets lock_timeout = 5s
#   migguard      migguard preloaded, all settings at their defaults
#
# In each run pgbench clients read and update a table; after 2 s a long
# transaction reads the table and sleeps for 8 s; after 3 s an ALTER TABLE
# on the table starts.  Prints, per setup, the transactions, their p99 and
# max latency, and the failed ones.
#
# Run as root or as the postgres OS user, after `make install`:
#   test/bench/lock_queue.sh [clients] [seconds]
set -euo pipefail

CLIENTS=${1:-8}
SECONDS_RUN=${2:-14}
if [ "$(id -u)" = 0 ]; then
	exec runuser -u postgres -- "$0" "$@"
fi

PORT=5488
BENCH_CONF="max_connections = 50
fsync = off
synchronous_commit = off"
. "$(dirname "$0")/common.sh"

cat > "$WORK/app.sql" <<'SQL'
\set id random(1, 100000)
SELECT v FROM bench WHERE id = :id;
UPDATE bench SET v = v + 1 WHERE id = :id;
SQL

run_setup()
{
	local name=$1 preload=$2 ddl_prefix=$3

	bench_start "$preload"
	"${PSQL[@]}" -c "SET client_min_messages = error" -c "DROP TABLE IF EXISTS bench" \
		-c "CREATE TABLE bench (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)" \
		-c "INSERT INTO bench (id) SELECT generate_series(1, 100000)" \
		-c "VACUUM ANALYZE bench"
	if [ -n "$preload" ]; then
		"${PSQL[@]}" -c "CREATE EXTENSION IF NOT EXISTS migguard"
	fi

	rm -f "$WORK"/pgbench_log.*
	( cd "$WORK" && "$BIN/pgbench" -n -h "$WORK" -p "$PORT" -c "$CLIENTS" -j 2 \
		-T "$SECONDS_RUN" -f app.sql -l postgres >"$WORK/pgbench-$name.out" 2>&1 ) &
	local bench=$!

	sleep 2
	"${PSQL[@]}" -c "BEGIN; SELECT count(*) FROM bench; SELECT pg_sleep(8); COMMIT;" \
		>/dev/null &
	local long=$!
	sleep 1
	local t0 t1 ddl_result
	t0=$(date +%s.%N)
	if "${PSQL[@]}" -c "$ddl_prefix ALTER TABLE bench ADD COLUMN note_$name text" \
		>"$WORK/ddl-$name.out" 2>&1; then
		ddl_result=ok
	else
		ddl_result=$(grep -o 'ERROR: .*' "$WORK/ddl-$name.out" | head -1 | cut -c1-60)
	fi
	t1=$(date +%s.%N)
	wait "$long" "$bench" || true

	local failed
	failed=$(grep -oP 'number of failed transactions: \K[0-9]+' "$WORK/pgbench-$name.out" || echo "?")
	if grep -q 'aborted' "$WORK/pgbench-$name.out"; then
		failed="$failed (clients aborted)"
	fi
	# pgbench log lines: client transaction latency_us script epoch epoch_us
	cat "$WORK"/pgbench_log.* | awk '{ printf "%.1f\n", $3 / 1000.0 }' |
		sort -n >"$WORK/latencies"
	local n p99 max
	n=$(wc -l <"$WORK/latencies")
	p99=$(sed -n "$(( n * 99 / 100 ))p" "$WORK/latencies")
	max=$(tail -1 "$WORK/latencies")
	printf "%-13s %12d %10s %10s %8s   %6s s  %s\n" "$name" "$n" "$p99" "$max" \
		"$failed" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" \
		"$ddl_result"
}

printf "%-13s %12s %10s %10s %8s   %8s  %s\n" setup transactions "p99 ms" "max ms" failed "DDL took" "DDL result"
run_setup none "" ""
run_setup lock_timeout "" "SET lock_timeout = '5s';"
run_setup migguard migguard ""
echo
echo "pgbench: $CLIENTS clients, ${SECONDS_RUN}s; long transaction 8 s from t=2s; ALTER TABLE from t=3s; $(nproc) cores"
