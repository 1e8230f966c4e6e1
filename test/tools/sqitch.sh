# sqitch (Debian's sqitch, libdbd-pg-perl) against the migguard cluster: the
# project in test/tools/sqitch.  Sourced by test/suites/20-tools.sh; defines
# test_sqitch.
# shellcheck shell=bash

# sq DB PLAN sqitch-command...: output in logs/sqitch/DB.txt (appended)
sq() {
	local db=$1 plan=$2
	shift 2
	(cd "$work/test/tools/sqitch" && SQITCH_FULLNAME="migguard tests" SQITCH_EMAIL=tests@migguard.invalid \
		sqitch --plan-file "$plan" "$@" --target "db:pg://postgres@127.0.0.1:$MG_PORT/$db" \
		--client "$MG_BIN/psql" >>"$TOOLS_TMP/logs/sqitch/$db.txt" 2>&1)
}

# the changes the registry records as deployed
sq_deployed() {
	mg_val "$1" "SELECT coalesce(string_agg(change, ' ' ORDER BY committed_at), '') FROM sqitch.changes"
}

test_sqitch() {
	local out=$TOOLS_TMP/logs/sqitch
	mkdir -p "$out"
	mg_psql postgres -c "CREATE DATABASE sqitch" -c "CREATE DATABASE sqitch_accepted"
	mg_psql sqitch -c "CREATE EXTENSION migguard"
	mg_psql sqitch_accepted -c "CREATE EXTENSION migguard"
	mg_big_table sqitch sq_big
	mg_big_table sqitch_accepted sq_big

	# the unsafe change fails with migguard's message (psql's, which sqitch
	# passes through); the deploy's automatic revert (mode "all") takes back
	# the change deployed before it in the same run
	! sq sqitch sqitch.plan deploy &&
		has "$out/sqitch.txt" 'ERROR:  CREATE INDEX on large table "sq_big" would block writes until the build ends' &&
		has "$out/sqitch.txt" "HINT:  Build it without blocking writes"
	result "sqitch: an unsafe change fails the deploy with migguard's message and hint" $?
	has "$out/sqitch.txt" "Reverting all changes" && has "$out/sqitch.txt" "  - widgets " &&
		[ "$(sq_deployed sqitch)" = "" ] &&
		[ "$(mg_val sqitch "SELECT count(*) FROM pg_class WHERE relname IN ('widgets', 'sq_big_qty')")" = 0 ]
	result "sqitch: the deploy's automatic revert leaves nothing deployed, nothing in the registry" $?

	# the same risk accepted for one change: SET LOCAL after the script's BEGIN
	sq sqitch_accepted accepted.plan deploy &&
		[ "$(sq_deployed sqitch_accepted)" = "widgets sq_big_note_index_accepted" ] &&
		[ "$(mg_val sqitch_accepted "SELECT count(*) FROM pg_class WHERE relname = 'sq_big_note'")" = 1 ]
	result "sqitch: a change that sets migguard.allow after its BEGIN deploys and verifies" $?
	sq sqitch_accepted accepted.plan revert -y &&
		[ "$(sq_deployed sqitch_accepted)" = "" ] &&
		[ "$(mg_val sqitch_accepted "SELECT count(*) FROM pg_class WHERE relname IN ('widgets', 'sq_big_note')")" = 0 ]
	result "sqitch: its revert, which accepts drop_index_not_concurrent the same way, reverts everything" $?
}
