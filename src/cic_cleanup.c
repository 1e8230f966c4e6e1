/*-------------------------------------------------------------------------
 *
 * cic_cleanup.c
 *		Drop the invalid index a failed concurrent build leaves behind.
 *
 * The failing backend queues the indexes its build created (and, for
 * REINDEX CONCURRENTLY, the indexes it may have renamed _ccold) in shared
 * memory and makes sure the cleanup launcher runs.  The launcher, a
 * background worker connected to no database, keeps the queue moving: it
 * forgets the entries of a dropped database, starts one cleanup worker per
 * database with entries due, and when a worker cannot start (no free
 * background worker slot) tries again later with backoff.  It exits when
 * the queue is empty.  When the launcher itself cannot start, the next
 * concurrent build, the next failure or cic_cleanup_kick() starts it.
 *
 * A cleanup worker looks at each due entry of its database once.  It acts
 * only on an index that still exists under that OID, is still invalid, is
 * not a partition of a partitioned index (which cannot be dropped alone,
 * and now belongs to whoever attached it) and, for a _ccold candidate, has
 * that name; and it drops it only in enforce mode with migguard.cic_cleanup
 * on, otherwise it reports it.  It gives way to users: it locks the table
 * and then the index, as DROP INDEX does, and runs DROP INDEX CONCURRENTLY
 * under a lock_timeout shorter than the users' deadlock_timeout, so that in
 * any lock conflict or deadlock it is the one that gives up, before the
 * server's deadlock check could pick a user's session.  An entry that gave
 * way is tried again after a backoff, up to CLEANUP_MAX_ATTEMPTS times.
 * Every outcome is an event: cleanup, invalid_index, cleanup_retry,
 * cleanup_skipped (database dropped, index now a partition, given up, queue
 * full).
 *
 * Locking: CleanupShared->lock protects everything in CleanupShared; nobody
 * holds it across anything that can block or raise an error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "access/xact.h"
#include "catalog/index.h"
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
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#define CLEANUP_QUEUE_SIZE 64

/* backoff between tries of one entry: doubling from the base, capped */
#define CLEANUP_RETRY_BASE_MS	1000
#define CLEANUP_RETRY_MAX_MS	60000
#define CLEANUP_MAX_ATTEMPTS	10

/* the longest the worker waits for a lock: well below deadlock_timeout */
#define CLEANUP_LOCK_TIMEOUT_MS 500

/* a worker registered this long ago that has not shown up failed to start */
#define CLEANUP_START_GRACE_MS	10000

/* how often cic_cleanup_kick() wants to be called while entries wait */
#define CLEANUP_KICK_INTERVAL_MS 5000

typedef struct CleanupEntry
{
	Oid			dbid;			/* InvalidOid: free */
	Oid			indexid;
	Oid			userid;
	int			pid;			/* the backend whose build failed */
	bool		only_if_ccold;	/* an old index REINDEX may have renamed */
	bool		drop;			/* enforce mode and migguard.cic_cleanup on */
	int			attempts;		/* tries that gave way so far */
	TimestampTz next_try;		/* not before */
	TimestampTz launched;		/* when a worker was started for it, or 0 */
	int			worker_pid;		/* the worker looking at it now, or 0 */
	char		statement[MG_STATEMENT_LEN];
} CleanupEntry;

typedef struct CleanupShared
{
	LWLock	   *lock;
	int			launcher_pid;	/* 0 when not running */
	Latch	   *launcher_latch;
	TimestampTz launcher_registered;	/* 0 unless starting */
	CleanupEntry entries[CLEANUP_QUEUE_SIZE];
} CleanupShared;

static CleanupShared *cleanup = NULL;

/* the outcome of one look at an entry */
typedef enum CleanupOutcome
{
	CLEANUP_DONE,				/* dropped, reported or nothing to do */
	CLEANUP_RETRY				/* gave way: try again later */
} CleanupOutcome;

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

static long
backoff_ms(int attempts)
{
	long		delay = CLEANUP_RETRY_BASE_MS;

	while (--attempts > 0 && delay < CLEANUP_RETRY_MAX_MS)
		delay *= 2;
	return Min(delay, CLEANUP_RETRY_MAX_MS);
}

static bool
register_worker(const char *function, const char *name, Oid dbid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "migguard");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "%s", name);
	worker.bgw_main_arg = ObjectIdGetDatum(dbid);
	return RegisterDynamicBackgroundWorker(&worker, &handle);
}

/*
 * Make sure the launcher runs: wake it, or start it.  Takes only an LWLock
 * and may run in an error handler.
 */
static void
ensure_launcher(void)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		start = false;
	bool		pending = false;
	int			j;

	LWLockAcquire(cleanup->lock, LW_EXCLUSIVE);
	for (j = 0; j < CLEANUP_QUEUE_SIZE && !pending; j++)
		pending = OidIsValid(cleanup->entries[j].dbid);
	if (cleanup->launcher_pid != 0)
		SetLatch(cleanup->launcher_latch);
	else if (pending &&
			 (cleanup->launcher_registered == 0 ||
			  TimestampDifferenceExceeds(cleanup->launcher_registered, now,
										 CLEANUP_START_GRACE_MS)))
	{
		cleanup->launcher_registered = now;
		start = true;
	}
	LWLockRelease(cleanup->lock);

	if (start && !register_worker("migguard_cleanup_launcher_main",
								  "migguard cleanup launcher", InvalidOid))
	{
		LWLockAcquire(cleanup->lock, LW_EXCLUSIVE);
		cleanup->launcher_registered = 0;
		LWLockRelease(cleanup->lock);
		ereport(LOG,
				(errmsg("migguard could not start its cleanup launcher; invalid indexes left by failed builds wait in its queue"),
				 errhint("Consider increasing the configuration parameter \"%s\".",
						 "max_worker_processes")));
	}
}

/*
 * Queue indexes a failed build may have left invalid, and make sure they
 * are looked at.  Called from an error handler: takes only an LWLock.
 */
void
cic_cleanup_queue(const Oid *indexids, int n, bool only_if_ccold,
				  const char *statement)
{
	TimestampTz now = GetCurrentTimestamp();
	int			lost = 0;
	int			i;
	int			j;

	if (cleanup == NULL || n == 0)
		return;

	/*
	 * Log mode observes and changes nothing, not even the background worker
	 * slots others may need: the invalid index is only recorded, by OID (no
	 * catalog access here).  Old indexes REINDEX may have renamed are left
	 * unmentioned: most of them are fine.
	 */
	if (migguard_mode == MIGGUARD_MODE_LOG)
	{
		for (i = 0; i < n && !only_if_ccold; i++)
			registry_add_event("invalid_index", NULL, NULL, statement,
							   psprintf("the failed build may have left invalid index OID %u (see pg_index.indisvalid); in log mode migguard leaves it",
										indexids[i]));
		return;
	}

	LWLockAcquire(cleanup->lock, LW_EXCLUSIVE);
	for (i = 0; i < n; i++)
	{
		for (j = 0; j < CLEANUP_QUEUE_SIZE; j++)
		{
			CleanupEntry *e = &cleanup->entries[j];

			if (OidIsValid(e->dbid))
				continue;
			memset(e, 0, sizeof(CleanupEntry));
			e->dbid = MyDatabaseId;
			e->indexid = indexids[i];
			e->userid = GetUserId();
			e->pid = MyProcPid;
			e->only_if_ccold = only_if_ccold;
			e->drop = migguard_cic_cleanup &&
				migguard_mode == MIGGUARD_MODE_ENFORCE;
			e->next_try = now;
			strlcpy(e->statement, statement ? statement : "", MG_STATEMENT_LEN);
			break;
		}
		if (j == CLEANUP_QUEUE_SIZE)
			lost++;
	}
	LWLockRelease(cleanup->lock);

	if (lost > 0)
	{
		registry_add_event("cleanup_skipped", NULL, NULL, statement,
						   psprintf("the cleanup queue is full (%d entries): %d index(es) the failed build may have left invalid are not looked at; find them with: SELECT indexrelid::regclass FROM pg_index WHERE NOT indisvalid",
									CLEANUP_QUEUE_SIZE, lost));
		ereport(LOG,
				(errmsg("migguard cleanup queue is full; %d index(es) the failed build may have left invalid are not looked at",
						lost)));
	}
	ensure_launcher();
}

/*
 * Start the launcher if entries wait and it is not running.  For a process
 * that runs periodically (the watcher): returns how many milliseconds until
 * it would like to be called again, or -1 when nothing waits.
 */
long
cic_cleanup_kick(void)
{
	bool		pending = false;
	bool		running;
	int			j;

	if (cleanup == NULL)
		return -1;
	LWLockAcquire(cleanup->lock, LW_SHARED);
	for (j = 0; j < CLEANUP_QUEUE_SIZE && !pending; j++)
		pending = OidIsValid(cleanup->entries[j].dbid);
	running = cleanup->launcher_pid != 0;
	LWLockRelease(cleanup->lock);
	if (!pending)
		return -1;
	if (!running)
		ensure_launcher();
	return CLEANUP_KICK_INTERVAL_MS;
}

/* ---- the launcher ---- */

static void
launcher_detach(int code, Datum arg)
{
	LWLockAcquire(cleanup->lock, LW_EXCLUSIVE);
	if (cleanup->launcher_pid == MyProcPid)
		cleanup->launcher_pid = 0;
	LWLockRelease(cleanup->lock);
}

/* Is a cleanup worker looking at, or about to look at, this entry? */
static bool
entry_taken(const CleanupEntry *e, TimestampTz now)
{
	if (e->worker_pid != 0)
		return BackendPidGetProc(e->worker_pid) != NULL;
	return e->launched != 0 &&
		!TimestampDifferenceExceeds(e->launched, now, CLEANUP_START_GRACE_MS);
}

/* Record an entry's end that is not a cleanup, and free it.  Lock held. */
static void
skip_entry_locked(CleanupEntry *e, const char *why)
{
	/* the event ring has a lock of its own, never taken with ours */
	CleanupEntry copy = *e;

	e->dbid = InvalidOid;
	LWLockRelease(cleanup->lock);
	registry_add_event_for(copy.pid, copy.dbid, copy.userid, "cleanup_skipped",
						   NULL, NULL, copy.statement,
						   psprintf("index OID %u: %s", copy.indexid, why));
	LWLockAcquire(cleanup->lock, LW_EXCLUSIVE);
}

/* Forget the entries of databases that no longer exist. */
static void
forget_dropped_databases(void)
{
	Oid			dbids[CLEANUP_QUEUE_SIZE];
	int			n = 0;
	int			i;
	int			j;

	LWLockAcquire(cleanup->lock, LW_SHARED);
	for (j = 0; j < CLEANUP_QUEUE_SIZE; j++)
		if (OidIsValid(cleanup->entries[j].dbid))
			dbids[n++] = cleanup->entries[j].dbid;
	LWLockRelease(cleanup->lock);

	StartTransactionCommand();
	for (i = 0; i < n; i++)
	{
		if (SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(dbids[i])))
			continue;
		LWLockAcquire(cleanup->lock, LW_EXCLUSIVE);
		for (j = 0; j < CLEANUP_QUEUE_SIZE; j++)
			if (cleanup->entries[j].dbid == dbids[i])
				skip_entry_locked(&cleanup->entries[j],
								  "its database was dropped before the cleanup");
		LWLockRelease(cleanup->lock);
	}
	CommitTransactionCommand();
}

/*
 * Start a worker for each database with entries due and nobody on them.
 * Returns the milliseconds until the next entry is due (or until a
 * running worker should be looked at again), -1 when the queue is empty.
 */
static long
launch_due_workers(void)
{
	TimestampTz now = GetCurrentTimestamp();
	long		wait = -1;
	Oid			dbid;
	int			j;
	int			k;

	/* a worker started for an entry that never took it did not start */
	LWLockAcquire(cleanup->lock, LW_EXCLUSIVE);
	for (j = 0; j < CLEANUP_QUEUE_SIZE; j++)
	{
		CleanupEntry *e = &cleanup->entries[j];

		if (!OidIsValid(e->dbid) || e->launched == 0 || e->worker_pid != 0 ||
			entry_taken(e, now))
			continue;
		e->launched = 0;
		if (++e->attempts >= CLEANUP_MAX_ATTEMPTS)
			skip_entry_locked(e, "gave up: its cleanup worker never started");
	}
	LWLockRelease(cleanup->lock);

	for (;;)
	{
		dbid = InvalidOid;
		LWLockAcquire(cleanup->lock, LW_EXCLUSIVE);
		for (j = 0; j < CLEANUP_QUEUE_SIZE && !OidIsValid(dbid); j++)
		{
			CleanupEntry *e = &cleanup->entries[j];
			bool		db_taken = false;

			if (!OidIsValid(e->dbid) || e->next_try > now || entry_taken(e, now))
				continue;
			for (k = 0; k < CLEANUP_QUEUE_SIZE; k++)
				if (cleanup->entries[k].dbid == e->dbid &&
					entry_taken(&cleanup->entries[k], now))
					db_taken = true;
			if (db_taken)
				continue;
			dbid = e->dbid;
			for (k = 0; k < CLEANUP_QUEUE_SIZE; k++)
				if (cleanup->entries[k].dbid == dbid &&
					cleanup->entries[k].next_try <= now)
					cleanup->entries[k].launched = now;
		}
		LWLockRelease(cleanup->lock);
		if (!OidIsValid(dbid))
			break;
		if (register_worker("migguard_cleanup_main", "migguard cleanup", dbid))
			continue;

		/* no slot: try this database again later */
		ereport(LOG,
				(errmsg("migguard could not start a cleanup worker for database %u; it tries again later",
						dbid),
				 errhint("Consider increasing the configuration parameter \"%s\".",
						 "max_worker_processes")));
		LWLockAcquire(cleanup->lock, LW_EXCLUSIVE);
		for (k = 0; k < CLEANUP_QUEUE_SIZE; k++)
		{
			CleanupEntry *e = &cleanup->entries[k];

			if (e->dbid != dbid || e->launched != now)
				continue;
			e->launched = 0;
			if (++e->attempts >= CLEANUP_MAX_ATTEMPTS)
				skip_entry_locked(e, "gave up: no cleanup worker could be started");
			else
				e->next_try = TimestampTzPlusMilliseconds(now, backoff_ms(e->attempts));
		}
		LWLockRelease(cleanup->lock);
	}

	/* when to look again */
	LWLockAcquire(cleanup->lock, LW_EXCLUSIVE);
	for (j = 0; j < CLEANUP_QUEUE_SIZE; j++)
	{
		CleanupEntry *e = &cleanup->entries[j];
		long		ms;

		if (!OidIsValid(e->dbid))
			continue;
		if (entry_taken(e, now))
			ms = 1000;			/* its worker wakes us when done */
		else
			ms = Max(TimestampDifferenceMilliseconds(now, e->next_try), 1);
		if (wait < 0 || ms < wait)
			wait = ms;
	}
	/* leaving with the queue empty: under the lock, so nothing is missed */
	if (wait < 0)
		cleanup->launcher_pid = 0;
	LWLockRelease(cleanup->lock);
	return wait;
}

void
migguard_cleanup_launcher_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* no database: it reads shared memory and pg_database only */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	LWLockAcquire(cleanup->lock, LW_EXCLUSIVE);
	if (cleanup->launcher_pid != 0 &&
		BackendPidGetProc(cleanup->launcher_pid) != NULL)
	{
		LWLockRelease(cleanup->lock);
		proc_exit(0);
	}
	cleanup->launcher_pid = MyProcPid;
	cleanup->launcher_latch = MyLatch;
	cleanup->launcher_registered = 0;
	LWLockRelease(cleanup->lock);
	before_shmem_exit(launcher_detach, (Datum) 0);

	for (;;)
	{
		long		wait;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		forget_dropped_databases();
		wait = launch_due_workers();
		if (wait < 0)
			break;
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	proc_exit(0);
}

/* ---- the worker of one database ---- */

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
		e->next_try = TimestampTzPlusMilliseconds(now, backoff_ms(e->attempts));
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
		skip_entry_locked(e, gave_up);
	else
	{
		CleanupEntry copy = *e;
		long		delay = backoff_ms(e->attempts);

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
