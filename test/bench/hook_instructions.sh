#!/bin/bash
# Benchmark, not a test: migguard's cost per DDL statement in instructions,
# counted by valgrind (callgrind) in a single-user backend, with and without
# migguard in shared_preload_libraries.  Unlike CPU time, an instruction
# count does not move with the load of a shared machine: this is the figure
# to hold against the 2 % target.  It leaves out what a count cannot see
# (system calls, cache misses) and the watcher, which single-user mode does
# not start; hook_overhead.sh measures CPU time on a running server.
#
# The cases are hook_overhead.sh's: cheap (ALTER TABLE ... SET DEFAULT and
# COMMENT ON TABLE on a 100-row table, a transaction each), partitions (the
# same on a table with 1,000 partitions) and script (CREATE TABLE, ADD
# COLUMN, CREATE INDEX, COMMENT ON on new tables and SET DEFAULT on an
# existing one, in one transaction), and string: the script's statements
# sent as one multi-statement query string, of 2,000 and of 10,000
# statements: what migguard adds per statement must not grow with the
# string's length.  Each run starts from a
# copy of the
# same cluster; a run of the same configuration without statements is
# subtracted, so startup (and migguard's _PG_init) does not count.
#
# Run as root or as the postgres OS user, after `make install`:
#   test/bench/hook_instructions.sh
# BENCH_SMOKE=1: small runs.
set -euo pipefail

if [ "$(id -u)" = 0 ]; then
	exec runuser -u postgres -- "$0" "$@"
fi

. "$(dirname "$0")/hook_statements.sh"
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
BIN=${PGBIN:-$("$PG_CONFIG" --bindir)}
WORK=$(mktemp -d /tmp/migguard-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

if ! command -v valgrind >/dev/null; then
	echo "hook_instructions: valgrind is not installed (apt-get install valgrind)" >&2
	exit 1
fi

CHEAP_PAIRS=1000 PARTS=1000 PART_PAIRS=10 SCRIPT_UNITS=400
STRING_SHORT=400 STRING_LONG=2000
if [ -n "${BENCH_SMOKE:-}" ] && [ "$BENCH_SMOKE" != 0 ]; then
	CHEAP_PAIRS=50 PARTS=50 PART_PAIRS=2 SCRIPT_UNITS=20
	STRING_SHORT=20 STRING_LONG=100
fi

single()
{
	local data=$1
	shift
	"$BIN/postgres" --single -D "$data" -c log_min_messages=fatal \
		-c max_locks_per_transaction=1024 "$@" postgres
}

# the cluster every run copies: the small table and the partitioned one
"$BIN/initdb" -D "$WORK/template" -A trust --no-sync >/dev/null
cat >>"$WORK/template/postgresql.conf" <<CONF
fsync = off
autovacuum = off
CONF
{
	echo "CREATE TABLE hook_t (id int, v int);"
	echo "INSERT INTO hook_t SELECT g, g FROM generate_series(1, 100) g;"
	echo "CREATE TABLE parted (id int, v int) PARTITION BY RANGE (id);"
	echo "DO \$\$ BEGIN FOR g IN 1..$PARTS LOOP EXECUTE format('CREATE TABLE parted_%s PARTITION OF parted FOR VALUES FROM (%s) TO (%s)', g, g * 10, g * 10 + 10); END LOOP; END \$\$;"
	echo "INSERT INTO parted SELECT g, g FROM generate_series(10, $PARTS * 10 + 9) g;"
	echo "VACUUM ANALYZE;"
	echo "CHECKPOINT;"
} | single "$WORK/template" >/dev/null 2>"$WORK/setup.log"

# single-user mode reads a statement a line
: >"$WORK/empty.sql"
cheap_pairs "$CHEAP_PAIRS" hook_t >"$WORK/cheap.sql"
cheap_pairs "$PART_PAIRS" parted >"$WORK/partitions.sql"
{
	echo "BEGIN;"
	migration_units "$SCRIPT_UNITS"
	echo "COMMIT;"
} >"$WORK/script.sql"
# one query string (postgres -j: a query ends at a semicolon and an empty line)
string_of()
{
	migration_units "$1"
	echo
}
string_of "$STRING_SHORT" >"$WORK/string_short.sql"
string_of "$STRING_LONG" >"$WORK/string_long.sql"
declare -A STATEMENTS=([cheap]=$((CHEAP_PAIRS * 2)) [partitions]=$((PART_PAIRS * 2))
	[script]=$((SCRIPT_UNITS * 5)) [string_short]=$((STRING_SHORT * 5))
	[string_long]=$((STRING_LONG * 5)))
declare -A LABEL=([cheap]=cheap [partitions]=partitions [script]=script
	[string_short]="string of $((STRING_SHORT * 5))" [string_long]="string of $((STRING_LONG * 5))")

# instructions of one single-user run of a script
count()
{
	local script=$1 preload=$2 out opts=()
	[[ $script == string* ]] && opts=(-j)
	rm -rf "$WORK/data"
	cp -a "$WORK/template" "$WORK/data"
	out=$WORK/callgrind.out
	valgrind --tool=callgrind --callgrind-out-file="$out" -q \
		"$BIN/postgres" --single "${opts[@]}" -D "$WORK/data" -c log_min_messages=fatal \
		-c max_locks_per_transaction=1024 \
		-c shared_preload_libraries="$preload" postgres \
		<"$WORK/$script.sql" >/dev/null 2>>"$WORK/valgrind.log"
	awk '/^summary:/ { print $2 }' "$out"
}

empty_without=$(count empty '')
empty_with=$(count empty migguard)

echo "| case | statements | instructions/statement without | with | ratio with/without | added by migguard/statement |" >"$WORK/table"
echo "| --- | ---: | ---: | ---: | ---: | ---: |" >>"$WORK/table"
for case in cheap partitions script string_short string_long; do
	without=$(count "$case" '')
	with=$(count "$case" migguard)
	awk -v c="${LABEL[$case]}" -v n="${STATEMENTS[$case]}" -v a="$without" -v a0="$empty_without" \
		-v b="$with" -v b0="$empty_with" 'BEGIN {
		x = (a - a0) / n; y = (b - b0) / n;
		printf "| %s | %d | %.0f | %.0f | %.4f | %.0f |\n", c, n, x, y, y / x, y - x
	}' >>"$WORK/table"
done
cat "$WORK/table"

if [ -n "${BENCH_OUT:-}" ]; then
	{
		echo "## Hook cost: instructions per DDL statement"
		echo
		echo "Instructions counted by valgrind (callgrind) in a single-user backend, from"
		echo "the same cluster each run, less a run without statements; with and without"
		echo "migguard preloaded.  Deterministic, so it shows what migguard adds where CPU"
		echo "time on a shared machine cannot; it leaves out system calls and the watcher."
		echo "Target: ratio <= 1.02; what migguard adds to a statement of a query string"
		echo "does not grow with the string's length (PostgreSQL's own cost per statement"
		echo "does: each statement of the string runs in the same transaction)."
		echo
		cat "$WORK/table"
		echo
	} >"$BENCH_OUT/hook-instructions.md"
fi
