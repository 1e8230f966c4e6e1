# Django (Debian's python3-django 3.2, python3-psycopg2) against the migguard
# cluster: the project in test/tools/django, one migration at a time.
# Sourced by test/suites/20-tools.sh; defines test_django.
# Debian's /usr/bin/python3, which has python3-django (not a python3 of
# pyenv or /usr/local found first on PATH).
# shellcheck shell=bash

# dj_migrate NAME [extra PGOPTIONS] [manage.py options]: migrate shop to NAME,
# output in logs/django/NAME.txt (appended)
dj_migrate() {
	local target=$1 opts=${2:-}
	shift 2 2>/dev/null || shift
	(cd "$work/test/tools/django" && MG_PORT=$MG_PORT MG_DB=django PGOPTIONS="$opts" \
		PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 manage.py migrate shop "$target" --no-input "$@" \
		>>"$TOOLS_TMP/logs/django/$target.txt" 2>&1)
}

# the migration is recorded as applied
dj_applied() {
	[ "$(mg_val django "SELECT count(*) FROM django_migrations WHERE app = 'shop' AND name = '$1'")" = 1 ]
}

dj_has_index() {
	[ "$(mg_val django "SELECT count(*) FROM pg_indexes WHERE tablename = 'shop_item' AND indexname = '$1'")" = 1 ]
}

dj_has_column() {
	[ "$(mg_val django "SELECT count(*) FROM information_schema.columns WHERE table_name = 'shop_item' AND column_name = '$1'")" = 1 ]
}

test_django() {
	local out=$TOOLS_TMP/logs/django
	mkdir -p "$out"
	mg_psql postgres -c "CREATE DATABASE django"
	mg_psql django -c "CREATE EXTENSION migguard"

	dj_migrate 0001_initial && dj_applied 0001_initial
	result "django: the initial migration (a new table, filled in its own transaction) applies" $?
	if ! dj_applied 0001_initial; then
		tail -n 20 "$out/0001_initial.txt"
		return
	fi

	# AddIndex: rejected with the hint, not recorded; marked as done with
	# --fake so that the next migrations can run
	! dj_migrate 0002_add_index_qty &&
		has "$out/0002_add_index_qty.txt" 'CREATE INDEX on large table "shop_item" would block writes until the build ends' &&
		has "$out/0002_add_index_qty.txt" "HINT:  Build it without blocking writes: CREATE INDEX CONCURRENTLY" &&
		! dj_applied 0002_add_index_qty && ! dj_has_index shop_item_qty_idx
	result "django: AddIndex on a large table is rejected with the hint, and not recorded" $?
	dj_migrate 0002_add_index_qty "" --fake

	# a bypass for one migration: RunSQL SET LOCAL migguard.allow first
	dj_migrate 0003_add_index_note_accepted && dj_applied 0003_add_index_note_accepted &&
		dj_has_index shop_item_note_idx
	result "django: a migration that starts with SET LOCAL migguard.allow applies" $?

	# AddIndexConcurrently in a migration with atomic = False
	dj_migrate 0004_add_index_concurrently && dj_applied 0004_add_index_concurrently &&
		[ "$(mg_val django "SELECT indisvalid FROM pg_index WHERE indexrelid = 'shop_item_qty_id_idx'::regclass")" = t ]
	result "django: AddIndexConcurrently (atomic = False) builds a valid index" $?

	# AlterField int -> bigint rewrites the table: rejected
	! dj_migrate 0005_alter_qty_bigint &&
		has "$out/0005_alter_qty_bigint.txt" 'would rewrite large table "shop_item"' &&
		has "$out/0005_alter_qty_bigint.txt" "Rule: alter_type_rewrite." &&
		! dj_applied 0005_alter_qty_bigint &&
		[ "$(mg_val django "SELECT data_type FROM information_schema.columns WHERE table_name = 'shop_item' AND column_name = 'qty'")" = integer ]
	result "django: AlterField int -> bigint on a large table is rejected" $?
	dj_migrate 0005_alter_qty_bigint "" --fake

	# RenameField: a warning Django never shows, an error with the strict preset
	local strict
	strict=$(strict_rule_levels)
	! dj_migrate 0006_rename_note "-c migguard.rule_levels=${strict// /}" &&
		has "$out/0006_rename_note.txt" "Rule: rename_incompatible." &&
		! dj_applied 0006_rename_note && dj_has_column note
	result "django: with the strict preset of migguard.rule_levels RenameField fails, and is not recorded" $?
	dj_migrate 0006_rename_note && dj_applied 0006_rename_note && dj_has_column remark
	result "django: without the preset RenameField applies" $?

	django_guard_tests
}

# The transaction guard, through Django: AddField takes ACCESS
# EXCLUSIVE, then RunPython works on for 6 s in the same transaction.
# Readers that queue behind the lock are bounded: RunPython's statement is
# cancelled with 55P03, the migration rolls back.
django_guard_tests() {
	local out=$TOOLS_TMP/logs/django
	behind_strong_lock django shop_item "$out/reader" dj_migrate 0007_add_field_then_work
	result "django: readers queued behind AddField's lock get their rows" $?
	! wait "$MIGRATE_PID" &&
		has "$out/0007_add_field_then_work.txt" "psycopg2.errors.LockNotAvailable" &&
		! dj_applied 0007_add_field_then_work && ! dj_has_column extra
	result "django: AddField + RunPython is bounded: it fails with 55P03 and rolls back" $?
}
