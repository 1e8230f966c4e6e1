# node-pg-migrate (pinned in test/tools/node/package-lock.json) against the
# migguard cluster.  Sourced by test/suites/20-tools.sh; defines test_node.
# Each scenario is a directory of migrations under test/tools/node/migrations
# with a migrations table of its own.
# shellcheck shell=bash

# npm ci from the lockfile into a cache outside the checkout, once per
# lockfile
node_setup() {
	local src=$work/test/tools/node sum cache
	sum=$(sha256sum "$src/package-lock.json" | cut -c1-16)
	cache=${MIGGUARD_CACHE:-${HOME:-/tmp}/.cache/migguard}/node-$sum
	if [ ! -x "$cache/node_modules/.bin/node-pg-migrate" ]; then
		rm -rf "$cache"
		mkdir -p "$cache"
		cp "$src/package.json" "$src/package-lock.json" "$cache/"
		(cd "$cache" && npm ci --no-audit --no-fund --loglevel=error) || return 1
	fi
	NPM_MIGRATE=$cache/node_modules/.bin/node-pg-migrate
}

# npm_migrate SCENARIO [extra PGOPTIONS]: node-pg-migrate up, output in
# logs/node/SCENARIO.txt (appended)
npm_migrate() {
	local scenario=$1 opts=${2:-}
	(cd "$TOOLS_TMP" && DATABASE_URL="postgres://postgres@127.0.0.1:$MG_PORT/npm" PGOPTIONS="$opts" \
		"$NPM_MIGRATE" up -m "$work/test/tools/node/migrations/$scenario" -t "migrations_$scenario" \
		>>"$TOOLS_TMP/logs/node/$scenario.txt" 2>&1)
}

# the number of migrations recorded in a scenario's table
npm_recorded() {
	mg_val npm "SELECT count(*) FROM migrations_$1"
}

test_node() {
	local out=$TOOLS_TMP/logs/node
	mkdir -p "$out"
	if ! node_setup >"$out/npm-ci.txt" 2>&1; then
		cat "$out/npm-ci.txt"
		not_ok "node-pg-migrate: npm ci from the lockfile"
		return
	fi
	mg_psql postgres -c "CREATE DATABASE npm"
	mg_psql npm -c "CREATE EXTENSION migguard"
	mg_big_table npm np_big
	mg_big_table npm np_big2
	mg_big_table npm np_big3
	mg_big_table npm np_big4

	# a safe migration applies and is recorded
	npm_migrate safe &&
		[ "$(npm_recorded safe)" = 1 ] &&
		[ "$(mg_val npm "SELECT count(*) FROM pg_attribute WHERE attrelid = 'np_big'::regclass AND attname = 'flag'")" = 1 ]
	result "node-pg-migrate: a safe migration applies and is recorded" $?

	# an unsafe one fails with migguard's message and is not recorded
	! npm_migrate unsafe &&
		has "$out/unsafe.txt" 'CREATE INDEX on large table "np_big" would block writes until the build ends' &&
		has "$out/unsafe.txt" "55MG1" &&
		[ "$(npm_recorded unsafe)" = 0 ] &&
		[ "$(mg_val npm "SELECT count(*) FROM pg_index WHERE indrelid = 'np_big'::regclass AND NOT indisprimary")" = 0 ]
	result "node-pg-migrate: an unsafe migration fails with migguard's message (55MG1) and is not recorded" $?

	# a noTransaction migration builds an index concurrently
	npm_migrate concurrent &&
		[ "$(npm_recorded concurrent)" = 1 ] &&
		[ "$(mg_val npm "SELECT indisvalid FROM pg_index WHERE indexrelid = 'np_big_qty_cc'::regclass")" = t ]
	result "node-pg-migrate: a noTransaction migration builds a valid index CONCURRENTLY" $?

	# a bypass for one migration: SET LOCAL in its transaction, reset at its end
	npm_migrate bypass &&
		[ "$(npm_recorded bypass)" = 1 ] &&
		[ "$(mg_val npm "SELECT count(*) FROM pg_class WHERE relname = 'np_big_id_accepted'")" = 1 ]
	result "node-pg-migrate: a migration that sets migguard.allow for its own transaction applies" $?
	! npm_migrate bypass_scope &&
		has "$out/bypass_scope.txt" 'CREATE INDEX "np_big_qty_not_accepted"' &&
		has "$out/bypass_scope.txt" "index_not_concurrent" &&
		[ "$(npm_recorded bypass_scope)" = 0 ]
	result "node-pg-migrate: the bypass, reset at the migration's end, does not cover the next migration of the run" $?

	# a warning-level rule: invisible by default, an error with the strict preset
	local strict warns_before
	strict=$(strict_rule_levels)
	! npm_migrate strict "-c migguard.rule_levels=${strict// /}" &&
		has "$out/strict.txt" 'rename_incompatible' &&
		[ "$(npm_recorded strict)" = 0 ]
	result "node-pg-migrate: with the strict preset of migguard.rule_levels a rename fails, and is not recorded" $?
	warns_before=$(mg_events npm warn)
	npm_migrate strict &&
		[ "$(npm_recorded strict)" = 1 ] &&
		[ "$(mg_events npm warn)" -gt "$warns_before" ]
	result "node-pg-migrate: without the preset the rename applies (its warning only reaches the server's events)" $?

	node_guard_tests
}

# The transaction guard, through node-pg-migrate.
node_guard_tests() {
	local out=$TOOLS_TMP/logs/node migrate

	# Several pending migrations run in one transaction: the first takes
	# ACCESS EXCLUSIVE on np_big2, the second works on for 6 s.  Readers
	# that queue behind the lock are bounded: the running statement is
	# cancelled with 55P03, the transaction rolls back, nothing is recorded.
	behind_strong_lock npm np_big2 "$out/pending_reader" npm_migrate pending
	result "node-pg-migrate: readers queued behind a pending migration's lock get their rows" $?
	! wait "$MIGRATE_PID" &&
		has "$out/pending.txt" "code: '55P03'" &&
		[ "$(npm_recorded pending)" = 0 ] &&
		[ "$(mg_val npm "SELECT count(*) FROM pg_attribute WHERE attrelid = 'np_big2'::regclass AND attname = 'extra'")" = 0 ]
	result "node-pg-migrate: the migration run fails with 55P03, rolled back, nothing recorded" $?

	# A migration behind a long report waits beside the lock queue: readers
	# arriving meanwhile are never blocked (they finish while the report
	# still runs, and the watcher never had to cancel anything), and the
	# migration applies once the report has ended.
	local cancels_before
	cancels_before=$(mg_events npm cancel)
	mg_holder npm np_big4 5
	npm_migrate beside &
	migrate=$!
	mg_wait_for npm "SELECT count(*) > 0 FROM pg_stat_activity WHERE pid <> pg_backend_pid()
		AND state = 'active' AND query LIKE '%ALTER TABLE \"np_big4\"%'"
	readers "$out/beside_reader" 3 mg_psql npm -At -c "SELECT count(*) FROM np_big4" &&
		mg_holder_active npm && [ "$(mg_events npm cancel)" = "$cancels_before" ]
	result "node-pg-migrate: readers are never blocked by a migration that waits beside the lock queue" $?
	wait "$migrate" && [ "$(npm_recorded beside)" = 1 ] &&
		[ "$(mg_val npm "SELECT count(*) FROM pg_attribute WHERE attrelid = 'np_big4'::regclass AND attname = 'status'")" = 1 ]
	result "node-pg-migrate: ... and applies once the report has ended" $?
	wait "$HOLDER_PID" 2>/dev/null

	# The DDL of a migration loses its lock wait behind a reader (the
	# watcher cancels it as readers queue); migguard retries it inside
	# node-pg-migrate's transaction, and once the reader has ended the
	# migration applies.
	local retries_before
	mg_young_holders npm
	retries_before=$(mg_events npm retry)
	mg_holder npm np_big3 5
	npm_migrate retry &
	migrate=$!
	mg_wait_waiters npm np_big3 1
	readers "$out/retry_reader" 3 mg_psql npm -At -c "SELECT count(*) FROM np_big3"
	local status=$?
	wait "$migrate" &&
		[ "$status" -eq 0 ] &&
		[ "$(npm_recorded retry)" = 1 ] &&
		[ "$(mg_val npm "SELECT count(*) FROM pg_attribute WHERE attrelid = 'np_big3'::regclass AND attname = 'later'")" = 1 ] &&
		[ "$(mg_events npm retry)" -gt "$retries_before" ]
	result "node-pg-migrate: a DDL that loses its lock wait is retried inside the tool's transaction and applies" $?
	wait "$HOLDER_PID" 2>/dev/null
}
