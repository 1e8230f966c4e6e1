#!/usr/bin/env bash
# The quickstart ends well: ./scripts/demo exits 0 after showing everything
# (the watcher's cancel, the events, the stats) and prints how to connect and
# how to stop; run a second time it rebuilds and restarts the same cluster
# and ends well again.  The demo's cluster listens on its Unix socket only.
set -euo pipefail

work=${MIGGUARD_WORK:?run by scripts/test}
. "$work/scripts/common.sh"

export MIGGUARD_DEMO_PORT=$((20000 + RANDOM % 20000))
bindir=$("$PG_CONFIG" --bindir)
logs=$(mktemp -d /tmp/migguard-demo-test.XXXXXX)
failures=0

stop_demo() {
	if [ -f "$work/.demo/data/postmaster.pid" ]; then
		as_pg "$bindir/pg_ctl" -D "$work/.demo/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
}
trap stop_demo EXIT

fail() {
	echo "not ok: $*"
	failures=$((failures + 1))
}

check_run() {
	local n=$1 log=$logs/demo$1.log status=0
	"$work/scripts/demo" >"$log" 2>&1 || status=$?
	if [ "$status" -ne 0 ]; then
		fail "demo run $n exited with status $status"
		tail -n 30 "$log"
		return
	fi
	echo "ok: demo run $n exited 0"
	# the last two lines say how to connect and how to stop
	local last
	last=$(grep -v '^[[:space:]]*$' "$log" | tail -n 2)
	if grep -q '^Connect: .*psql -h .*/\.demo/run -p '"$MIGGUARD_DEMO_PORT"' .*migguard_demo$' <<<"$last" &&
		grep -q '^Stop: .*pg_ctl -D .*/\.demo/data stop$' <<<"$last"; then
		echo "ok: demo run $n ends with the Connect: and Stop: lines"
	else
		fail "demo run $n does not end with Connect: / Stop: lines"
		echo "$last"
	fi
	# everything was shown before: a rejection with its hint, the dry run,
	# preflight, the lock-queue scene, the events and the stats
	local want
	for want in 'ERROR:  CREATE INDEX on large table "orders"' \
		'HINT:  Build it without blocking writes' \
		'statement_number' 'check_name' \
		'application query 3: 250000 rows' \
		'statements_checked'; do
		grep -qF -- "$want" "$log" || fail "demo run $n did not show: $want"
	done
	# the Connect: line works as printed
	local connect
	connect=$(sed -n 's/^Connect: *//p' "$log" | tail -n 1)
	if as_pg $connect -XAtc "SELECT extversion FROM pg_extension WHERE extname = 'migguard'" >/dev/null 2>&1; then
		echo "ok: demo run $n: the Connect: command connects"
	else
		fail "demo run $n: the Connect: command does not connect: $connect"
	fi
}

check_run 1
check_run 2

# the Stop: line stops it
stop=$(sed -n 's/^Stop: *//p' "$logs/demo2.log" | tail -n 1)
if [ -n "$stop" ] && $stop >/dev/null 2>&1 && ! as_pg "$bindir/pg_ctl" -D "$work/.demo/data" status >/dev/null 2>&1; then
	echo "ok: the Stop: command stops the cluster"
else
	fail "the Stop: command did not stop the cluster: $stop"
fi

if [ "$failures" -eq 0 ]; then
	rm -rf "$logs"
	echo "25-demo: every check passed"
	exit 0
fi
echo "25-demo: $failures checks failed (logs in $logs)"
exit 1
