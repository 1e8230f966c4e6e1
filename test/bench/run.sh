#!/bin/bash
# `make bench`: every benchmark in one run, each on throwaway clusters of its
# own under /tmp.  Writes a Markdown report (report.md), its data and PNG
# plots into BENCH_OUT (default bench-results/, ignored by git), then prints
# the summary tables.  A benchmark: it never fails on a number; it exits
# non-zero only when a script itself breaks.
#
#   make bench                  the full run (about 25 minutes on 2 cores)
#   make bench BENCH_SMOKE=1    a short run of every script (2-3 minutes)
#
# Environment: PG_CONFIG, BENCH_OUT, BENCH_SMOKE, BENCH_REPEAT (runs of each
# lock-queue scenario), BENCH_PARTS (which of lock_queue idle_overhead
# hook_overhead hook_instructions watch_scan_cost to run).  Needs migguard
# installed into PG_CONFIG's PostgreSQL (`make bench` does `make install`
# first); as root it installs gnuplot-nox and valgrind if missing and runs
# the rest as the postgres OS user.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/scripts/common.sh"
export PG_CONFIG
OUT=${BENCH_OUT:-$top/bench-results}
PARTS=${BENCH_PARTS:-"lock_queue idle_overhead hook_overhead hook_instructions watch_scan_cost"}

if [ "$(id -u)" = 0 ]; then
	ensure_packages "gnuplot-nox valgrind"
	mkdir -p "$OUT"
	chown "$PG_USER" "$OUT"
	BENCH_COMMIT=$(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)
	export BENCH_COMMIT BENCH_OUT=$OUT
	exec runuser -u "$PG_USER" -- "$0" "$@"
fi

if [ ! -f "$("$PG_CONFIG" --pkglibdir)/migguard.so" ]; then
	echo "migguard is not installed in $("$PG_CONFIG" --pkglibdir): run make install (or make bench) first" >&2
	exit 1
fi
mkdir -p "$OUT"
export BENCH_OUT=$OUT
rm -f "$OUT"/*.md "$OUT"/*.png "$OUT"/*.dat "$OUT"/*.tsv "$OUT"/*.log

mode=full
if [ -n "${BENCH_SMOKE:-}" ] && [ "$BENCH_SMOKE" != 0 ]; then mode="smoke (BENCH_SMOKE=1: short runs, figures not meaningful)"; fi
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$(date +%s)

broken=""
for part in $PARTS; do
	echo "=== $part"
	t0=$(date +%s)
	if "$here/$part.sh" >"$OUT/$part.log" 2>&1; then
		echo "    done in $(($(date +%s) - t0)) s"
	else
		echo "    FAILED (exit $?) after $(($(date +%s) - t0)) s; last lines of $OUT/$part.log:"
		tail -n 20 "$OUT/$part.log" | sed 's/^/    /'
		broken="$broken $part"
	fi
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
mem=$(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo)
{
	echo "# migguard benchmarks"
	echo
	echo "- command: \`${BENCH_COMMAND:-make bench${BENCH_SMOKE:+ BENCH_SMOKE=$BENCH_SMOKE}}\`, mode: $mode"
	echo "- started $started, took $(( ($(date +%s) - t_start) / 60 )) min; migguard ${BENCH_COMMIT:-unknown}"
	echo "- machine: $(nproc) cores ($cpu), $mem memory; $("$("$PG_CONFIG" --bindir)/postgres" --version)"
	echo "- load average (1, 5, 15 min) at the start: $load_start, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "  (other work on the machine shows here: figures from a busy machine are noisier)"
	echo
	for part in lock-queue idle-overhead hook-cost hook-instructions watcher-cost; do
		[ -f "$OUT/$part.md" ] && cat "$OUT/$part.md"
	done
	if [ -n "$broken" ]; then
		echo "## Scripts that failed"
		echo
		echo "$broken (see their .log files)"
	fi
} >"$OUT/report.md"

echo
echo "=== summary (report: $OUT/report.md)"
for part in lock-queue idle-overhead hook-cost hook-instructions watcher-cost; do
	[ -f "$OUT/$part.md" ] || continue
	echo
	head -1 "$OUT/$part.md"
	grep '^|' "$OUT/$part.md"
done
if [ -n "$broken" ]; then
	echo
	echo "benchmark scripts that broke:$broken"
	exit 1
fi
