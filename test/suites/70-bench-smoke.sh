#!/usr/bin/env bash
# Suite: `make bench BENCH_SMOKE=1`, so that the benchmark scripts cannot
# rot.  Asserts only that every script ran and wrote its part of the report
# (tables with figures in them, the plots), never what a figure is.
set -euo pipefail

out=$(mktemp -d /tmp/migguard-bench-smoke.XXXXXX)
trap 'rm -rf "$out"' EXIT

make -C "$MIGGUARD_WORK" -s bench BENCH_SMOKE=1 BENCH_OUT="$out" PG_CONFIG="$PG_CONFIG"

report=$out/report.md
fail=0
bad() {
	echo "bench smoke: $*" >&2
	fail=1
}

[ -s "$report" ] || bad "no report"
for section in "Lock queue" "Idle overhead" "Hook cost" "Hook cost: instructions" "Watcher cost"; do
	grep -q "^## $section" "$report" || bad "the report has no section \"$section\""
done
for scenario in reader held intermittent; do
	magic=$(head -c 4 "$out/lock-queue-$scenario.png" 2>/dev/null | od -An -c | tr -d ' ')
	[ "$magic" = '211PNG' ] || bad "no plot lock-queue-$scenario.png"
done
# one row per scenario and setup, each with figures and the DDL's outcome
if ! awk -F'\t' 'NF < 13 || $4 + 0 < 1 || $6 !~ /^[0-9.]+$/ || $8 !~ /^(completed|failed)/ { bad = 1 }
	END { exit (bad || NR < 6) }' "$out/lock-queue.tsv"; then
	bad "lock-queue rows without figures"
fi
grep -Eq '^\| select-only \| 1 \| [0-9]+ \| [0-9]+ \| [0-9.]+ \|' "$report" ||
	bad "idle overhead without a ratio"
[ "$(grep -Ec '^\| (cheap|partitions|script) \| [0-9]+ \| 1 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|' "$report")" = 3 ] ||
	bad "hook cost without its three ratios"
[ "$(grep -Ec '^\| (cheap|partitions|script) \| [0-9]+ \| [0-9]+ \| [0-9]+ \| [0-9.]+ \| -?[0-9]+ \|$' "$report")" = 3 ] ||
	bad "hook instructions without its three ratios"
[ "$(grep -Ec '^\| string of [0-9]+ \| [0-9]+ \| [0-9]+ \| [0-9]+ \| [0-9.]+ \| -?[0-9]+ \|$' "$report")" = 2 ] ||
	bad "hook instructions without its two query strings"
[ "$(grep -Ec '^\| (connections|locks) \| [0-9]+ \(' "$report")" = 2 ] ||
	bad "watcher cost without its two rows"
grep -Eq 'the watcher woke \*\*[0-9]+\*\* times' "$report" || bad "watcher cost without the idle wake-ups"

if [ "$fail" != 0 ]; then
	echo "=== $report"
	cat "$report"
	exit 1
fi
echo "bench smoke: every benchmark script ran and reported"
