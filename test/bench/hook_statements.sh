# Sourced by hook_overhead.sh and hook_instructions.sh: the statements whose
# cost they measure, so that both measure the same.
# shellcheck shell=bash

# n pairs of cheap guarded DDL on table $2: ALTER ... SET DEFAULT, COMMENT ON
cheap_pairs()
{
	local _
	for _ in $(seq 1 "$1"); do
		echo "ALTER TABLE $2 ALTER COLUMN v SET DEFAULT 1;"
		echo "COMMENT ON TABLE $2 IS 'benchmark';"
	done
}

# n units of a migration: a new table, a column, an index and a comment on
# it, and a new default on the existing table hook_t
migration_units()
{
	local i
	for i in $(seq 1 "$1"); do
		echo "CREATE TABLE s_$i (id int PRIMARY KEY, v int);"
		echo "ALTER TABLE s_$i ADD COLUMN w text;"
		echo "CREATE INDEX ON s_$i (v);"
		echo "COMMENT ON TABLE s_$i IS 'benchmark';"
		echo "ALTER TABLE hook_t ALTER COLUMN v SET DEFAULT $i;"
	done
}
