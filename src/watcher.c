/*-------------------------------------------------------------------------
 *
 * watcher.c
 *		The "migguard watcher" background worker.
 *
 * It sleeps on its latch, without timeout, while no guarded DDL is in
 * flight; a backend that registers one sets the latch.  While one is, it
 * looks at the lock queue every migguard.watch_interval and cancels a DDL
 * that others have queued behind for too long, or, when allowed, terminates
 * an idle-in-transaction session that blocks it.  It never touches anything
 * else.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "access/xact.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"

/* seconds before the postmaster restarts a watcher that died */
#define WATCHER_RESTART_SECONDS 1

int			migguard_watch_interval_ms = 20;
int			migguard_max_queue_wait_ms = 200;
int			migguard_max_queue_length = 20;
bool		migguard_terminate_idle_blockers = false;
int			migguard_idle_blocker_age_ms = 60 * 1000;

void
watcher_define_settings(void)
{
	DefineCustomIntVariable("migguard.watch_interval",
							"How often the watcher looks at the lock queue while a guarded DDL runs.",
							NULL,
							&migguard_watch_interval_ms,
							20,
							1, 10000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migguard.max_queue_wait",
							"Longest time a session may wait behind a guarded DDL before the DDL is cancelled.",
							"0 disables this limit.",
							&migguard_max_queue_wait_ms,
							200,
							0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migguard.max_queue_length",
							"Number of sessions waiting behind a guarded DDL above which the DDL is cancelled.",
							"0 disables this limit.",
							&migguard_max_queue_length,
							20,
							0, INT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("migguard.terminate_idle_blockers",
							 "Terminate sessions idle in transaction that block a guarded DDL.",
							 "Only sessions idle in transaction for longer than "
							 "migguard.idle_blocker_age, in the DDL's database.",
							 &migguard_terminate_idle_blockers,
							 false,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("migguard.idle_blocker_age",
							"How long a blocking session must have been idle in transaction before it may be terminated.",
							NULL,
							&migguard_idle_blocker_age_ms,
							60 * 1000,
							0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}

void
watcher_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = WATCHER_RESTART_SECONDS;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "migguard");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "migguard_watcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "migguard watcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "migguard watcher");
	RegisterBackgroundWorker(&worker);
}

static void
watcher_detach(int code, Datum arg)
{
	registry_set_watcher(0, NULL);
}

/* Catalog lookups (user names) need a transaction; shared catalogs only. */
static void
begin_lookup(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	StartTransactionCommand();
	MemoryContextSwitchTo(cxt);
}

static void
end_lookup(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
}

/*
 * The DDL waits only for sessions idle in transaction for long enough:
 * terminate them, so the DDL can go on.  Returns false, touching nothing,
 * unless every blocker qualifies.
 */
static bool
terminate_idle_blockers(const GuardSlot *slot, const QueueFacts *facts)
{
	int			i;

	if (!migguard_terminate_idle_blockers || facts->awaited == NoLock ||
		facts->nblockers == 0)
		return false;
	for (i = 0; i < facts->nblockers; i++)
		if (!sessions_idle_in_transaction(facts->blockers[i], slot->dbid,
										  migguard_idle_blocker_age_ms))
			return false;

	begin_lookup();
	for (i = 0; i < facts->nblockers; i++)
	{
		StringInfoData detail;

		initStringInfo(&detail);
		appendStringInfoString(&detail, "terminated ");
		sessions_describe(facts->blockers[i], InvalidOid, &detail);
		appendStringInfo(&detail, ", which blocked the guarded DDL of pid %d",
						 slot->pid);
		if (kill(facts->blockers[i], SIGTERM) == 0)
		{
			registry_count(MG_COUNTER_TERMINATIONS);
			registry_add_event_for(facts->blockers[i], slot->dbid, InvalidOid,
								   "terminate", NULL, slot->relation,
								   slot->statement, detail.data);
			ereport(LOG,
					(errmsg("migguard terminated pid %d, idle in transaction and blocking the DDL of pid %d",
							facts->blockers[i], slot->pid),
					 errdetail_internal("%s", detail.data)));
		}
	}
	end_lookup();
	return true;
}

/* Append the sessions with these pids, as error messages describe them. */
static void
append_sessions(StringInfo buf, const int *pids, int n, Oid viewer,
				const char *separator)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, separator);
		if (!sessions_describe(pids[i], viewer, buf))
			appendStringInfo(buf, "pid %d", pids[i]);
	}
}

/* Cancel the statement in slot; count it, record it, log why. */
static void
cancel_slot(const GuardSlot *slot, const char *reason, const char *why)
{
	if (!registry_request_cancel(slot->pid, slot->started, reason))
		return;
	registry_count(MG_COUNTER_CANCELLED);
	registry_add_event_for(slot->pid, slot->dbid, slot->userid, "cancel", NULL,
						   slot->relation, slot->statement, reason);
	ereport(LOG,
			(errmsg("migguard cancelled the statement of pid %d: %s",
					slot->pid, why),
			 errdetail_internal("%s", reason)));
}

/* Cancel the guarded DDL in "slot", telling its session why. */
static void
cancel_guarded(const GuardSlot *slot, const QueueFacts *facts, long waited_ms)
{
	StringInfoData reason;

	begin_lookup();
	initStringInfo(&reason);
	appendStringInfo(&reason,
					 ngettext("%d session waited behind it for %ld ms",
							  "%d sessions waited behind it for up to %ld ms",
							  facts->waiters),
					 facts->waiters, waited_ms);
	appendStringInfo(&reason,
					 " (migguard.max_queue_wait is %d ms, migguard.max_queue_length is %d).",
					 migguard_max_queue_wait_ms, migguard_max_queue_length);
	if (facts->awaited != NoLock)
	{
		appendStringInfo(&reason, " It was waiting for %s, held by ",
						 GetLockmodeName(DEFAULT_LOCKMETHOD, facts->awaited));
		append_sessions(&reason, facts->blockers, facts->nblockers,
						slot->userid, ", ");
		if (facts->nblockers == 0)
			appendStringInfoString(&reason, "sessions ahead of it in the queue");
		appendStringInfoChar(&reason, '.');
	}
	else
		appendStringInfoString(&reason, " It held its lock while they waited.");
	end_lookup();

	cancel_slot(slot, reason.data, "sessions queued behind its lock");
}

/* ---- concurrent index builds ---- */

/* When each build in flight entered its current phase. */
typedef struct CicPhase
{
	int			pid;
	TimestampTz started;		/* identifies the statement */
	int			phase;
	TimestampTz since;
} CicPhase;

#define MAX_WATCHED_BUILDS 64
static CicPhase cic_phases[MAX_WATCHED_BUILDS];
static int	ncic_phases = 0;

static const char *
wait_phase_name(int phase)
{
	switch (phase)
	{
		case PROGRESS_CREATEIDX_PHASE_WAIT_1:
			return "waiting for writers before build";
		case PROGRESS_CREATEIDX_PHASE_WAIT_2:
			return "waiting for writers before validation";
		case PROGRESS_CREATEIDX_PHASE_WAIT_3:
			return "waiting for old snapshots";
		case PROGRESS_CREATEIDX_PHASE_WAIT_4:
			return "waiting for readers before marking dead";
		case PROGRESS_CREATEIDX_PHASE_WAIT_5:
			return "waiting for readers before dropping";
		default:
			return NULL;		/* not a wait phase */
	}
}

/* How long the build in slot has been in its current phase, tracked here. */
static long
phase_age_ms(const GuardSlot *slot, int phase, TimestampTz now)
{
	int			i;

	for (i = 0; i < ncic_phases; i++)
	{
		CicPhase   *p = &cic_phases[i];

		if (p->pid != slot->pid || p->started != slot->started)
			continue;
		if (p->phase != phase)
		{
			p->phase = phase;
			p->since = now;
		}
		return TimestampDifferenceMilliseconds(p->since, now);
	}
	if (ncic_phases < MAX_WATCHED_BUILDS)
	{
		cic_phases[ncic_phases].pid = slot->pid;
		cic_phases[ncic_phases].started = slot->started;
		cic_phases[ncic_phases].phase = phase;
		cic_phases[ncic_phases].since = now;
		ncic_phases++;
	}
	return 0;
}

/* Forget builds no longer in flight. */
static void
forget_finished_builds(const GuardSlot *slots, int nslots)
{
	int			i = 0;

	while (i < ncic_phases)
	{
		bool		alive = false;
		int			j;

		for (j = 0; j < nslots; j++)
			if (slots[j].pid == cic_phases[i].pid &&
				slots[j].started == cic_phases[i].started)
				alive = true;
		if (alive)
			i++;
		else
			cic_phases[i] = cic_phases[--ncic_phases];
	}
}

/*
 * Cancel a concurrent index build that has spent longer than
 * migguard.cic_wait_timeout in one of its wait phases.
 */
static void
watch_index_build(const GuardSlot *slot, LockData *locks, TimestampTz now)
{
	int			phase = sessions_index_build_phase(slot->pid);
	const char *phase_name = wait_phase_name(phase);
	long		age = phase_age_ms(slot, phase, now);
	int			blockers[MG_MAX_BLOCKERS];
	int			nblockers;
	StringInfoData reason;

	if (phase_name == NULL || age <= migguard_cic_wait_timeout_ms)
		return;

	nblockers = lockstate_wait_blockers(locks, slot->pid, blockers, MG_MAX_BLOCKERS);
	begin_lookup();
	initStringInfo(&reason);
	appendStringInfo(&reason,
					 "It spent %ld ms in phase \"%s\" (migguard.cic_wait_timeout is %d ms)",
					 age, phase_name, migguard_cic_wait_timeout_ms);
	if (nblockers > 0)
	{
		appendStringInfoString(&reason, ", waiting for ");
		append_sessions(&reason, blockers, nblockers, slot->userid, "; ");
	}
	appendStringInfoChar(&reason, '.');
	end_lookup();

	cancel_slot(slot, reason.data,
				"its concurrent index build waited too long");
}

/*
 * One look at the lock queue behind every guarded DDL in flight.  Returns
 * whether there was any, that is, whether to look again soon.
 */
static bool
watch_guards(void)
{
	GuardSlot  *slots;
	int			nslots = registry_copy_guards(&slots);
	LockData   *locks = NULL;
	TimestampTz now;
	bool		busy = false;
	int			i;

	for (i = 0; i < nslots; i++)
	{
		GuardSlot  *slot = &slots[i];
		QueueFacts	facts;
		long		waited_ms = 0;

		if (slot->cancel_requested)
			continue;
		busy = true;

		/*
		 * Nobody can have queued behind a statement for longer than it has
		 * run, and most DDL ends within microseconds: look at the lock
		 * table only once a statement has lasted a watch interval.
		 */
		if (slot->kind == MG_GUARD_DDL &&
			!TimestampDifferenceExceeds(slot->started, GetCurrentTimestamp(),
										migguard_watch_interval_ms))
			continue;
		if (locks == NULL)
		{
			locks = lockstate_snapshot();
			sessions_refresh();
		}
		if (slot->kind == MG_GUARD_CIC)
		{
			watch_index_build(slot, locks, GetCurrentTimestamp());
			continue;
		}
		now = GetCurrentTimestamp();
		lockstate_examine(locks, slot->pid, slot->dbid, slot->relids,
						  slot->nrels, now, &facts);

		if (terminate_idle_blockers(slot, &facts))
			continue;

		if (facts.waiters > 0)
			waited_ms = TimestampDifferenceMilliseconds(facts.oldest_wait, now);
		if ((migguard_max_queue_wait_ms > 0 && facts.waiters > 0 &&
			 waited_ms > migguard_max_queue_wait_ms) ||
			(migguard_max_queue_length > 0 &&
			 facts.waiters > migguard_max_queue_length))
			cancel_guarded(slot, &facts, waited_ms);
	}
	forget_finished_builds(slots, nslots);
	return busy;
}

void
migguard_watcher_main(Datum main_arg)
{
	MemoryContext loop_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* no database: it reads lock state, shared memory and shared catalogs */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	registry_set_watcher(MyProcPid, MyLatch);
	before_shmem_exit(watcher_detach, (Datum) 0);

	loop_cxt = AllocSetContextCreate(TopMemoryContext,
									 "migguard watcher loop",
									 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		long		timeout = -1;	/* no work: sleep until woken */
		MemoryContext oldcxt;

		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			registry_watcher_reloaded();
		}

		oldcxt = MemoryContextSwitchTo(loop_cxt);
		if (watch_guards())
			timeout = migguard_watch_interval_ms;
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(loop_cxt);

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
						 (timeout >= 0 ? WL_TIMEOUT : 0),
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
