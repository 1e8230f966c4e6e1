#!/bin/bash
# Benchmark, not a test: what migguard costs the application while no DDL
# runs.  pgbench select-only (-S) and TPC-B-like (the default script) on the
# same cluster, restarted alternately with and without migguard in
# shared_preload_libraries (A/B, then B/A, ... so that a drift of the
# machine hits both sides alike).  Prints, per workload, the TPS of every
# run, the ratio with/without of every pair, their median and their spread.
#
# Run as root or as the postgres OS user, after `make install`:
#   test/bench/idle_overhead.sh [pairs] [seconds per run]
# BENCH_SMOKE=1: 1 pair of 2 s runs.  Also prints the server's CPU time per
# transaction, with and without.
set -euo pipefail

if [ "$(id -u)" = 0 ]; then
	exec runuser -u postgres -- "$0" "$@"
fi

PORT=5491
BENCH_CONF="max_connections = 50
shared_buffers = 256MB
fsync = off
synchronous_commit = off
log_min_messages = warning"
. "$(dirname "$0")/common.sh"

PAIRS=${1:-10}
DURATION=${2:-5}
CLIENTS=4
SCALE=10
if smoke; then
	PAIRS=1 DURATION=2 SCALE=1
fi

bench_start ""
"$BIN/createdb" -h "$WORK" -p "$PORT" bench
"${PGBENCH[@]}" -i -q -s "$SCALE" bench >/dev/null 2>&1

# CPU time of the postmaster's exited children (its backends), in ticks
children_cpu()
{
	awk '{ print $16 + $17 }' "/proc/$(head -1 "$WORK/data/postmaster.pid")/stat"
}

# prints "TPS server-CPU-us-per-transaction" of one run: the CPU of the
# backends pgbench used, counted when they have exited (on a shared machine
# less noisy than the TPS)
tps()
{
	local c0 c1 out
	c0=$(children_cpu)
	out=$("${PGBENCH[@]}" -n -c "$CLIENTS" -j 2 -T "$DURATION" "$@" bench 2>&1)
	# until the backends have exited and the postmaster has reaped them
	while [ "$("${PSQL[@]}" -At -c "SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")" != 0 ]; do
		sleep 0.1
	done
	sleep 0.2
	c1=$(children_cpu)
	echo "$out" | awk -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" '
		/tps = .* \(without initial connection time\)/ { tps = $3 }
		/number of transactions actually processed/ { split($0, a, ": "); n = a[2] + 0 }
		END { printf "%.0f %.1f\n", tps, (n ? c / hz * 1e6 / n : 0) }'
}

: >"$WORK/runs"
for pair in $(seq 1 "$PAIRS"); do
	if [ $((pair % 2)) = 1 ]; then order="without with"; else order="with without"; fi
	for side in $order; do
		if [ "$side" = with ]; then bench_start migguard; else bench_start ""; fi
		# warm the cache, so both sides start alike
		"${PGBENCH[@]}" -n -c "$CLIENTS" -j 2 -T 1 -S bench >/dev/null 2>&1
		echo "$pair select-only $side $(tps -S)" >>"$WORK/runs"
		echo "$pair tpcb $side $(tps)" >>"$WORK/runs"
	done
done

# per pair and workload: with / without, of the TPS ($4) and of the CPU ($5)
awk '{ v[$1 " " $2 " " $3] = $4; c[$1 " " $2 " " $3] = $5; w[$2] = 1; p[$1] = 1 }
	END { for (k in w) for (i in p) printf "%s %s %.4f %.4f\n", k, i,
		v[i " " k " with"] / v[i " " k " without"], c[i " " k " with"] / c[i " " k " without"] }' \
	"$WORK/runs" | sort >"$WORK/ratios"

result()
{
	local w=$1 col
	printf "| %s | %s" "$w" "$PAIRS"
	for col in 4 5; do
		printf " | %s | %s | %s | %s" \
			"$(awk -v w="$w" -v k="$col" '$2 == w && $3 == "without" { print $k }' "$WORK/runs" | median)" \
			"$(awk -v w="$w" -v k="$col" '$2 == w && $3 == "with" { print $k }' "$WORK/runs" | median)" \
			"$(awk -v w="$w" -v k=$((col - 1)) '$1 == w { print $k }' "$WORK/ratios" | median)" \
			"$(awk -v w="$w" -v k=$((col - 1)) '$1 == w { print $k }' "$WORK/ratios" | spread)"
	done
	echo " |"
}

{
	echo "| workload | pairs | median TPS without | with | median TPS ratio with/without | spread (min-max) | median server CPU us/transaction without | with | median CPU ratio with/without | spread (min-max) |"
	echo "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |"
	result select-only
	result tpcb
} >"$WORK/table"

cat "$WORK/table"
echo
echo "pgbench scale $SCALE, $CLIENTS clients, ${DURATION} s a run; every run (pair, workload, side, TPS, CPU us/transaction):"
cat "$WORK/runs"

{
	echo "## Idle overhead: migguard preloaded, no DDL running"
	echo
	echo "pgbench scale $SCALE, $CLIENTS clients, 2 threads, ${DURATION} s a run; the same cluster"
	echo "restarted alternately with and without \`shared_preload_libraries = 'migguard'\`"
	echo "(pairs in the order without/with, then with/without, ...).  Target: TPS ratio >= 0.99."
	echo "The server CPU is that of the backends pgbench used (the postmaster's reaped"
	echo "children), per transaction: on a machine shared with other work it varies less"
	echo "than the TPS, and a ratio <= 1.01 says the same as a TPS ratio >= 0.99."
	echo
	cat "$WORK/table"
	echo
	echo "Every run (pair, workload, side, TPS, server CPU us/transaction):"
	echo
	echo '```'
	cat "$WORK/runs"
	echo '```'
	echo
} | bench_md idle-overhead.md
