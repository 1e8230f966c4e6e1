#!/bin/bash
# Benchmark, not a test: the CPU the watcher spends per look at the lock
# queue, with a guarded DDL waiting for its lock for 10 s and N other
# sessions holding locks (so the lock table is not empty).  Also shows that
# the watcher spends nothing while no guarded DDL is in flight.
#
# Run as root or as the postgres OS user, after `make install`:
#   test/bench/watch_scan_cost.sh [sessions]
set -euo pipefail

SESSIONS=${1:-40}
if [ "$(id -u)" = 0 ]; then
	exec runuser -u postgres -- "$0" "$@"
fi

PORT=5489
BENCH_CONF="max_connections = 100"
. "$(dirname "$0")/common.sh"
bench_start migguard
PSQL+=(-At)
"${PSQL[@]}" -c "CREATE EXTENSION migguard" -c "CREATE TABLE t (id int)"
for i in $(seq 1 "$SESSIONS"); do
	"${PSQL[@]}" -c "CREATE TABLE t_$i (id int)"
done

watcher=$("${PSQL[@]}" -c "SELECT worker_pid FROM migguard.status")
ticks() { awk '{ print $14 + $15 }' "/proc/$watcher/stat"; }
hz=$(getconf CLK_TCK)

# sessions holding locks on many relations, idle in transaction
for i in $(seq 1 "$SESSIONS"); do
	"${PSQL[@]}" -c "BEGIN; SELECT count(*) FROM t_$i; SELECT count(*) FROM t; SELECT pg_sleep(14); COMMIT;" >/dev/null &
done
sleep 1

idle0=$(ticks); sleep 3; idle1=$(ticks)

interval=$("${PSQL[@]}" -c "SHOW migguard.watch_interval")
start=$(ticks)
"${PSQL[@]}" -c "SET lock_timeout = '10s'; SET migguard.lock_retries = 0; SET migguard.lock_timeout = '10s'; ALTER TABLE t ADD COLUMN c int" 2>/dev/null || true
end=$(ticks)
wait

awk -v idle=$((idle1 - idle0)) -v busy=$((end - start)) -v hz="$hz" \
	-v interval="$interval" -v sessions="$SESSIONS" 'BEGIN {
	iv = interval + 0                       # "20ms" -> 20
	looks = 10000 / iv
	printf "watcher CPU with no guarded DDL in flight (3 s):  %.3f s\n", idle / hz
	printf "watcher CPU while a DDL waited 10 s:               %.3f s (%d looks, every %s)\n", busy / hz, looks, interval
	printf "per look at the lock queue (%d sessions holding locks): %.3f ms\n", sessions + 1, busy / hz / looks * 1000
}'
