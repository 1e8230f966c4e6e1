#!/bin/bash
# Benchmark, not a test: migguard's cost per DDL statement.  One psql
# session runs cheap DDL on a small table in a loop (ALTER TABLE ... SET
# DEFAULT, a guarded statement that every rule looks at, and COMMENT ON),
# with and without migguard in shared_preload_libraries, alternating five
# times.  Prints, per statement, the server backend's CPU time (from
# /proc/<pid>/stat: what migguard adds to the work of the server) and the
# wall time (which on a small shared machine varies by tens of percent from
# run to run, whatever is loaded), and the ratio of the medians.
#
# Run as root or as the postgres OS user, after `make install`:
#   test/bench/hook_overhead.sh [statement pairs per run]
set -euo pipefail

PAIRS=${1:-20000}
if [ "$(id -u)" = 0 ]; then
	exec runuser -u postgres -- "$0" "$@"
fi

PORT=5490
BENCH_CONF="fsync = off
synchronous_commit = off"
. "$(dirname "$0")/common.sh"

{
	echo "SELECT pg_backend_pid() AS pid \\gset"
	echo "\\setenv BPID :pid"
	echo "\\! awk '{ print \$14 + \$15 }' /proc/\$BPID/stat > $WORK/cpu0; date +%s.%N > $WORK/t0"
	for _ in $(seq 1 "$PAIRS"); do
		echo "ALTER TABLE hook_t ALTER COLUMN v SET DEFAULT 1;"
		echo "COMMENT ON TABLE hook_t IS 'benchmark';"
	done
	echo "\\! awk '{ print \$14 + \$15 }' /proc/\$BPID/stat > $WORK/cpu1; date +%s.%N > $WORK/t1"
} >"$WORK/ddl.sql"

HZ=$(getconf CLK_TCK)

# prints "cpu_us wall_us" per statement
run()
{
	local preload=$1
	bench_start "$preload"
	"${PSQL[@]}" -c "SET client_min_messages = error" \
		-c "DROP TABLE IF EXISTS hook_t" \
		-c "CREATE TABLE hook_t (id int, v int)" \
		-c "INSERT INTO hook_t SELECT g, g FROM generate_series(1, 100) g"
	"${PSQL[@]}" -f "$WORK/ddl.sql" >/dev/null
	awk -v c0="$(cat "$WORK/cpu0")" -v c1="$(cat "$WORK/cpu1")" \
		-v t0="$(cat "$WORK/t0")" -v t1="$(cat "$WORK/t1")" \
		-v hz="$HZ" -v n=$((PAIRS * 2)) 'BEGIN {
		printf "%.1f %.1f\n", (c1 - c0) / hz * 1e6 / n, (t1 - t0) * 1e6 / n
	}'
}

: >"$WORK/without"
: >"$WORK/with"
for round in 1 2 3 4 5; do
	run '' >>"$WORK/without"
	run migguard >>"$WORK/with"
done

median()
{
	sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
cpu_without=$(cut -d' ' -f1 "$WORK/without" | median)
cpu_with=$(cut -d' ' -f1 "$WORK/with" | median)
wall_without=$(cut -d' ' -f2 "$WORK/without" | median)
wall_with=$(cut -d' ' -f2 "$WORK/with" | median)

echo "per DDL statement ($((PAIRS * 2)) statements a run, 5 runs each; cpu us / wall us):"
echo "  without migguard: $(tr '\n' ' ' <"$WORK/without" | sed 's/ \([0-9.]*\) / \/ \1   /g')"
echo "  with migguard:    $(tr '\n' ' ' <"$WORK/with" | sed 's/ \([0-9.]*\) / \/ \1   /g')"
awk -v a="$cpu_without" -v b="$cpu_with" -v c="$wall_without" -v d="$wall_with" 'BEGIN {
	printf "median backend CPU: %.1f us without, %.1f us with: %+.1f%% per statement\n", a, b, (b / a - 1) * 100
	printf "median wall time:   %.1f us without, %.1f us with: %+.1f%% per statement\n", c, d, (d / c - 1) * 100
}'
