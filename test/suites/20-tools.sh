#!/usr/bin/env bash
# Real migration tools against a migguard cluster: PgBouncer (transaction
# pooling), node-pg-migrate, Django, sqitch, and Debian's Prometheus
# postgres exporter with contrib/prometheus/queries.yaml.  Every server,
# pooler and exporter is started and stopped here, on 127.0.0.1 or a Unix
# socket; every check asserts an outcome.  The parts are in test/tools/.
#
#   MG_TOOLS="pgbouncer django" ./scripts/test ...   runs only those parts
#   MG_TOOLS_KEEP=1 keeps the clients' outputs (test/tools logs) after a pass
set -uo pipefail

work=${MIGGUARD_WORK:?run by scripts/test}
. "$work/scripts/common.sh"
. "$work/test/tools/lib.sh"

ensure_packages "pgbouncer sqitch libdbd-pg-perl python3-django python3-psycopg2 prometheus-postgres-exporter curl" || exit 1
# Node.js: the machine's own (with npm) if there is one, else Debian's
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	ensure_packages "nodejs npm" || exit 1
fi

tools_tmp_init
cleanup() {
	pgbouncer_stop
	exporter_stop
	mg_cluster_stop
}
trap cleanup EXIT

for part in pgbouncer node django sqitch exporter; do
	. "$work/test/tools/$part.sh"
done

# large_table_size is lowered so that a "large" table takes a second to build
mg_cluster_start <<'CONF'
migguard.large_table_size = '1MB'
CONF

# the strict preset covers every rule whose level is warning
mg_psql postgres -c "CREATE EXTENSION migguard"
remaining=$(mg_psql postgres -At -c "SET migguard.rule_levels = '$(strict_rule_levels)'" \
		-c "SELECT string_agg(name, ', ') FROM migguard.rules() WHERE level = 'warning'")
[ -z "$remaining" ]
result "contrib/migguard-strict.conf leaves no rule at level warning${remaining:+ (left: $remaining)}" $?

want_part() {
	[ -z "${MG_TOOLS:-}" ] && return 0
	case " $MG_TOOLS " in *" $1 "*) return 0 ;; esac
	return 1
}

for part in pgbouncer node django sqitch exporter; do
	want_part "$part" || continue
	echo "--- $part"
	"test_$part"
done

cleanup
trap - EXIT
tools_summary 20-tools || {
	echo "logs in $TOOLS_TMP/logs"
	exit 1
}
if [ -n "${MG_TOOLS_KEEP:-}" ]; then
	echo "logs in $TOOLS_TMP/logs"
else
	rm -rf "$TOOLS_TMP"
fi
