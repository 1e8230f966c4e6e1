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
# BENCH_SMOKE=1: 1 pair of 2 s runs.
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

PAIRS=${1:-5}
DURATION=${2:-10}
CLIENTS=4
SCALE=10
if smoke; then
	PAIRS=1 DURATION=2 SCALE=1
fi

bench_start ""
"$BIN/createdb" -h "$WORK" -p "$PORT" bench
"${PGBENCH[@]}" -i -q -s "$SCALE" bench >/dev/null 2>&1

# prints the TPS of one run
tps()
{
	"${PGBENCH[@]}" -n -c "$CLIENTS" -j 2 -T "$DURATION" "$@" bench 2>&1 |
		grep -oP 'tps = \K[0-9.]+(?= \(without initial connection time\))' |
		awk '{ printf "%.0f\n", $1 }'
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

# per pair and workload: with / without
awk '{ v[$1 " " $2 " " $3] = $4; w[$2] = 1; p[$1] = 1 }
	END { for (k in w) for (i in p) printf "%s %s %.4f\n", k, i, v[i " " k " with"] / v[i " " k " without"] }' \
	"$WORK/runs" | sort >"$WORK/ratios"

result()
{
	local w=$1 med spr tps_with tps_without
	med=$(awk -v w="$w" '$1 == w { print $3 }' "$WORK/ratios" | median)
	spr=$(awk -v w="$w" '$1 == w { print $3 }' "$WORK/ratios" | spread)
	tps_without=$(awk -v w="$w" '$2 == w && $3 == "without" { print $4 }' "$WORK/runs" | median)
	tps_with=$(awk -v w="$w" '$2 == w && $3 == "with" { print $4 }' "$WORK/runs" | median)
	echo "| $w | $PAIRS | $tps_without | $tps_with | $med | $spr |"
}

{
	echo "| workload | pairs | median TPS without | median TPS with | median ratio with/without | spread of the ratios (min-max) |"
	echo "| --- | ---: | ---: | ---: | ---: | --- |"
	result select-only
	result tpcb
} >"$WORK/table"

cat "$WORK/table"
echo
echo "pgbench scale $SCALE, $CLIENTS clients, ${DURATION} s a run, runs: $(awk '{ printf "%s%s/%s=%s", (NR > 1 ? ", " : ""), $2, $3, $4 }' "$WORK/runs")"

{
	echo "## Idle overhead: migguard preloaded, no DDL running"
	echo
	echo "pgbench scale $SCALE, $CLIENTS clients, 2 threads, ${DURATION} s a run; the same cluster"
	echo "restarted alternately with and without \`shared_preload_libraries = 'migguard'\`"
	echo "(pairs in the order without/with, then with/without, ...).  Target: ratio >= 0.99."
	echo
	cat "$WORK/table"
	echo
	echo "Every run (pair, workload, side, TPS):"
	echo
	echo '```'
	cat "$WORK/runs"
	echo '```'
	echo
} | bench_md idle-overhead.md
