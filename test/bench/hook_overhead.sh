#!/bin/bash
# Benchmark, not a test: migguard's cost per DDL statement, as the server
# backend's CPU time (from /proc/<pid>/schedstat: what migguard adds to the
# server's work), with and without migguard in shared_preload_libraries,
# runs alternating.  Three cases:
#
#   cheap       ALTER TABLE ... ALTER COLUMN ... SET DEFAULT (guarded, every
#               rule looks at it) and COMMENT ON TABLE on a 100-row table,
#               one statement per transaction
#   partitions  the same two statements on a table with 1,000 partitions
#               (the ALTER recurses to every partition)
#   script      a 10,000-statement migration in one transaction (psql -1):
#               2,000 times CREATE TABLE, ALTER TABLE ... ADD COLUMN, CREATE
#               INDEX, COMMENT ON on the new table, and ALTER TABLE ... SET
#               DEFAULT on an existing one
#
# Wall time is printed too; on a small shared machine it varies by tens of
# percent from run to run whatever is loaded: the CPU time is the figure.
#
# Run as root or as the postgres OS user, after `make install`:
#   test/bench/hook_overhead.sh [statement pairs per cheap run]
# BENCH_SMOKE=1: one short run of each, 100 partitions, 1,000 statements.
set -euo pipefail

if [ "$(id -u)" = 0 ]; then
	exec runuser -u postgres -- "$0" "$@"
fi

PORT=5490
BENCH_CONF="fsync = off
synchronous_commit = off
max_connections = 20
max_locks_per_transaction = 1024
log_min_messages = warning"
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/hook_statements.sh"

PAIRS=${1:-2000}
ROUNDS=9
PARTS=1000
PART_PAIRS=10
SCRIPT_UNITS=2000
if smoke; then
	PAIRS=500 ROUNDS=1 PARTS=100 PART_PAIRS=10 SCRIPT_UNITS=200
fi

# psql lines that record the backend's CPU time and the wall clock
mark()
{
	echo "\\! cut -d' ' -f1 /proc/\$BPID/schedstat > $WORK/cpu$1; date +%s.%N > $WORK/t$1"
}

{
	echo "SELECT pg_backend_pid() AS pid \\gset"
	echo "\\setenv BPID :pid"
	mark 0
	cheap_pairs "$PAIRS" hook_t
	mark 1
} >"$WORK/cheap.sql"

{
	echo "SELECT pg_backend_pid() AS pid \\gset"
	echo "\\setenv BPID :pid"
	mark 0
	cheap_pairs "$PART_PAIRS" parted
	mark 1
} >"$WORK/partitions.sql"

{
	echo "SELECT pg_backend_pid() AS pid \\gset"
	echo "\\setenv BPID :pid"
	mark 0
	migration_units "$SCRIPT_UNITS"
	mark 1
} >"$WORK/script.sql"

declare -A STATEMENTS=([cheap]=$((PAIRS * 2)) [partitions]=$((PART_PAIRS * 2)) [script]=$((SCRIPT_UNITS * 5)))

# Once, without migguard: database hook_db (the small table and the
# partitioned one) for the cheap and partitions cases, whose statements
# change nothing that the next run would see; hook_template (the small
# table) is copied afresh for every run of the script, which creates tables.
bench_start ""
"${PSQL[@]}" -c "CREATE DATABASE hook_db" -c "CREATE DATABASE hook_template"
HOOK_PSQL=("$BIN/psql" -X -q -h "$WORK" -p "$PORT")
for db in hook_db hook_template; do
	"${HOOK_PSQL[@]}" -d "$db" \
		-c "CREATE TABLE hook_t (id int, v int)" \
		-c "INSERT INTO hook_t SELECT g, g FROM generate_series(1, 100) g"
done
"${HOOK_PSQL[@]}" -d hook_db \
	-c "CREATE TABLE parted (id int, v int) PARTITION BY RANGE (id)" \
	-c "DO \$\$ BEGIN FOR g IN 1..$PARTS LOOP
		EXECUTE format('CREATE TABLE parted_%s PARTITION OF parted FOR VALUES FROM (%s) TO (%s)',
			g, g * 10, g * 10 + 10); END LOOP; END \$\$" \
	-c "INSERT INTO parted SELECT g, g FROM generate_series(10, $PARTS * 10 + 9) g" \
	-c "VACUUM ANALYZE"

# prints "cpu_us wall_us" per statement of one run
run()
{
	local case=$1 preload=$2
	bench_start "$preload"
	local db=hook_db opts=()
	if [ "$case" = script ]; then
		PGOPTIONS='-c migguard.mode=off -c client_min_messages=warning' "${PSQL[@]}" \
			-c "DROP DATABASE IF EXISTS hook_run" -c "CREATE DATABASE hook_run TEMPLATE hook_template"
		db=hook_run opts=(-1)
	fi
	"${HOOK_PSQL[@]}" -d "$db" -v ON_ERROR_STOP=1 "${opts[@]}" -f "$WORK/$case.sql" >/dev/null
	awk -v c0="$(cat "$WORK/cpu0")" -v c1="$(cat "$WORK/cpu1")" \
		-v t0="$(cat "$WORK/t0")" -v t1="$(cat "$WORK/t1")" \
		-v n="${STATEMENTS[$case]}" 'BEGIN {
		printf "%.1f %.1f\n", (c1 - c0) / 1e3 / n, (t1 - t0) * 1e6 / n
	}'
}

# pairs of runs: cheap 9, partitions 5, script 3 (smoke: 1 each)
rounds_of()
{
	case $1 in
	cheap) echo "$ROUNDS" ;;
	partitions) echo $((ROUNDS < 5 ? ROUNDS : 5)) ;;
	script) echo $((ROUNDS < 3 ? ROUNDS : 3)) ;;
	esac
}

echo "| case | statements a run | pairs of runs | median CPU us/statement without | with | median ratio with/without of the pairs | spread (min-max) | median wall us/statement without | with |" >"$WORK/table"
echo "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |" >>"$WORK/table"
: >"$WORK/runs"
for case in cheap partitions script; do
	: >"$WORK/pairs"
	n=$(rounds_of "$case")
	# a first run, not counted: caches, files
	smoke || [ "$case" = script ] || run "$case" migguard >/dev/null
	for round in $(seq 1 "$n"); do
		# without first, then with first, ...: a drift hits both alike
		if [ $((round % 2)) = 1 ]; then
			a=$(run "$case" '')
			b=$(run "$case" migguard)
		else
			b=$(run "$case" migguard)
			a=$(run "$case" '')
		fi
		echo "$a $b" >>"$WORK/pairs"
	done
	# pairs: cpu_without wall_without cpu_with wall_with
	cw=$(awk '{ print $1 }' "$WORK/pairs" | median)
	cm=$(awk '{ print $3 }' "$WORK/pairs" | median)
	ww=$(awk '{ print $2 }' "$WORK/pairs" | median)
	wm=$(awk '{ print $4 }' "$WORK/pairs" | median)
	rmed=$(awk '{ printf "%.3f\n", $3 / $1 }' "$WORK/pairs" | median)
	rspr=$(awk '{ printf "%.3f\n", $3 / $1 }' "$WORK/pairs" | spread)
	echo "| $case | ${STATEMENTS[$case]} | $n | $cw | $cm | $rmed | $rspr | $ww | $wm |" >>"$WORK/table"
	echo "$case (cpu us, wall us per statement without; the same with): $(tr '\n' ';' <"$WORK/pairs")" >>"$WORK/runs"
done

cat "$WORK/table"
echo
cat "$WORK/runs"

{
	echo "## Hook cost: backend CPU per DDL statement"
	echo
	echo "The server backend's CPU time (\`/proc/<pid>/schedstat\`) over a psql script, divided by its"
	echo "statements; runs with and without migguard preloaded, alternating.  **cheap**: \`ALTER TABLE"
	echo "... ALTER COLUMN ... SET DEFAULT\` and \`COMMENT ON TABLE\` on a 100-row table, one per"
	echo "transaction; **partitions**: the same on a table with $PARTS partitions; **script**: a"
	echo "$((SCRIPT_UNITS * 5))-statement migration in one transaction (\`CREATE TABLE\`, \`ADD COLUMN\`,"
	echo "\`CREATE INDEX\`, \`COMMENT ON\` on new tables, \`SET DEFAULT\` on an existing one)."
	echo "Target: ratio <= 1.02.  The ratio is the median of the ratios of pairs of runs"
	echo "next to each other in time (the order alternates)."
	echo
	cat "$WORK/table"
	echo
	echo '```'
	cat "$WORK/runs"
	echo '```'
	echo
} | bench_md hook-cost.md
