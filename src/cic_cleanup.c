/*-------------------------------------------------------------------------
 *
 * cic_cleanup.c
 *		Drop the invalid index a failed concurrent build leaves behind.
 *
 * The failing backend queues the indexes its build created (and, for
 * REINDEX CONCURRENTLY, the indexes it may have renamed _ccold) in shared
 * memory and starts a background worker connected to its database.  The
 * worker drops an index only if it still exists under that OID and is
 * still invalid (for a _ccold candidate: only if it now has that name),
 * with DROP INDEX CONCURRENTLY, and records what it did as an event.  With
 * migguard.cic_cleanup off it only records the invalid index.
 *
 * Locking: CleanupShared->lock protects the queue; nobody holds it across
 * anything that can block or raise an error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "commands/tablecmds.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#define CLEANUP_QUEUE_SIZE 64

typedef struct CleanupEntry
{
	Oid			dbid;			/* InvalidOid: free */
	Oid			indexid;
	Oid			userid;
	int			pid;			/* the backend whose build failed */
	bool		only_if_ccold;	/* an old index REINDEX may have renamed */
	bool		drop;			/* migguard.cic_cleanup was on */
	char		statement[MG_STATEMENT_LEN];
} CleanupEntry;

typedef struct CleanupShared
{
	LWLock	   *lock;
	CleanupEntry entries[CLEANUP_QUEUE_SIZE];
} CleanupShared;

static CleanupShared *cleanup = NULL;

void
cic_cleanup_request_shmem(void)
{
	RequestAddinShmemSpace(sizeof(CleanupShared));
	RequestNamedLWLockTranche("migguard cleanup", 1);
}

void
cic_cleanup_startup_shmem(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	cleanup = ShmemInitStruct("migguard cleanup", sizeof(CleanupShared), &found);
	if (!found)
	{
		memset(cleanup, 0, sizeof(CleanupShared));
		cleanup->lock = &(GetNamedLWLockTranche("migguard cleanup"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

static void
start_cleanup_worker(Oid dbid)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "migguard");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "migguard_cleanup_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "migguard cleanup");
	snprintf(worker.bgw_type, BGW_MAXLEN, "migguard cleanup");
	worker.bgw_main_arg = ObjectIdGetDatum(dbid);
	if (!RegisterDynamicBackgroundWorker(&worker, NULL))
		ereport(LOG,
				(errmsg("migguard could not start a cleanup worker for an invalid index"),
				 errhint("Raise max_worker_processes, or drop the invalid index by hand.")));
}

/*
 * Queue indexes a failed build may have left invalid, and start a worker to
 * look at them.  Called from an error handler: takes only an LWLock.
 */
void
cic_cleanup_queue(const Oid *indexids, int n, bool only_if_ccold,
				  const char *statement)
{
	int			queued = 0;
	int			i;
	int			j;

	if (cleanup == NULL || n == 0)
		return;
	LWLockAcquire(cleanup->lock, LW_EXCLUSIVE);
	for (i = 0; i < n; i++)
	{
		for (j = 0; j < CLEANUP_QUEUE_SIZE; j++)
		{
			CleanupEntry *e = &cleanup->entries[j];

			if (OidIsValid(e->dbid))
				continue;
			e->dbid = MyDatabaseId;
			e->indexid = indexids[i];
			e->userid = GetUserId();
			e->pid = MyProcPid;
			e->only_if_ccold = only_if_ccold;
			e->drop = migguard_cic_cleanup;
			strlcpy(e->statement, statement, MG_STATEMENT_LEN);
			queued++;
			break;
		}
	}
	LWLockRelease(cleanup->lock);
	if (queued > 0)
		start_cleanup_worker(MyDatabaseId);
}

/* Take the next entry for this database off the queue. */
static bool
next_entry(CleanupEntry *out)
{
	bool		found = false;
	int			j;

	LWLockAcquire(cleanup->lock, LW_EXCLUSIVE);
	for (j = 0; j < CLEANUP_QUEUE_SIZE; j++)
	{
		CleanupEntry *e = &cleanup->entries[j];

		if (e->dbid == MyDatabaseId)
		{
			*out = *e;
			e->dbid = InvalidOid;
			found = true;
			break;
		}
	}
	LWLockRelease(cleanup->lock);
	return found;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t		ls = strlen(s);
	size_t		lx = strlen(suffix);

	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/*
 * Is entry's index still there, invalid, and (for a _ccold candidate) so
 * named?  Sets its schema and name.
 */
static bool
still_invalid(const CleanupEntry *e, char **nspname, char **relname)
{
	HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(e->indexid));
	bool		invalid;

	if (!HeapTupleIsValid(tup))
		return false;
	invalid = !((Form_pg_index) GETSTRUCT(tup))->indisvalid;
	ReleaseSysCache(tup);
	*relname = get_rel_name(e->indexid);
	*nspname = get_namespace_name(get_rel_namespace(e->indexid));
	if (*relname == NULL || *nspname == NULL)
		return false;
	return invalid && (!e->only_if_ccold || ends_with(*relname, "_ccold"));
}

static void
handle_entry(const CleanupEntry *e)
{
	char	   *nspname;
	char	   *relname;
	char	   *qualified;
	DropStmt   *drop;
	MemoryContext cxt;

	/*
	 * DROP INDEX CONCURRENTLY commits and starts transactions itself, as it
	 * would under a portal: what we hand it and use afterwards must outlive
	 * the transaction memory.
	 */
	cxt = AllocSetContextCreate(TopMemoryContext, "migguard cleanup entry",
								ALLOCSET_DEFAULT_SIZES);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	MemoryContextSwitchTo(cxt);
	PushActiveSnapshot(GetTransactionSnapshot());

	/* hold the index still while we look, so it stays the one we check */
	if (!ConditionalLockRelationOid(e->indexid, ShareUpdateExclusiveLock))
		LockRelationOid(e->indexid, ShareUpdateExclusiveLock);
	if (!still_invalid(e, &nspname, &relname))
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextDelete(cxt);
		return;
	}
	qualified = quote_qualified_identifier(nspname, relname);

	if (!e->drop)
	{
		registry_add_event_for(e->pid, e->dbid, e->userid, "invalid_index", NULL,
							   qualified, e->statement,
							   psprintf("the failed build left invalid index %s (OID %u); migguard.cic_cleanup is off, so it stays",
										qualified, e->indexid));
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextDelete(cxt);
		return;
	}

	pgstat_report_activity(STATE_RUNNING,
						   psprintf("DROP INDEX CONCURRENTLY %s", qualified));
	drop = makeNode(DropStmt);
	drop->removeType = OBJECT_INDEX;
	drop->objects = list_make1(list_make2(makeString(nspname), makeString(relname)));
	drop->behavior = DROP_RESTRICT;
	drop->missing_ok = true;
	drop->concurrent = true;
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
	MemoryContextSwitchTo(TopMemoryContext);
	MemoryContextDelete(cxt);
}

void
migguard_cleanup_main(Datum main_arg)
{
	CleanupEntry entry;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(main_arg),
											  InvalidOid, 0);

	while (next_entry(&entry))
	{
		CHECK_FOR_INTERRUPTS();
		handle_entry(&entry);
	}
	proc_exit(0);
}
