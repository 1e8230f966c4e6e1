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
 * A cleanup worker (cic_cleanup_worker.c) looks at each due entry of its
 * database once, and drops the invalid index, reports it, or gives way to a
 * user and has the entry tried again after a backoff, up to
 * CLEANUP_MAX_ATTEMPTS times.  Every outcome is an event: cleanup,
 * invalid_index, cleanup_retry, cleanup_skipped (database dropped, index
 * now a partition, given up, queue full).
 *
 * This file holds the queue and the launcher; the worker of one database
 * is in cic_cleanup_worker.c.  Locking: CleanupShared->lock protects
 * everything in CleanupShared (cic_cleanup_int.h); nobody holds it across
 * anything that can block or raise an error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"
#include "cic_cleanup_int.h"

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

CleanupShared *cleanup = NULL;


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

long
cleanup_backoff_ms(int attempts)
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
void
cleanup_skip_entry_locked(CleanupEntry *e, const char *why)
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
				cleanup_skip_entry_locked(&cleanup->entries[j],
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
			cleanup_skip_entry_locked(e, "gave up: its cleanup worker never started");
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
				cleanup_skip_entry_locked(e, "gave up: no cleanup worker could be started");
			else
				e->next_try = TimestampTzPlusMilliseconds(now, cleanup_backoff_ms(e->attempts));
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
