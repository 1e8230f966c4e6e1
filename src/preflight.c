/*-------------------------------------------------------------------------
 *
 * preflight.c
 *		migguard.preflight(target) and migguard.assert_preflight(target):
 *		is now a good moment for a migration?
 *
 * Each check is one query over the statistics and catalog views, run as
 * the caller, so what it shows of other sessions follows the views' own
 * visibility rules.  A query returns one row: status (ok, warn or fail),
 * what was observed, the threshold, and a detail naming what matters.
 *
 * The caller is often a superuser, so the queries must not reach anything
 * the caller's search_path could put in their way: they run under
 * search_path = pg_catalog, pg_temp (operators and types then resolve in
 * pg_catalog only), and name their functions and relations with their
 * schema as well.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(migguard_preflight);
PG_FUNCTION_INFO_V1(migguard_assert_preflight);

int			migguard_preflight_xact_age_ms = 60 * 1000;
int			migguard_preflight_idle_age_ms = 10 * 1000;
int			migguard_preflight_min_free_connections = 10;
int			migguard_preflight_max_replay_lag_ms = 10 * 1000;
int			migguard_preflight_max_slot_wal_kb = 1024 * 1024;

void
preflight_define_settings(void)
{
	DefineCustomIntVariable("migguard.preflight_xact_age",
							"Age from which preflight() reports a transaction as long-running.",
							NULL, &migguard_preflight_xact_age_ms, 60 * 1000,
							0, INT_MAX, PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("migguard.preflight_idle_age",
							"Time idle in transaction from which preflight() reports a session.",
							NULL, &migguard_preflight_idle_age_ms, 10 * 1000,
							0, INT_MAX, PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("migguard.preflight_min_free_connections",
							"Free connection slots below which preflight() warns.",
							NULL, &migguard_preflight_min_free_connections, 10,
							0, INT_MAX, PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("migguard.preflight_max_replay_lag",
							"Standby replay lag above which preflight() warns.",
							NULL, &migguard_preflight_max_replay_lag_ms, 10 * 1000,
							0, INT_MAX, PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("migguard.preflight_max_slot_wal",
							"WAL retained by a replication slot above which preflight() fails.",
							"A rewrite writes about as much WAL as the table is "
							"large; a slot that keeps it can fill the disk.",
							&migguard_preflight_max_slot_wal_kb, 1024 * 1024,
							0, MAX_KILOBYTES, PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
}

typedef struct PreflightCheck
{
	const char *name;
	bool		needs_target;	/* skipped without a target */
	const char *query;			/* $1 = target (regclass, may be NULL) */
} PreflightCheck;

/*
 * The checks.  Thresholds come in as settings, read with current_setting();
 * every query returns exactly one row (status, observed, threshold, detail).
 */
static const PreflightCheck checks[] = {
	{"long_running_transactions", false,
		"WITH x AS (SELECT pid, usename, state, pg_catalog.now() - xact_start AS age"
		"             FROM pg_catalog.pg_stat_activity"
		"            WHERE xact_start IS NOT NULL AND pid <> pg_catalog.pg_backend_pid()"
		"              AND backend_type = 'client backend')"
		" SELECT CASE WHEN pg_catalog.max(age) > t THEN 'warn' ELSE 'ok' END,"
		"        coalesce('oldest ' || pg_catalog.round(extract(epoch FROM pg_catalog.max(age))) || ' s', 'none'),"
		"        pg_catalog.current_setting('migguard.preflight_xact_age'),"
		"        pg_catalog.string_agg(pg_catalog.format('pid %s (%s, %s, transaction age %s s)', pid, usename, state, pg_catalog.round(extract(epoch FROM age))), '; ')"
		"          FILTER (WHERE age > t)"
		"   FROM (SELECT pg_catalog.current_setting('migguard.preflight_xact_age')::interval AS t) s"
		"   LEFT JOIN x ON true GROUP BY t"},
	{"idle_in_transaction", false,
		"WITH x AS (SELECT pid, usename, datname, pg_catalog.now() - state_change AS idle"
		"             FROM pg_catalog.pg_stat_activity"
		"            WHERE state IN ('idle in transaction', 'idle in transaction (aborted)')"
		"              AND pg_catalog.now() - state_change > pg_catalog.current_setting('migguard.preflight_idle_age')::interval)"
		" SELECT CASE WHEN pg_catalog.count(*) > 0 THEN 'warn' ELSE 'ok' END, pg_catalog.count(*)::text || ' sessions',"
		"        pg_catalog.current_setting('migguard.preflight_idle_age'),"
		"        pg_catalog.string_agg(pg_catalog.format('pid %s (%s in %s, idle in transaction for %s s)', pid, usename, datname, pg_catalog.round(extract(epoch FROM idle))), '; ')"
		"   FROM x"},
	{"prepared_transactions", false,
		"SELECT CASE WHEN pg_catalog.count(*) > 0 THEN 'warn' ELSE 'ok' END, pg_catalog.count(*)::text,"
		"       '0',"
		"       pg_catalog.string_agg(pg_catalog.format('%s (prepared %s s ago by %s in %s)', gid, pg_catalog.round(extract(epoch FROM pg_catalog.now() - prepared)), owner, database), '; ')"
		"  FROM pg_catalog.pg_prepared_xacts"},
	{"connection_headroom", false,
		"WITH c AS (SELECT pg_catalog.current_setting('max_connections')::int"
		"                  - pg_catalog.current_setting('superuser_reserved_connections')::int AS usable,"
		"                  (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity"
		"                    WHERE backend_type = 'client backend')::int AS used)"
		" SELECT CASE WHEN usable - used <= 0 THEN 'fail'"
		"             WHEN usable - used < pg_catalog.current_setting('migguard.preflight_min_free_connections')::int THEN 'warn'"
		"             ELSE 'ok' END,"
		"        (usable - used)::text || ' free of ' || usable,"
		"        pg_catalog.current_setting('migguard.preflight_min_free_connections'),"
		"        'sessions that queue behind a lock hold their connections: a pool can run dry'"
		"   FROM c"},
	{"replication_lag", false,
		"WITH r AS (SELECT application_name, client_addr, coalesce(replay_lag, '0'::interval) AS lag"
		"             FROM pg_catalog.pg_stat_replication)"
		" SELECT CASE WHEN pg_catalog.max(lag) > pg_catalog.current_setting('migguard.preflight_max_replay_lag')::interval THEN 'warn' ELSE 'ok' END,"
		"        pg_catalog.count(*)::text || ' standbys' || coalesce(', max replay lag ' || pg_catalog.round(extract(epoch FROM pg_catalog.max(lag))::numeric, 1) || ' s', ''),"
		"        pg_catalog.current_setting('migguard.preflight_max_replay_lag'),"
		"        pg_catalog.string_agg(pg_catalog.format('%s (%s): replay lag %s s', application_name, coalesce(pg_catalog.host(client_addr), 'local'), pg_catalog.round(extract(epoch FROM lag)::numeric, 1)), '; ')"
		"   FROM r"},
	{"replication_slots", false,
		"WITH s AS (SELECT slot_name, active,"
		"                  CASE WHEN pg_catalog.pg_is_in_recovery() OR restart_lsn IS NULL THEN 0"
		"                       ELSE pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn) END AS retained"
		"             FROM pg_catalog.pg_replication_slots)"
		" SELECT CASE WHEN pg_catalog.max(retained) > pg_catalog.pg_size_bytes(pg_catalog.current_setting('migguard.preflight_max_slot_wal')) THEN 'fail'"
		"             WHEN pg_catalog.bool_or(NOT active) THEN 'warn' ELSE 'ok' END,"
		"        pg_catalog.count(*)::text || ' slots' || coalesce(', most WAL retained ' || pg_catalog.pg_size_pretty(pg_catalog.max(retained)), ''),"
		"        pg_catalog.current_setting('migguard.preflight_max_slot_wal'),"
		"        pg_catalog.string_agg(pg_catalog.format('%s (%s, retains %s)', slot_name, CASE WHEN active THEN 'active' ELSE 'inactive' END,"
		"                          pg_catalog.pg_size_pretty(retained)), '; ')"
		"   FROM s"},
	{"invalid_indexes", false,
		"WITH i AS (SELECT i.indexrelid::regclass AS idx, i.indrelid::regclass AS tbl"
		"             FROM pg_catalog.pg_index i"
		"            WHERE NOT i.indisvalid AND ($1 IS NULL OR i.indrelid = $1))"
		" SELECT CASE WHEN pg_catalog.count(*) > 0 THEN 'warn' ELSE 'ok' END, pg_catalog.count(*)::text,"
		"        '0',"
		"        pg_catalog.string_agg(pg_catalog.format('%s on %s', idx, tbl), '; ')"
		"   FROM i"},
	{"target_locks", true,
		"WITH l AS (SELECT l.pid, l.mode, l.granted, a.usename, a.state,"
		"                  l.pid IS NULL AS prepared"
		"             FROM pg_catalog.pg_locks l"
		"             LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid"
		"            WHERE l.locktype = 'relation' AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())"
		"              AND l.relation = $1 AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid())"
		" SELECT CASE WHEN pg_catalog.bool_or(prepared OR state LIKE 'idle in transaction%') THEN 'fail'"
		"             WHEN pg_catalog.count(*) > 0 THEN 'warn' ELSE 'ok' END,"
		"        pg_catalog.count(*)::text || ' locks',"
		"        '0',"
		"        pg_catalog.string_agg(CASE WHEN prepared THEN pg_catalog.format('a prepared transaction holds %s', mode)"
		"                        ELSE pg_catalog.format('pid %s (%s, %s) %s %s', pid, usename, coalesce(state, '?'),"
		"                                    CASE WHEN granted THEN 'holds' ELSE 'awaits' END, mode) END, '; ')"
		"   FROM l"},
	{"lock_queue", true,
		"SELECT CASE WHEN pg_catalog.count(*) > 0 THEN 'fail' ELSE 'ok' END, pg_catalog.count(*)::text || ' waiting',"
		"       '0',"
		"       pg_catalog.string_agg(pg_catalog.format('pid %s waits for %s since %s s behind pids %s', waiting_pid, requested_mode,"
		"                         pg_catalog.round(extract(epoch FROM wait_time)::numeric, 1), blocking_pids), '; ')"
		"  FROM migguard.lock_queue WHERE relation_oid = $1"},
	{"autovacuum_on_target", true,
		"WITH v AS (SELECT a.pid, a.query LIKE '%to prevent wraparound%' AS wraparound"
		"             FROM pg_catalog.pg_stat_progress_vacuum p"
		"             JOIN pg_catalog.pg_stat_activity a ON a.pid = p.pid"
		"            WHERE p.relid = $1 AND a.backend_type = 'autovacuum worker')"
		" SELECT CASE WHEN pg_catalog.bool_or(wraparound) THEN 'fail' WHEN pg_catalog.count(*) > 0 THEN 'warn' ELSE 'ok' END,"
		"        pg_catalog.count(*)::text,"
		"        '0',"
		"        pg_catalog.string_agg(CASE WHEN wraparound"
		"                        THEN pg_catalog.format('pid %s: anti-wraparound autovacuum, which does not yield to DDL', pid)"
		"                        ELSE pg_catalog.format('pid %s: autovacuum, which cancels itself when DDL waits for it', pid) END, '; ')"
		"   FROM v"},
	{"target_size", true,
		"SELECT CASE WHEN m.is_large THEN 'warn' ELSE 'ok' END,"
		"       pg_catalog.pg_size_pretty(m.size_bytes) || coalesce(', about ' || pg_catalog.round(m.estimated_rows)::text || ' rows', ''),"
		"       pg_catalog.current_setting('migguard.large_table_size'),"
		"       CASE WHEN m.is_large THEN 'the rules treat it as large: rewrites, scans and non-concurrent index builds are rejected'"
		"            ELSE 'small: the rules about lock duration leave it alone' END"
		"  FROM migguard.relation_facts($1) m"},
	{"guarded_ddl_in_flight", false,
		"SELECT CASE WHEN pg_catalog.count(*) > 0 THEN 'warn' ELSE 'ok' END, pg_catalog.count(*)::text,"
		"       '0',"
		"       pg_catalog.string_agg(pg_catalog.format('pid %s: %s on %s for %s s', pid, kind, relation, pg_catalog.round(extract(epoch FROM pg_catalog.now() - started))), '; ')"
		"  FROM migguard.guarded_ddl WHERE pid <> pg_catalog.pg_backend_pid()"},
	{"migguard_health", false,
		"SELECT CASE WHEN preloaded AND worker_pid IS NOT NULL THEN 'ok' ELSE 'fail' END,"
		"       CASE WHEN NOT preloaded THEN 'not preloaded'"
		"            WHEN worker_pid IS NULL THEN 'watcher not running'"
		"            ELSE 'watcher pid ' || worker_pid END,"
		"       'preloaded, watcher running',"
		"       NULL"
		"  FROM migguard.status()"},
	{"server_version", false,
		"SELECT CASE WHEN v BETWEEN 140000 AND 140003 THEN 'fail' ELSE 'ok' END,"
		"       pg_catalog.current_setting('server_version'),"
		"       'no known migration hazard',"
		"       CASE WHEN v BETWEEN 140000 AND 140003"
		"            THEN 'PostgreSQL 14.0 to 14.3 can corrupt indexes built or rebuilt CONCURRENTLY: upgrade to 14.4 or later first' END"
		"  FROM (SELECT pg_catalog.current_setting('server_version_num')::int AS v) s"},
};

#define NUM_CHECKS lengthof(checks)

typedef struct CheckResult
{
	const char *name;
	char	   *status;
	char	   *observed;
	char	   *threshold;
	char	   *detail;
} CheckResult;

static char *
result_value(int column, MemoryContext cxt)
{
	char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									 column);

	return value ? MemoryContextStrdup(cxt, value) : NULL;
}

/* Run the checks that apply; returns how many results it filled in. */
static int
run_checks(Oid target, CheckResult *results)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	char		nulls[1];
	int			n = 0;
	int			i;
	int			save_nestlevel;

	migguard_require_preload();
	args[0] = ObjectIdGetDatum(target);
	nulls[0] = OidIsValid(target) ? ' ' : 'n';

	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	SPI_connect();
	for (i = 0; i < NUM_CHECKS; i++)
	{
		const PreflightCheck *check = &checks[i];
		CheckResult *r;
		int			ret;

		CHECK_FOR_INTERRUPTS();
		if (check->needs_target && !OidIsValid(target))
			continue;
		ret = SPI_execute_with_args(check->query, 1, argtypes, args, nulls,
									true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "preflight check %s returned no row", check->name);

		r = &results[n++];
		r->name = check->name;
		r->status = result_value(1, caller);
		r->observed = result_value(2, caller);
		r->threshold = result_value(3, caller);
		r->detail = result_value(4, caller);
	}
	SPI_finish();
	AtEOXact_GUC(true, save_nestlevel);
	return n;
}

Datum
migguard_preflight(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			target = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);
	CheckResult results[NUM_CHECKS];
	int			n;
	int			i;

	mg_init_materialized_srf(fcinfo);
	n = run_checks(target, results);
	for (i = 0; i < n; i++)
	{
		Datum		values[5];
		bool		isnull[5];

		memset(isnull, 0, sizeof(isnull));
		values[0] = CStringGetTextDatum(results[i].name);
		values[1] = CStringGetTextDatum(results[i].status);
		isnull[2] = results[i].observed == NULL;
		values[2] = isnull[2] ? (Datum) 0 : CStringGetTextDatum(results[i].observed);
		isnull[3] = results[i].threshold == NULL;
		values[3] = isnull[3] ? (Datum) 0 : CStringGetTextDatum(results[i].threshold);
		isnull[4] = results[i].detail == NULL;
		values[4] = isnull[4] ? (Datum) 0 : CStringGetTextDatum(results[i].detail);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
	}
	return (Datum) 0;
}

Datum
migguard_assert_preflight(PG_FUNCTION_ARGS)
{
	Oid			target = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);
	CheckResult results[NUM_CHECKS];
	StringInfoData failed;
	int			nfailed = 0;
	int			n;
	int			i;

	n = run_checks(target, results);
	initStringInfo(&failed);
	for (i = 0; i < n; i++)
	{
		if (strcmp(results[i].status, "fail") != 0)
			continue;
		if (nfailed++ > 0)
			appendStringInfoString(&failed, "\n");
		appendStringInfo(&failed, "%s: %s%s%s", results[i].name,
						 results[i].observed ? results[i].observed : "",
						 results[i].detail ? ": " : "",
						 results[i].detail ? results[i].detail : "");
	}
	if (nfailed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg_plural("%d preflight check failed%s%s",
							   "%d preflight checks failed%s%s", nfailed,
							   nfailed,
							   OidIsValid(target) ? " for " : "",
							   OidIsValid(target) ? get_rel_name(target) : ""),
				 errdetail_internal("%s", failed.data),
				 errhint("SELECT * FROM migguard.preflight(...) shows every check.")));
	PG_RETURN_VOID();
}
