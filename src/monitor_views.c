/*-------------------------------------------------------------------------
 *
 * monitor_views.c
 *		The set-returning functions behind migguard.lock_queue,
 *		migguard.stats and migguard.relation_facts().
 *
 * What lock_queue shows of other sessions' queries follows
 * pg_stat_activity: only to the same role or to pg_read_all_stats members.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(migguard_lock_queue);
PG_FUNCTION_INFO_V1(migguard_stats);
PG_FUNCTION_INFO_V1(migguard_relation_facts);

static bool
pid_in(int pid, const int *pids, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

/*
 * Every session waiting for a relation lock in this database, with the
 * sessions it waits for.
 */
Datum
migguard_lock_queue(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LockData   *locks;
	GuardSlot  *guards;
	int			nguards;
	int		   *guard_pids;
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	migguard_require_preload();
	mg_init_materialized_srf(fcinfo);

	nguards = registry_copy_guards(&guards);
	guard_pids = palloc(sizeof(int) * (nguards + 1));
	for (i = 0; i < nguards; i++)
		guard_pids[i] = guards[i].pid;

	locks = lockstate_snapshot();
	sessions_refresh();
	for (i = 0; i < locks->nelements; i++)
	{
		LockInstanceData *w = &locks->locks[i];
		int			blockers[MG_MAX_BLOCKERS];
		int			nblockers;
		Datum	   *pids;
		Datum		values[10];
		bool		nulls[10];
		TimestampTz since;
		bool		guarded = false;
		Oid			relid;
		int			j;

		if (w->waitLockMode == NoLock ||
			w->locktag.locktag_type != LOCKTAG_RELATION ||
			w->locktag.locktag_field1 != MyDatabaseId)
			continue;
		CHECK_FOR_INTERRUPTS();
		relid = w->locktag.locktag_field2;
		nblockers = lockstate_wait_blockers(locks, w->pid, blockers, MG_MAX_BLOCKERS);
		pids = palloc(sizeof(Datum) * (nblockers + 1));
		for (j = 0; j < nblockers; j++)
		{
			pids[j] = Int32GetDatum(blockers[j]);
			if (pid_in(blockers[j], guard_pids, nguards))
				guarded = true;
		}

		memset(nulls, 0, sizeof(nulls));
		values[0] = Int32GetDatum(w->pid);
		values[1] = migguard_text_or_null(sessions_query(w->pid, GetUserId()), &nulls[1]);
		values[2] = ObjectIdGetDatum(relid);
		values[3] = migguard_text_or_null(relfacts_relation_name(relid), &nulls[3]);
		values[4] = CStringGetTextDatum(GetLockmodeName(DEFAULT_LOCKMETHOD,
														 w->waitLockMode));
		since = MG_LOCK_WAIT_START(w);
		nulls[5] = (since == 0);
		values[5] = nulls[5] ? (Datum) 0 :
			IntervalPGetDatum(DatumGetIntervalP(DirectFunctionCall2(timestamp_mi,
																	TimestampTzGetDatum(now),
																	TimestampTzGetDatum(since))));
		values[6] = PointerGetDatum(construct_array(pids, nblockers, INT4OID,
													sizeof(int32), true, TYPALIGN_INT));
		values[7] = BoolGetDatum(guarded);
		values[8] = BoolGetDatum(pid_in(w->pid, guard_pids, nguards));
		values[9] = migguard_text_or_null(nblockers > 0 ?
								 sessions_query(blockers[0], GetUserId()) : NULL,
								 &nulls[9]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

Datum
migguard_stats(PG_FUNCTION_ARGS)
{
	static const char *const names[MG_NUM_COUNTERS] = {
		[MG_COUNTER_CHECKED] = "statements_checked",
		[MG_COUNTER_REJECTED] = "rejected",
		[MG_COUNTER_WARNED] = "warned",
		[MG_COUNTER_BYPASSED] = "bypassed",
		[MG_COUNTER_CANCELLED] = "cancelled",
		[MG_COUNTER_RETRIED] = "retried",
		[MG_COUNTER_CIC_WAITS] = "cic_waits",
		[MG_COUNTER_CLEANUPS] = "cleanups",
		[MG_COUNTER_TERMINATIONS] = "terminations",
		[MG_COUNTER_OUTSIDE_QUEUE_WAITS] = "outside_queue_waits",
		[MG_COUNTER_XACT_CANCELLED] = "transaction_cancels",
		[MG_COUNTER_XACT_TERMINATED] = "transaction_terminations",
		[MG_COUNTER_AUTOVACUUM_CANCELLED] = "autovacuum_cancels",
	};
	TupleDesc	tupdesc;
	Datum		values[MG_NUM_COUNTERS];
	bool		nulls[MG_NUM_COUNTERS];
	int			i;

	migguard_require_preload();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	/*
	 * Columns are matched by name, so the library also serves the view of
	 * an older install script until ALTER EXTENSION ... UPDATE.
	 */
	if (tupdesc->natts > MG_NUM_COUNTERS)
		elog(ERROR, "migguard.stats() has %d columns, the library counts %d things",
			 tupdesc->natts, MG_NUM_COUNTERS);
	for (i = 0; i < tupdesc->natts; i++)
	{
		const char *column = NameStr(TupleDescAttr(tupdesc, i)->attname);
		int			c;

		for (c = 0; c < MG_NUM_COUNTERS; c++)
			if (strcmp(column, names[c]) == 0)
				break;
		if (c == MG_NUM_COUNTERS)
			elog(ERROR, "column \"%s\" of migguard.stats() is no counter of this library",
				 column);
		values[i] = Int64GetDatum((int64) registry_counter_value((MigguardCounter) c));
		nulls[i] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* What the rules know about a relation. */
Datum
migguard_relation_facts(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	TupleDesc	tupdesc;
	RelFacts	facts;
	Datum		values[6];
	bool		nulls[6];

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (!relfacts_get(relid, &facts))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	memset(nulls, 0, sizeof(nulls));
	values[0] = Int64GetDatum(facts.size_bytes);
	nulls[1] = facts.est_rows < 0;
	values[1] = Float8GetDatum(facts.est_rows);
	values[2] = BoolGetDatum(facts.is_large);
	values[3] = BoolGetDatum(facts.created_in_xact);
	values[4] = BoolGetDatum(facts.is_temp);
	values[5] = BoolGetDatum(relfacts_exempt(&facts));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
