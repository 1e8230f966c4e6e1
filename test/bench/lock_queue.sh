#!/bin/bash
# Benchmark, not a test: what a DDL stuck in (or holding) a lock queue does to
# the application's latency, for several setups side by side in one run.
#
# Setups:
#   none              no migguard, the DDL session has no lock_timeout
#   lock_timeout_5s   no migguard, the DDL session sets lock_timeout = 5s
#   lock_timeout_10s  the same with 10s
#   500ms_10_retries  lock_timeout = 500ms, and the client tries again up to
#                     10 times after a 55P03, with an exponential backoff
#                     (100 ms doubling up to 1 s, with jitter), as
#                     migration tools such as pgroll do
#   migguard_stmt     migguard with the transaction guard off
#                     (migguard.wait_outside_queue = off,
#                     migguard.guard_transactions = off); skipped when the
#                     build has no such settings
#   migguard          migguard preloaded, every setting at its default
#
# Scenarios (t = seconds after pgbench started):
#   reader        at t=2 a transaction reads the table and sleeps 5 s; at
#                 t=3 ALTER TABLE ... ADD COLUMN starts
#   held          at t=3 BEGIN; ALTER TABLE ... ADD COLUMN; SELECT
#                 pg_sleep(4); COMMIT (a migration doing other work after
#                 its DDL, in the same transaction)
#   intermittent  from t=2, a transaction reads the table for 1 s every 3 s,
#                 for 30 s; at t=2.2 ALTER TABLE ... ADD COLUMN starts
#
# Application: pgbench, 8 clients, an open-loop rate of 500 transactions/s
# (read a row, update it, by primary key); a transaction's latency counts
# from its scheduled start, as a user arriving at that moment sees it.
#
# Per setup and scenario: the application's transactions in the window
# (from the DDL's start to 1 s after its end), their p99 and max latency,
# the failed ones, and the DDL's outcome and duration.  With BENCH_OUT set it
# also writes lock-queue.md, lock-queue.tsv and one latency-over-time plot
# per scenario (gnuplot).
#
# Run as root or as the postgres OS user, after `make install`:
#   test/bench/lock_queue.sh
# Environment: BENCH_REPEAT (runs of every scenario, default 1),
# BENCH_SMOKE=1 (short scenarios, setups none and migguard only),
# BENCH_SETUPS / BENCH_SCENARIOS (space-separated subsets).
set -euo pipefail

if [ "$(id -u)" = 0 ]; then
	exec runuser -u postgres -- "$0" "$@"
fi

PORT=5488
BENCH_CONF="max_connections = 50
fsync = off
synchronous_commit = off
log_min_messages = warning"
. "$(dirname "$0")/common.sh"

CLIENTS=8
RATE=500
REPEAT=${BENCH_REPEAT:-1}
if smoke; then
	READER_S=2 HELD_S=2 BLOCKERS=2
	SETUPS=${BENCH_SETUPS:-"none migguard"}
	REPEAT=1
else
	READER_S=5 HELD_S=4 BLOCKERS=10
	SETUPS=${BENCH_SETUPS:-"none lock_timeout_5s lock_timeout_10s 500ms_10_retries migguard_stmt migguard"}
fi
SCENARIOS=${BENCH_SCENARIOS:-"reader held intermittent"}

cat >"$WORK/app.sql" <<'SQL'
\set id random(1, 100000)
SELECT v FROM bench WHERE id = :id;
UPDATE bench SET v = v + 1 WHERE id = :id;
SQL

now() { date +%s.%N; }

# sleep until T0 + $1 seconds
sleep_until()
{
	local d
	d=$(awk -v t0="$T0" -v at="$1" -v now="$(now)" 'BEGIN { d = t0 + at - now; print (d > 0 ? d : 0) }')
	sleep "$d"
}

# The DDL's session: the setup's lock_timeout and, for 500ms_10_retries,
# the client's retries.  Arguments: psql -c commands.  Writes ddl_start,
# ddl_end, ddl_result, ddl_tries into $RUN.
run_ddl()
{
	local setup=$1
	shift
	local pre=() tries=1 max_tries=1 delay_ms=100 out
	case $setup in
	lock_timeout_5s) pre=(-c "SET lock_timeout = '5s'") ;;
	lock_timeout_10s) pre=(-c "SET lock_timeout = '10s'") ;;
	500ms_10_retries) pre=(-c "SET lock_timeout = '500ms'") max_tries=11 ;;
	esac
	now >"$RUN.ddl_start"
	while :; do
		out=ok
		if ! "${PSQL[@]}" -v ON_ERROR_STOP=1 -v VERBOSITY=verbose "${pre[@]}" "$@" \
			>"$RUN.ddl_out" 2>&1; then
			out=$(grep -oE 'ERROR: +[0-9A-Z]{5}' "$RUN.ddl_out" | head -1 | awk '{ print $2 }')
			out=${out:-error}
		fi
		if [ "$out" = 55P03 ] && [ "$tries" -lt "$max_tries" ]; then
			sleep "$(awk -v d="$delay_ms" -v r="$RANDOM" 'BEGIN { printf "%.3f", d * (0.5 + r / 65536) / 1000 }')"
			delay_ms=$((delay_ms * 2 > 1000 ? 1000 : delay_ms * 2))
			tries=$((tries + 1))
			continue
		fi
		break
	done
	now >"$RUN.ddl_end"
	echo "$out" >"$RUN.ddl_result"
	echo "$tries" >"$RUN.ddl_tries"
}

prepare()
{
	local setup=$1
	case $setup in
	none | lock_timeout_* | 500ms_10_retries) bench_start "" ;;
	migguard) bench_start migguard ;;
	migguard_stmt)
		bench_start migguard
		if [ "$("${PSQL[@]}" -At -c "SELECT count(*) FROM pg_settings WHERE name IN
			('migguard.wait_outside_queue', 'migguard.guard_transactions')")" != 2 ]; then
			return 1
		fi
		bench_start migguard -c migguard.wait_outside_queue=off -c migguard.guard_transactions=off
		;;
	esac
	PGOPTIONS='-c migguard.mode=off -c client_min_messages=warning' "${PSQL[@]}" \
		-c "DROP TABLE IF EXISTS bench" \
		-c "CREATE TABLE bench (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)" \
		-c "INSERT INTO bench (id) SELECT generate_series(1, 100000)" \
		-c "VACUUM ANALYZE bench" -c "CHECKPOINT"
	case $setup in
	migguard*)
		"${PSQL[@]}" -c "SET client_min_messages = warning" \
			-c "CREATE EXTENSION IF NOT EXISTS migguard"
		"${PSQL[@]}" -At -c "SELECT current_setting('migguard.max_queue_wait'),
			current_setting('migguard.watch_interval')" >"$WORK/mg_settings"
		;;
	esac
}

# One scenario under one setup; leaves pgbench's log and the DDL's files
# under the prefix $RUN.
run_scenario()
{
	local scenario=$1 setup=$2 secs
	case $scenario in
	reader) secs=$((READER_S + 7)) ;;
	held) secs=$((HELD_S + 6)) ;;
	intermittent) secs=$((BLOCKERS * 3 + 3)) ;;
	esac

	rm -f "$RUN".*
	T0=$(now)
	echo "$T0" >"$RUN.t0"
	"${PGBENCH[@]}" -n -c "$CLIENTS" -j 2 -R "$RATE" -T "$secs" -f "$WORK/app.sql" \
		-l --log-prefix="$RUN.log" postgres >"$RUN.pgbench" 2>&1 &

	case $scenario in
	reader)
		sleep_until 2
		( "${PSQL[@]}" -c "BEGIN" -c "SELECT count(*) FROM bench" \
			-c "SELECT pg_sleep($READER_S)" -c "COMMIT" >/dev/null
		  now >"$RUN.reader_end" ) &
		sleep_until 3
		run_ddl "$setup" -c "ALTER TABLE bench ADD COLUMN note text"
		;;
	held)
		sleep_until 3
		run_ddl "$setup" -c "BEGIN" -c "ALTER TABLE bench ADD COLUMN note text" \
			-c "SELECT pg_sleep($HELD_S)" -c "COMMIT"
		;;
	intermittent)
		( for i in $(seq 0 $((BLOCKERS - 1))); do
			sleep_until $((2 + 3 * i))
			"${PSQL[@]}" -c "BEGIN" -c "SELECT count(*) FROM bench" \
				-c "SELECT pg_sleep(1)" -c "COMMIT" >/dev/null
		  done ) &
		sleep_until 2.2
		run_ddl "$setup" -c "ALTER TABLE bench ADD COLUMN note text"
		;;
	esac
	# the blockers, the reader and pgbench
	wait || true

	case $setup in
	migguard*)
		"${PSQL[@]}" -At -c "SELECT 1 + count(*) FROM migguard.events
			WHERE action = 'retry' AND event_time >= to_timestamp($T0)" \
			>"$RUN.ddl_tries" 2>/dev/null || echo "?" >"$RUN.ddl_tries"
		;;
	esac
}

# Figures of one run: a TSV row, and the latency series for the plot.
measure()
{
	local scenario=$1 setup=$2 run=$3
	local t0 ds de result tries reader_end=""
	t0=$(cat "$RUN.t0")
	ds=$(cat "$RUN.ddl_start")
	de=$(cat "$RUN.ddl_end")
	result=$(cat "$RUN.ddl_result")
	tries=$(cat "$RUN.ddl_tries")
	[ -f "$RUN.reader_end" ] && reader_end=$(cat "$RUN.reader_end")

	# log line: client_id transaction_no latency_us script_no epoch epoch_us [lag]
	cat "$RUN".log.* 2>/dev/null | awk -v ws="$ds" -v we="$de" -v t0="$t0" \
		-v series="$RUN.series" '
	{
		end = $5 + $6 / 1e6
		if ($3 !~ /^[0-9]+$/) {
			if (end >= ws && end <= we + 1) failed++
			next
		}
		lat = $3 / 1000.0
		start = end - lat / 1000.0
		b = int((start - t0) * 10)
		if (!(b in bmax) || lat > bmax[b]) bmax[b] = lat
		if (start < we + 1 && end > ws) print lat
	}
	END {
		for (b in bmax) printf "%.1f %.3f\n", b / 10.0, bmax[b] > series
		printf "%d\n", failed > "/dev/stderr"
	}' 2>"$RUN.failed" | sort -g >"$RUN.lat"
	sort -g -o "$RUN.series" "$RUN.series" 2>/dev/null || : >"$RUN.series"

	local n p99 max failed aborted ddl_s after_reader="-"
	n=$(wc -l <"$RUN.lat")
	p99=$(awk -v n="$n" 'NR == int(n * 0.99 + 0.999999) { printf "%.1f\n", $1; exit }' "$RUN.lat")
	max=$(tail -1 "$RUN.lat" | awk '{ printf "%.1f\n", $1 }')
	failed=$(grep -oP 'number of failed transactions: \K[0-9]+' "$RUN.pgbench" || cat "$RUN.failed")
	if grep -q 'aborted in command' "$RUN.pgbench"; then
		failed="$failed+aborted clients"
	fi
	ddl_s=$(awk -v a="$ds" -v b="$de" 'BEGIN { printf "%.2f", b - a }')
	if [ -n "$reader_end" ]; then
		after_reader=$(awk -v a="$reader_end" -v b="$de" 'BEGIN { printf "%+.0f", (b - a) * 1000 }')
	fi
	local outcome
	if [ "$result" = ok ]; then outcome=completed; else outcome="failed ($result)"; fi
	printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" \
		"$scenario" "$setup" "$run" "$n" "${p99:-n/a}" "${max:-n/a}" "$failed" \
		"$outcome" "$tries" "$ddl_s" "$after_reader" \
		"$(awk -v a="$t0" -v b="$ds" 'BEGIN { printf "%.2f", b - a }')" \
		"$(awk -v a="$t0" -v b="$de" 'BEGIN { printf "%.2f", b - a }')" >>"$WORK/rows.tsv"
}

# One PNG per scenario: the worst latency per 100 ms (by scheduled start),
# one line per setup, the DDL's start (dashed) and end (dotted) marked in
# the setup's colour.
plot()
{
	local scenario=$1 png=$2 title=$3
	local cmds="" plots="" i=0 setup f
	command -v gnuplot >/dev/null || return 0
	for setup in $SETUPS; do
		f="$WORK/$scenario-$setup-1"
		[ -s "$f.series" ] || continue
		i=$((i + 1))
		local row
		row=$(awk -F'\t' -v s="$scenario" -v u="$setup" '$1 == s && $2 == u && $3 == 1' "$WORK/rows.tsv")
		local xs xe
		xs=$(echo "$row" | cut -f12)
		xe=$(echo "$row" | cut -f13)
		cmds+="set arrow from $xs, graph 0 to $xs, graph 1 nohead lc $i dt 2 lw 1.5
set arrow from $xe, graph 0 to $xe, graph 1 nohead lc $i dt 3 lw 2
"
		plots+="${plots:+, }'$f.series' using 1:2 with steps lc $i lw 1.5 title '$setup'"
	done
	[ -n "$plots" ] || return 0
	gnuplot <<GP
set terminal pngcairo size 1100,520 font 'sans,10' noenhanced
set output '$png'
set title "$title"
set xlabel 'seconds since the application load started (DDL start dashed, DDL end dotted)'
set ylabel 'worst application latency per 100 ms (ms)'
set logscale y
set yrange [0.5:20000]
set grid ytics
set key top right
$cmds
plot $plots
GP
}

: >"$WORK/rows.tsv"
for run in $(seq 1 "$REPEAT"); do
	for scenario in $SCENARIOS; do
		for setup in $SETUPS; do
			RUN="$WORK/$scenario-$setup-$run"
			if ! prepare "$setup"; then
				printf "%s\t%s\t%s\tskipped: no migguard.wait_outside_queue or migguard.guard_transactions in this build, or the server failed\n" \
					"$scenario" "$setup" "$run" >>"$WORK/rows.tsv"
				continue
			fi
			run_scenario "$scenario" "$setup"
			measure "$scenario" "$setup" "$run"
		done
	done
done

header="| scenario | setup | run | app txns in window | p99 ms | max ms | failed | DDL | DDL tries | DDL ran (s since load start) | DDL took s | DDL end vs reader end ms |"
rule="| --- | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | --- | ---: | ---: |"
table()
{
	echo "$header"
	echo "$rule"
	awk -F'\t' 'NF < 6 { printf "| %s | %s | %s | %s | | | | | | | | |\n", $1, $2, $3, $4; next }
		{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s-%s | %s | %s |\n",
			$1, $2, $3, $4, $5, $6, $7, $8, $9, $12, $13, $10, $11 }' "$WORK/rows.tsv"
}

# The targets of issue 10 for migguard's defaults, as observed (every run).
targets()
{
	[ -s "$WORK/mg_settings" ] || return 0
	local qw iv
	qw=$(cut -d'|' -f1 "$WORK/mg_settings" | sed 's/ms$//')
	iv=$(cut -d'|' -f2 "$WORK/mg_settings" | sed 's/ms$//')
	awk -F'\t' -v qw="$qw" -v iv="$iv" '
	NF >= 13 { max[$1, $2, $3] = $6; ddl[$1, $2, $3] = $8; after[$1, $2, $3] = $11
		if ($2 == "migguard") runs[$1, $3] = 1 }
	function verdict(ok) { return ok ? "met" : "**not met**" }
	END {
		for (k in runs) {
			split(k, p, SUBSEP); sc = p[1]; r = p[2]; key = sc SUBSEP "migguard" SUBSEP r
			if (sc == "reader")
				printf "- reader, run %s: longest application transaction %s ms (target <= 50 ms), DDL %s, %s ms after the reader ended (target <= 250 ms): %s\n",
					r, max[key], ddl[key], after[key],
					verdict(max[key] <= 50 && ddl[key] == "completed" && after[key] <= 250)
			else if (sc == "held")
				printf "- held, run %s: longest application transaction %s ms (target <= max_queue_wait + 2 x watch_interval + 50 ms = %d ms): %s\n",
					r, max[key], qw + 2 * iv + 50, verdict(max[key] <= qw + 2 * iv + 50)
			else if (sc == "intermittent") {
				b = max[sc, "lock_timeout_5s", r]; c = max[sc, "500ms_10_retries", r]
				printf "- intermittent, run %s: DDL %s; longest application transaction %s ms, against %s ms with lock_timeout 5s and %s ms with 500 ms and retries (target: completes, and lower than both): %s\n",
					r, ddl[key], max[key], (b == "" ? "n/a" : b), (c == "" ? "n/a" : c),
					verdict(ddl[key] == "completed" && (b == "" || max[key] < b + 0) && (c == "" || max[key] < c + 0))
			}
		}
	}' "$WORK/rows.tsv" | sort
}

table
echo
targets
echo
echo "pgbench: $CLIENTS clients at $RATE transactions/s; reader ${READER_S} s, held ${HELD_S} s, $BLOCKERS intermittent blockers; window: DDL start to 1 s after its end; $(nproc) cores"

if [ -n "${BENCH_OUT:-}" ]; then
	cp "$WORK/rows.tsv" "$BENCH_OUT/lock-queue.tsv"
	for scenario in $SCENARIOS; do
		case $scenario in
		reader) title="a ${READER_S} s reader blocks ALTER TABLE from t=3 s" ;;
		held) title="BEGIN; ALTER TABLE; ${HELD_S} s of other work; COMMIT, from t=3 s" ;;
		intermittent) title="readers of 1 s every 3 s from t=2 s; ALTER TABLE from t=2.2 s" ;;
		esac
		plot "$scenario" "$BENCH_OUT/lock-queue-$scenario.png" "$title (run 1)"
		for setup in $SETUPS; do
			[ -f "$WORK/$scenario-$setup-1.series" ] &&
				cp "$WORK/$scenario-$setup-1.series" "$BENCH_OUT/lock-queue-$scenario-$setup.dat"
		done
	done
	{
		echo "## Lock queue: application latency while a DDL waits for, or holds, its lock"
		echo
		echo "pgbench: $CLIENTS clients at $RATE transactions/s (read and update one row by"
		echo "primary key); latency counts from a transaction's scheduled start.  Scenarios:"
		echo "**reader**: at t=2 s a transaction reads the table and sleeps ${READER_S} s, at t=3 s"
		echo "\`ALTER TABLE ... ADD COLUMN\` starts; **held**: at t=3 s \`BEGIN; ALTER TABLE ...;"
		echo "SELECT pg_sleep(${HELD_S}); COMMIT\`; **intermittent**: $BLOCKERS readers of 1 s, one every"
		echo "3 s from t=2 s, \`ALTER TABLE\` from t=2.2 s.  The window runs from the DDL's start"
		echo "to 1 s after its end.  \"DDL tries\": the client's attempts (500ms_10_retries)"
		echo "or migguard's own (1 + its retry events)."
		echo
		table
		echo
		if [ -s "$WORK/mg_settings" ]; then
			echo "Targets for migguard's defaults (issue 10; migguard.max_queue_wait"
			echo "$(cut -d'|' -f1 "$WORK/mg_settings"), migguard.watch_interval $(cut -d'|' -f2 "$WORK/mg_settings")):"
			echo
			targets
			echo
		fi
		for scenario in $SCENARIOS; do
			[ -f "$BENCH_OUT/lock-queue-$scenario.png" ] &&
				echo "![lock queue, $scenario](lock-queue-$scenario.png)"
		done
		echo
	} | bench_md lock-queue.md
fi
