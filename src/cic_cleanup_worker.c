/*-------------------------------------------------------------------------
 *
 * cic_cleanup_worker.c
 *		The cleanup worker of one database: looks at each due entry of the
 *		queue (cic_cleanup_int.h) once, and drops, reports or gives way.
 *
 * It acts only on an index that still exists under that OID, is still
 * invalid, is not a partition of a partitioned index (which cannot be
 * dropped alone, and now belongs to whoever attached it) nor a partitioned
 * index and, for a _ccold candidate, has that name; and it drops it only in
 * enforce mode with migguard.cic_cleanup on, otherwise it reports it.  It
 * gives way to users: it locks the table and then the index, as DROP INDEX
 * does, and runs DROP INDEX CONCURRENTLY under a lock_timeout shorter than
 * the users' deadlock_timeout, so that in any lock conflict or deadlock it
 * is the one that gives up.  An entry stays queued until it is done.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"
#include "cic_cleanup_int.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "commands/tablecmds.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

/* the outcome of one look at an entry */
typedef enum CleanupOutcome
{
	CLEANUP_DONE,				/* dropped, reported or nothing to do */
	CLEANUP_RETRY				/* gave way: try again later */
} CleanupOutcome;

/* Give back what this worker holds: tried again later, as if it gave way. */
static void
worker_detach(int code, Datum arg)
{
	TimestampTz now = GetCurrentTimestamp();
	int			j;

	LWLockAcquire(cleanup->lock, LW_EXCLUSIVE);
	for (j = 0; j < CLEANUP_QUEUE_SIZE; j++)
	{
		CleanupEntry *e = &cleanup->entries[j];

		if (!OidIsValid(e->dbid) || e->worker_pid != MyProcPid)
			continue;
		e->worker_pid = 0;
		e->launched = 0;
		e->attempts++;
		e->next_try = TimestampTzPlusMilliseconds(now, cleanup_backoff_ms(e->attempts));
	}
	if (cleanup->launcher_pid != 0)
		SetLatch(cleanup->launcher_latch);
	LWLockRelease(cleanup->lock);
}

/* Take the next due entry of this database; it stays queued until done. */
static bool
claim_entry(CleanupEntry *out, int *slot)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		found = false;
	int			j;

	LWLockAcquire(cleanup->lock, LW_EXCLUSIVE);
	for (j = 0; j < CLEANUP_QUEUE_SIZE; j++)
	{
		CleanupEntry *e = &cleanup->entries[j];

		if (e->dbid != MyDatabaseId || e->next_try > now ||
			(e->worker_pid != 0 && e->worker_pid != MyProcPid &&
			 BackendPidGetProc(e->worker_pid) != NULL))
			continue;
		e->worker_pid = MyProcPid;
		*out = *e;
		*slot = j;
		found = true;
		break;
	}
	LWLockRelease(cleanup->lock);
	return found;
}

/* Free the entry, or put it back to be tried again after a backoff. */
static void
finish_entry(int slot, CleanupOutcome outcome, const char *error)
{
	CleanupEntry *e = &cleanup->entries[slot];
	TimestampTz now = GetCurrentTimestamp();
	char	   *gave_up = psprintf("gave up after %d attempts; the last one: %s",
								   CLEANUP_MAX_ATTEMPTS, error);

	LWLockAcquire(cleanup->lock, LW_EXCLUSIVE);
	if (e->worker_pid != MyProcPid)
	{
		LWLockRelease(cleanup->lock);
		return;
	}
	e->worker_pid = 0;
	e->launched = 0;
	if (outcome == CLEANUP_DONE)
		e->dbid = InvalidOid;
	else if (++e->attempts >= CLEANUP_MAX_ATTEMPTS)
		cleanup_skip_entry_locked(e, gave_up);
	else
	{
		CleanupEntry copy = *e;
		long		delay = cleanup_backoff_ms(e->attempts);

		e->next_try = TimestampTzPlusMilliseconds(now, delay);
		LWLockRelease(cleanup->lock);
		registry_add_event_for(copy.pid, copy.dbid, copy.userid, "cleanup_retry",
							   NULL, NULL, copy.statement,
							   psprintf("index OID %u: gave way (%s); tries again in %ld ms",
										copy.indexid, error, delay));
		return;
	}
	LWLockRelease(cleanup->lock);
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t		ls = strlen(s);
	size_t		lx = strlen(suffix);

	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/*
 * Is entry's index still there, an invalid plain index, and (for a _ccold
 * candidate) so named?  Sets its table, schema and name.  *why says why
 * not when it is invalid but not ours to drop.
 */
static bool
still_invalid(const CleanupEntry *e, Oid *tableid, char **nspname,
			  char **relname, const char **why)
{
	HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(e->indexid));
	bool		invalid;

	*why = NULL;
	if (!HeapTupleIsValid(tup))
		return false;
	invalid = !((Form_pg_index) GETSTRUCT(tup))->indisvalid;
	*tableid = ((Form_pg_index) GETSTRUCT(tup))->indrelid;
	ReleaseSysCache(tup);
	*relname = get_rel_name(e->indexid);
	*nspname = get_namespace_name(get_rel_namespace(e->indexid));
	if (*relname == NULL || *nspname == NULL || !invalid ||
		(e->only_if_ccold && !ends_with(*relname, "_ccold")))
		return false;
	if (get_rel_relkind(e->indexid) != RELKIND_INDEX)
		*why = "it is a partitioned index, which cannot be dropped concurrently";
	else if (get_rel_relispartition(e->indexid))
		*why = "it is now a partition of a partitioned index, which cannot be dropped alone; left to whoever attached it";
	return *why == NULL;
}

/* An invalid index that is not ours to drop stays, and says why. */
static void
report_kept(const CleanupEntry *e, const char *nspname, const char *relname,
			const char *why)
{
	char	   *qualified = quote_qualified_identifier(nspname, relname);

	registry_add_event_for(e->pid, e->dbid, e->userid, "cleanup_skipped", NULL,
						   qualified, e->statement,
						   psprintf("invalid index %s (OID %u) stays: %s",
									qualified, e->indexid, why));
}

/*
 * Look at one entry, in transactions of its own.  Allocates in the caller's
 * memory context, which outlives them.
 */
static CleanupOutcome
handle_entry(const CleanupEntry *e)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *nspname;
	char	   *relname;
	char	   *qualified;
	const char *why;
	Oid			tableid;
	DropStmt   *drop;
	bool		ours;
	bool		drop_it = e->drop && migguard_cic_cleanup &&
		migguard_mode == MIGGUARD_MODE_ENFORCE;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	MemoryContextSwitchTo(cxt);
	PushActiveSnapshot(GetTransactionSnapshot());

	ours = still_invalid(e, &tableid, &nspname, &relname, &why);
	if (ours && drop_it)
	{
		/*
		 * Lock the table, then the index, as DROP INDEX does, and look again
		 * under the locks, so that the index dropped is the one checked.
		 * Any wait ends at lock_timeout with an error: the entry is tried
		 * again later.
		 */
		LockRelationOid(tableid, ShareUpdateExclusiveLock);
		LockRelationOid(e->indexid, ShareUpdateExclusiveLock);
		PopActiveSnapshot();
		PushActiveSnapshot(GetTransactionSnapshot());
		ours = still_invalid(e, &tableid, &nspname, &relname, &why);
	}
	if (!ours)
	{
		if (why != NULL)
			report_kept(e, nspname, relname, why);
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(cxt);
		return CLEANUP_DONE;
	}
	qualified = quote_qualified_identifier(nspname, relname);

	if (!drop_it)
	{
		registry_add_event_for(e->pid, e->dbid, e->userid, "invalid_index", NULL,
							   qualified, e->statement,
							   psprintf("the failed build left invalid index %s (OID %u); it stays, since migguard drops such an index only in enforce mode with migguard.cic_cleanup on",
										qualified, e->indexid));
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(cxt);
		return CLEANUP_DONE;
	}

	pgstat_report_activity(STATE_RUNNING,
						   psprintf("DROP INDEX CONCURRENTLY %s", qualified));
	drop = makeNode(DropStmt);
	drop->removeType = OBJECT_INDEX;
	drop->objects = list_make1(list_make2(makeString(nspname), makeString(relname)));
	drop->behavior = DROP_RESTRICT;
	drop->missing_ok = true;
	drop->concurrent = true;

	/* it commits and starts transactions itself */
	RemoveRelations(drop);

	if (ActiveSnapshotSet())
		PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	pgstat_report_activity(STATE_IDLE, NULL);

	registry_count(MG_COUNTER_CLEANUPS);
	registry_add_event_for(e->pid, e->dbid, e->userid, "cleanup", NULL,
						   qualified, e->statement,
						   psprintf("dropped invalid index %s (OID %u) left by the failed build",
									qualified, e->indexid));
	ereport(LOG,
			(errmsg("migguard dropped invalid index %s left by a failed concurrent build of pid %d",
					qualified, e->pid)));
	return CLEANUP_DONE;
}

/* Run handle_entry; an error (a lock timeout, a deadlock) means give way. */
static CleanupOutcome
try_entry(const CleanupEntry *e, char **error)
{
	MemoryContext cxt = CurrentMemoryContext;
	CleanupOutcome outcome;

	*error = NULL;
	PG_TRY();
	{
		outcome = handle_entry(e);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
		*error = edata->message;
		ereport(LOG,
				(errmsg("migguard cleanup of index %u gave way: %s",
						e->indexid, edata->message)));
		outcome = CLEANUP_RETRY;
	}
	PG_END_TRY();
	return outcome;
}

void
migguard_cleanup_main(Datum main_arg)
{
	CleanupEntry entry;
	int			slot;
	char		value[32];
	MemoryContext cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(main_arg),
											  InvalidOid, 0);
	before_shmem_exit(worker_detach, (Datum) 0);

	/*
	 * Give up any lock wait before a user's deadlock check could run, so
	 * that the user never is the one cancelled; and look for deadlocks
	 * sooner than the users do.
	 */
	snprintf(value, sizeof(value), "%d",
			 Max(1, Min(CLEANUP_LOCK_TIMEOUT_MS, DeadlockTimeout / 2)));
	SetConfigOption("lock_timeout", value, PGC_SUSET, PGC_S_OVERRIDE);
	snprintf(value, sizeof(value), "%d", Max(1, DeadlockTimeout / 4));
	SetConfigOption("deadlock_timeout", value, PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	cxt = AllocSetContextCreate(TopMemoryContext, "migguard cleanup entry",
								ALLOCSET_DEFAULT_SIZES);
	while (claim_entry(&entry, &slot))
	{
		CleanupOutcome outcome;
		char	   *error;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextSwitchTo(cxt);
		outcome = try_entry(&entry, &error);
		MemoryContextSwitchTo(cxt);
		finish_entry(slot, outcome, error ? error : "");
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(cxt);
	}
	proc_exit(0);
}
