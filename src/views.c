/*-------------------------------------------------------------------------
 *
 * views.c
 *		SQL-callable set-returning functions behind migguard's views.
 *
 * What these show about other sessions follows pg_stat_activity: the
 * statement text only to the same role or to pg_read_all_stats members.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "catalog/pg_authid.h"
#include "commands/dbcommands.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(migguard_status);
PG_FUNCTION_INFO_V1(migguard_events);
PG_FUNCTION_INFO_V1(migguard_guarded_ddl);

/* May "viewer" see what "owner" ran?  pg_stat_activity's rule. */
bool
migguard_may_see_session_of(Oid viewer, Oid owner)
{
	return OidIsValid(viewer) &&
		(has_privs_of_role(viewer, ROLE_PG_READ_ALL_STATS) ||
		 (OidIsValid(owner) && has_privs_of_role(viewer, owner)));
}

/* A text datum, or SQL NULL for a NULL string. */
/*
 * Could "signaller" terminate a session of "target" with
 * pg_terminate_backend?  The same rules as signalfuncs.c: only superusers
 * signal superusers' sessions (and those of no role); others need the
 * target's privileges or pg_signal_backend's.  Needs a transaction.
 */
bool
migguard_may_signal(Oid signaller, Oid target)
{
	if ((!OidIsValid(target) || superuser_arg(target)) &&
		!superuser_arg(signaller))
		return false;
	return has_privs_of_role(signaller, target) ||
		has_privs_of_role(signaller, MG_ROLE_PG_SIGNAL_BACKEND);
}

Datum
migguard_text_or_null(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

Datum
migguard_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6];
	const char *mode;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(nulls, 0, sizeof(nulls));

	values[0] = BoolGetDatum(migguard_preloaded && registry_attached());
	if (migguard_preloaded && registry_attached())
	{
		int			pid;
		TimestampTz started;
		TimestampTz reloaded;

		registry_get_watcher(&pid, &started, &reloaded);
		values[1] = Int32GetDatum(pid);
		nulls[1] = (pid == 0);
		values[2] = TimestampTzGetDatum(started);
		nulls[2] = (pid == 0);
		values[3] = TimestampTzGetDatum(reloaded);
		nulls[3] = (reloaded == 0);
	}
	else
		nulls[1] = nulls[2] = nulls[3] = true;

	mode = GetConfigOption("migguard.mode", true, false);
	if (mode)
		values[4] = CStringGetTextDatum(mode);
	else
		nulls[4] = true;
	values[5] = CStringGetTextDatum(MIGGUARD_VERSION);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

Datum
migguard_events(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MigguardEvent *events;
	int			n;
	int			i;

	migguard_require_preload();
	mg_init_materialized_srf(fcinfo);

	n = registry_copy_events(&events);
	for (i = 0; i < n; i++)
	{
		MigguardEvent *ev = &events[i];
		Datum		values[9];
		bool		nulls[9];
		char	   *dbname;
		char	   *username;

		CHECK_FOR_INTERRUPTS();
		memset(nulls, 0, sizeof(nulls));
		values[0] = TimestampTzGetDatum(ev->time);
		values[1] = Int32GetDatum(ev->pid);
		dbname = OidIsValid(ev->dbid) ? get_database_name(ev->dbid) : NULL;
		username = OidIsValid(ev->userid) ? GetUserNameFromId(ev->userid, true) : NULL;
		nulls[2] = dbname == NULL;
		values[2] = dbname ? CStringGetTextDatum(dbname) : (Datum) 0;
		nulls[3] = username == NULL;
		values[3] = username ? CStringGetTextDatum(username) : (Datum) 0;
		values[4] = CStringGetTextDatum(ev->action);
		nulls[5] = ev->rule[0] == '\0';
		values[5] = CStringGetTextDatum(ev->rule);
		nulls[6] = ev->relation[0] == '\0';
		values[6] = CStringGetTextDatum(ev->relation);
		if (migguard_may_see_session_of(GetUserId(), ev->userid))
		{
			values[7] = CStringGetTextDatum(ev->statement);
			nulls[8] = ev->detail[0] == '\0';
			values[8] = CStringGetTextDatum(ev->detail);
		}
		else
		{
			values[7] = CStringGetTextDatum("<insufficient privilege>");
			nulls[8] = true;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

static const char *
guard_kind_name(GuardKind kind)
{
	switch (kind)
	{
		case MG_GUARD_DDL:
			return "ddl";
		case MG_GUARD_XACT:
			return "transaction";
		case MG_GUARD_CIC:
			return "concurrent index build";
	}
	return "?";
}

static const char *
guard_phase_name(GuardPhase phase)
{
	switch (phase)
	{
		case MG_PHASE_RUNNING:
			return "running";
		case MG_PHASE_BESIDE_QUEUE:
			return "waiting outside the lock queue";
		case MG_PHASE_BETWEEN:
			return "between statements";
	}
	return "?";
}

/*
 * Every registration: a guarded statement, a transaction that keeps the
 * strong locks of its DDL, or a concurrent index build.
 */
Datum
migguard_guarded_ddl(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GuardSlot  *slots;
	int			n;
	int			i;

	migguard_require_preload();
	mg_init_materialized_srf(fcinfo);

	n = registry_copy_guards(&slots);
	for (i = 0; i < n; i++)
	{
		GuardSlot  *slot = &slots[i];
		Datum		values[12];
		bool		nulls[12];
		Datum	   *names;
		char	   *dbname;
		char	   *username;
		int			j;

		memset(nulls, 0, sizeof(nulls));
		values[0] = Int32GetDatum(slot->pid);
		dbname = get_database_name(slot->dbid);
		username = GetUserNameFromId(slot->userid, true);
		nulls[1] = dbname == NULL;
		values[1] = dbname ? CStringGetTextDatum(dbname) : (Datum) 0;
		nulls[2] = username == NULL;
		values[2] = username ? CStringGetTextDatum(username) : (Datum) 0;
		values[3] = CStringGetTextDatum(guard_kind_name(slot->kind));
		values[4] = CStringGetTextDatum(slot->relation);
		values[5] = CStringGetTextDatum(GetLockmodeName(DEFAULT_LOCKMETHOD,
														slot->lockmode));
		values[6] = TimestampTzGetDatum(slot->started);
		values[7] = BoolGetDatum(slot->cancel_requested);
		if (migguard_may_see_session_of(GetUserId(), slot->userid))
			values[8] = CStringGetTextDatum(slot->statement);
		else
			values[8] = CStringGetTextDatum("<insufficient privilege>");
		values[9] = CStringGetTextDatum(guard_phase_name(slot->phase));
		values[10] = TimestampTzGetDatum(slot->registered);
		names = palloc(sizeof(Datum) * (slot->nrels + 1));
		for (j = 0; j < slot->nrels; j++)
			names[j] = CStringGetTextDatum(slot->relnames[j][0] != '\0' ?
										   slot->relnames[j] :
										   psprintf("%u", slot->relids[j]));
		values[11] = PointerGetDatum(construct_array(names, slot->nrels, TEXTOID,
													 -1, false, TYPALIGN_INT));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
