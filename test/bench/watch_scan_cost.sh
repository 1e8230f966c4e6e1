#!/bin/bash
# Benchmark, not a test: the CPU migguard spends watching while a guarded DDL
# waits for its lock (held by a reader) with nobody queued behind it, so
# that nothing is cancelled and the watch goes on for the whole wait:
#
#   connections  200 connections, of which 20 run pgbench select-only on
#                other tables and 180 are idle
#   locks        the same, and 10 transactions holding about 10,000 relation
#                locks (each has read a table of 1,000 partitions)
#
# Prints the watcher's CPU time per second of the wait and per look (one
# look every migguard.watch_interval), the same for the waiting DDL's own
# backend (which re-checks its lock while it waits beside the queue), and
# the watcher's wake-ups (context switches) and CPU over 5 s with no
# guarded DDL in flight: both should be zero.
#
# Run as root or as the postgres OS user, after `make install`:
#   test/bench/watch_scan_cost.sh [connections] [seconds of wait]
# BENCH_SMOKE=1: 40 connections (4 active), about 1,000 locks, 3 s.
set -euo pipefail

if [ "$(id -u)" = 0 ]; then
	exec runuser -u postgres -- "$0" "$@"
fi

CONNS=${1:-200}
WAIT_S=${2:-10}
PARTS=1000
if [ -n "${BENCH_SMOKE:-}" ] && [ "$BENCH_SMOKE" != 0 ]; then
	CONNS=40 WAIT_S=3 PARTS=100
fi
ACTIVE=$((CONNS / 10))
HOLDERS=10

PORT=5489
BENCH_CONF="max_connections = $((CONNS + 30))
max_locks_per_transaction = 256
fsync = off
synchronous_commit = off
log_min_messages = warning"
. "$(dirname "$0")/common.sh"
bench_start migguard
PSQL+=(-At)
export PGOPTIONS='-c client_min_messages=warning'
PGOPTIONS="$PGOPTIONS -c migguard.mode=off" "${PSQL[@]}" \
	-c "CREATE EXTENSION migguard" -c "CREATE TABLE t (id int)" \
	-c "CREATE TABLE parted (id int, v int) PARTITION BY RANGE (id)" \
	-c "DO \$\$ BEGIN FOR g IN 1..$PARTS LOOP
		EXECUTE format('CREATE TABLE parted_%s PARTITION OF parted FOR VALUES FROM (%s) TO (%s)',
			g, g * 10, g * 10 + 10); END LOOP; END \$\$"
PGOPTIONS="$PGOPTIONS -c migguard.mode=off" "${PGBENCH[@]}" -i -q -s 1 postgres >/dev/null 2>&1

watcher=$("${PSQL[@]}" -c "SELECT worker_pid FROM migguard.status")
interval_ms=$("${PSQL[@]}" -c "SELECT setting FROM pg_settings WHERE name = 'migguard.watch_interval'")
ctxsw() { awk '/ctxt_switches/ { n += $2 } END { print n }' "/proc/$watcher/status"; }

# the connections: idle ones wait for psql input, active ones run pgbench
for _ in $(seq 1 $((CONNS - ACTIVE))); do
	sleep $((WAIT_S * 2 + 60)) | "${PSQL[@]}" >/dev/null 2>&1 &
done
"${PGBENCH[@]}" -n -S -c "$ACTIVE" -j 2 -T $((WAIT_S * 2 + 40)) postgres >/dev/null 2>&1 &
sleep 2

# no guarded DDL in flight
sw0=$(ctxsw); c0=$(cpu_ns "$watcher"); sleep 5; sw1=$(ctxsw); c1=$(cpu_ns "$watcher")
idle_wakeups=$((sw1 - sw0))
idle_cpu_ms=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')

# The guarded DDL: waits for the reader's lock until statement_timeout; a
# psql script that records its backend's and the watcher's CPU around it.
cat >"$WORK/ddl.sql" <<SQL
SELECT pg_backend_pid() AS pid \\gset
\\setenv BPID :pid
SET statement_timeout = '${WAIT_S}s';
SET lock_timeout = '${WAIT_S}s';
SET migguard.lock_timeout = '${WAIT_S}s';
SET migguard.lock_retries = 0;
\\! cut -d' ' -f1 /proc/\$BPID/schedstat > $WORK/b0; cut -d' ' -f1 /proc/$watcher/schedstat > $WORK/w0; date +%s.%N > $WORK/t0
ALTER TABLE t ADD COLUMN c int;
\\! cut -d' ' -f1 /proc/\$BPID/schedstat > $WORK/b1; cut -d' ' -f1 /proc/$watcher/schedstat > $WORK/w1; date +%s.%N > $WORK/t1
SQL

measure()
{
	local name=$1 locks
	"${PSQL[@]}" -c "BEGIN" -c "SELECT count(*) FROM t" -c "SELECT pg_sleep($WAIT_S + 3)" -c "COMMIT" >/dev/null &
	local reader=$!
	sleep 1
	locks=$("${PSQL[@]}" -c "SELECT count(*) FROM pg_locks")
	"${PSQL[@]}" -f "$WORK/ddl.sql" >"$WORK/ddl.out" 2>&1 || true
	wait "$reader" || true
	awk -v name="$name" -v locks="$locks" -v iv="$interval_ms" -v conns="$CONNS" -v active="$ACTIVE" \
		-v b0="$(cat "$WORK/b0")" -v b1="$(cat "$WORK/b1")" \
		-v w0="$(cat "$WORK/w0")" -v w1="$(cat "$WORK/w1")" \
		-v t0="$(cat "$WORK/t0")" -v t1="$(cat "$WORK/t1")" 'BEGIN {
		wall = t1 - t0; looks = wall * 1000 / iv
		printf "| %s | %d (%d active) | %d | %.1f | %.2f | %.1f | %.3f | %.1f | %.3f |\n", name, conns, active, locks, wall,
			(w1 - w0) / 1e6 / wall, (w1 - w0) / 1e6 / wall / 10, (w1 - w0) / 1e6 / looks,
			(b1 - b0) / 1e6 / wall / 10, (b1 - b0) / 1e6 / looks
	}'
	sed -n 's/^psql:[^ ]* \(ERROR: .*\)/\1/p' "$WORK/ddl.out" | head -1 >"$WORK/ddl-$name.err"
}

{
	echo "| case | connections | locks in pg_locks | wait s | watcher CPU ms/s | watcher % of a core | watcher CPU ms/look | DDL backend % of a core | DDL backend CPU ms/look |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	measure connections
	# transactions holding a lock on every partition, idle in their sleep
	for _ in $(seq 1 $HOLDERS); do
		"${PSQL[@]}" -c "BEGIN" -c "SELECT count(*) FROM parted" -c "SELECT pg_sleep($WAIT_S + 10)" -c "COMMIT" >/dev/null &
	done
	sleep 2
	measure locks
} >"$WORK/table"

cat "$WORK/table"
echo
echo "with no guarded DDL in flight, 5 s: watcher wake-ups (context switches) $idle_wakeups, CPU $idle_cpu_ms ms"
echo "watch interval ${interval_ms} ms; DDL ended with: $(cat "$WORK/ddl-connections.err") / $(cat "$WORK/ddl-locks.err")"

{
	echo "## Watcher cost: CPU while a guarded DDL waits"
	echo
	echo "A guarded \`ALTER TABLE\` waits ${WAIT_S} s for a lock held by a reader, nobody queued behind"
	echo "it; $CONNS connections, of which $ACTIVE run pgbench select-only on other tables; in the"
	echo "second case $HOLDERS more transactions hold a lock on each of $PARTS partitions.  CPU time"
	echo "from \`/proc/<pid>/schedstat\`; a look is one \`migguard.watch_interval\` (${interval_ms} ms)."
	echo "The DDL's own backend is shown too (while it waits beside the queue it re-checks the"
	echo "holders itself)."
	echo
	cat "$WORK/table"
	echo
	echo "With no guarded DDL in flight, over 5 s: the watcher woke **$idle_wakeups** times"
	echo "(context switches in \`/proc/<pid>/status\`) and used $idle_cpu_ms ms of CPU."
	echo
	echo "How each wait ended: \`$(cat "$WORK/ddl-connections.err")\` / \`$(cat "$WORK/ddl-locks.err")\`"
	echo
} | bench_md watcher-cost.md
