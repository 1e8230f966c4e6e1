/*-------------------------------------------------------------------------
 *
 * watcher.c
 *		The "migguard watcher" background worker.
 *
 * It sleeps on its latch, without timeout, while no guarded DDL is in
 * flight; a backend that registers one sets the latch.  While one is, it
 * looks at the lock queue every migguard.watch_interval.  When others have
 * queued behind the strong locks of a registration for too long (a guarded
 * statement, or a transaction that keeps the locks of its DDL), it cancels
 * the statement running there, or terminates the session when it sits idle
 * in transaction; when allowed, it terminates an idle-in-transaction session
 * that blocks a guarded DDL.  It never touches a session that has not run a
 * guarded DDL, but for that opt-in.
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
#include "utils/acl.h"
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
void
watcher_begin_lookup(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	StartTransactionCommand();
	MemoryContextSwitchTo(cxt);
}

void
watcher_end_lookup(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
}

/*
 * The DDL waits only for sessions idle in transaction for long enough:
 * terminate them, so the DDL can go on.  Returns false, touching nothing,
 * unless every blocker qualifies: the DDL's user owns what it alters, so
 * PostgreSQL's ownership check is behind it, and could terminate each
 * blocker with pg_terminate_backend.
 */
static bool
terminate_idle_blockers(const GuardSlot *slot, const QueueFacts *facts)
{
	SessionActivity activity[MG_MAX_BLOCKERS];
	bool		allowed = true;
	int			i;

	if (!migguard_terminate_idle_blockers || slot->observe_only ||
		!slot->owner_checked || facts->awaited == NoLock ||
		facts->nblockers == 0 || facts->nblockers_total > facts->nblockers)
		return false;
	for (i = 0; i < facts->nblockers; i++)
		if (!sessions_idle_in_transaction(facts->blockers[i], slot->dbid,
										  migguard_idle_blocker_age_ms) ||
			!sessions_activity(facts->blockers[i], &activity[i]))
			return false;

	watcher_begin_lookup();
	for (i = 0; i < facts->nblockers && allowed; i++)
		allowed = migguard_may_signal(slot->userid, activity[i].userid);
	for (i = 0; i < facts->nblockers && allowed; i++)
	{
		StringInfoData detail;

		initStringInfo(&detail);
		appendStringInfoString(&detail, "terminated ");
		sessions_describe(facts->blockers[i], slot->userid, &detail);
		appendStringInfo(&detail, ", which blocked the guarded DDL of pid %d",
						 slot->pid);
		if (kill(facts->blockers[i], SIGTERM) == 0)
		{
			registry_count(MG_COUNTER_TERMINATIONS);
			registry_add_event_in(slot->encoding, facts->blockers[i], slot->dbid,
								  activity[i].userid, "terminate", NULL,
								  slot->relation, slot->statement, detail.data);
			ereport(LOG,
					(errmsg("migguard terminated pid %d, idle in transaction and blocking the DDL of pid %d",
							facts->blockers[i], slot->pid),
					 errdetail_internal("%s", detail.data)));
		}
	}
	watcher_end_lookup();
	return allowed;
}

/* Append the sessions with these pids, as error messages describe them. */
void
watcher_append_sessions(StringInfo buf, const int *pids, int n, Oid viewer,
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
void
watcher_cancel_slot(const GuardSlot *slot, const char *reason, const char *why)
{
	if (!registry_request_cancel(slot->pid, slot->registered, reason))
		return;
	registry_count(slot->kind == MG_GUARD_XACT && slot->phase == MG_PHASE_BETWEEN ?
				   MG_COUNTER_XACT_CANCELLED : MG_COUNTER_CANCELLED);
	ereport(LOG,
			(errmsg("migguard cancelled the statement of pid %d: %s",
					slot->pid, why),
			 errdetail_internal("%s", reason)));
}

/* The name of the relation the queue formed on, as the slot knows it. */
static const char *
queue_relation(const GuardSlot *slot, const QueueFacts *facts)
{
	int			i;

	for (i = 0; i < slot->nrels; i++)
		if (slot->relids[i] == facts->relid && slot->relnames[i][0] != '\0')
			return slot->relnames[i];
	return psprintf("with OID %u", facts->relid);
}

/*
 * The facts of a queue, for the detail of a message: how many waited, for
 * how long, against which thresholds.
 */
static void
append_queue(StringInfo buf, const QueueFacts *facts, long waited_ms)
{
	appendStringInfo(buf,
					 ngettext("%d session waited for %ld ms",
							  "%d sessions waited for up to %ld ms",
							  facts->waiters),
					 facts->waiters, waited_ms);
	appendStringInfo(buf,
					 " (migguard.max_queue_wait is %d ms, migguard.max_queue_length is %d; clients waiting inside a connection pooler are not counted).",
					 migguard_max_queue_wait_ms, migguard_max_queue_length);
}

/*
 * Cancel the guarded statement in "slot", telling its session why.  The
 * reason is "primary message\ndetail": the session turns it into its
 * error.
 */
static void
cancel_guarded(const GuardSlot *slot, const QueueFacts *facts, long waited_ms)
{
	StringInfoData reason;
	const char *relname = queue_relation(slot, facts);

	watcher_begin_lookup();
	initStringInfo(&reason);
	if (slot->phase != MG_PHASE_BETWEEN)
	{
		appendStringInfo(&reason,
						 "canceling statement because other sessions queued behind its lock on relation \"%s\"\n",
						 relname);
		append_queue(&reason, facts, waited_ms);
		if (facts->awaited != NoLock)
		{
			appendStringInfo(&reason, " It was waiting for %s, held by ",
							 GetLockmodeName(DEFAULT_LOCKMETHOD, facts->awaited));
			watcher_append_sessions(&reason, facts->blockers, facts->nblockers,
									slot->userid, ", ");
			if (facts->nblockers == 0)
				appendStringInfoString(&reason, "sessions ahead of it in the queue");
			appendStringInfoChar(&reason, '.');
		}
		else
			appendStringInfoString(&reason, " It held its lock while they waited.");
	}
	else
	{
		appendStringInfo(&reason,
						 "canceling statement because other sessions queued behind the %s its transaction holds on relation \"%s\"\n",
						 GetLockmodeName(DEFAULT_LOCKMETHOD, facts->mode), relname);
		append_queue(&reason, facts, waited_ms);
		appendStringInfoString(&reason,
							   " The lock is held until the transaction ends; it must be rolled back to release it.");
	}
	watcher_end_lookup();

	watcher_cancel_slot(slot, reason.data, "sessions queued behind its lock");
}

/*
 * The registered transaction in "slot" is idle while others queue behind
 * its lock: terminate its session, or, with
 * migguard.terminate_idle_lock_holders off, say so in the log once.
 */
static void
terminate_idle_holder(const GuardSlot *slot, const QueueFacts *facts,
					  long waited_ms, const SessionActivity *activity)
{
	StringInfoData reason;
	const char *relname = queue_relation(slot, facts);
	const char *mode = GetLockmodeName(DEFAULT_LOCKMETHOD, facts->mode);
	long		idle_ms = TimestampDifferenceMilliseconds(activity->state_start,
														  GetCurrentTimestamp());

	initStringInfo(&reason);
	appendStringInfo(&reason,
					 "terminating connection because other sessions queued behind the %s its idle transaction holds on relation \"%s\"\n",
					 mode, relname);
	append_queue(&reason, facts, waited_ms);
	appendStringInfo(&reason, " The session was idle in transaction for %ld ms.",
					 idle_ms);

	if (!migguard_terminate_idle_lock_holders)
	{
		if (!registry_mark_reported(slot->pid, slot->registered))
			return;
		registry_add_event_in(slot->encoding, slot->pid, slot->dbid,
							  slot->userid, "idle_holder", NULL, relname,
							  slot->statement, reason.data);
		ereport(LOG,
				(errmsg("migguard: pid %d is idle in a transaction whose %s on relation \"%s\" others queue behind",
						slot->pid, mode, relname),
				 errdetail_internal("%s", reason.data),
				 errhint("Set \"%s\" to on to terminate such sessions.",
						 "migguard.terminate_idle_lock_holders")));
		return;
	}
	if (!registry_request_terminate(slot->pid, slot->registered, reason.data))
		return;
	registry_count(MG_COUNTER_XACT_TERMINATED);
	registry_add_event_in(slot->encoding, slot->pid, slot->dbid, slot->userid,
						  "terminate_idle", NULL, relname, slot->statement,
						  reason.data);
	ereport(LOG,
			(errmsg("migguard terminated pid %d, idle in a transaction whose %s on relation \"%s\" others queued behind",
					slot->pid, mode, relname),
			 errdetail_internal("%s", reason.data)));
}

/* Log mode: say once what the watcher would have done. */
static void
report_observed(const GuardSlot *slot, const QueueFacts *facts,
				long waited_ms)
{
	StringInfoData detail;

	if (!registry_mark_reported(slot->pid, slot->registered))
		return;
	initStringInfo(&detail);
	append_queue(&detail, facts, waited_ms);
	registry_add_event_in(slot->encoding, slot->pid, slot->dbid, slot->userid,
						  "observe", NULL, queue_relation(slot, facts),
						  slot->statement, detail.data);
	ereport(LOG,
			(errmsg("migguard would have acted on pid %d: sessions queue behind its lock on relation \"%s\"",
					slot->pid, queue_relation(slot, facts)),
			 errdetail_internal("%s migguard.mode is log.", detail.data)));
}

/* Others queue behind the locks of slot for too long: act. */
static void
act_on_queue(const GuardSlot *slot, const QueueFacts *facts, long waited_ms)
{
	SessionActivity activity;

	if (slot->observe_only)
	{
		report_observed(slot, facts, waited_ms);
		return;
	}

	/*
	 * Between its guarded statements the transaction may run other
	 * statements or be idle: a cancel reaches only a running statement.  A
	 * cancel that found the session idle was lost; it is not repeated.
	 */
	if (slot->kind == MG_GUARD_XACT && slot->phase == MG_PHASE_BETWEEN &&
		sessions_activity(slot->pid, &activity) &&
		activity.state == MG_SESSION_IDLE_IN_XACT)
	{
		if (!slot->cancel_requested ||
			TimestampDifferenceExceeds(slot->cancel_sent, GetCurrentTimestamp(),
									   migguard_watch_interval_ms))
			terminate_idle_holder(slot, facts, waited_ms, &activity);
		return;
	}
	if (!slot->cancel_requested)
		cancel_guarded(slot, facts, waited_ms);
}

/*
 * One look at the lock queue behind every registration.  Returns whether
 * there was any, that is, whether to look again soon.
 */
static bool
watch_guards(void)
{
	GuardSlot  *slots;
	int			nslots = registry_copy_guards(&slots);
	LockData   *locks = NULL;
	bool		busy = false;
	int			i;

	for (i = 0; i < nslots; i++)
	{
		GuardSlot  *slot = &slots[i];
		QueueFacts	facts;
		TimestampTz now = GetCurrentTimestamp();
		long		waited_ms = 0;

		if (slot->terminate_requested)
			continue;
		busy = true;

		/*
		 * Nobody can have queued behind a registration for longer than it
		 * has existed, and most DDL ends within microseconds: look at the
		 * lock table only once one has lasted a watch interval.
		 */
		if (slot->kind != MG_GUARD_CIC &&
			!TimestampDifferenceExceeds(slot->registered, now,
										migguard_watch_interval_ms))
			continue;
		if (locks == NULL)
		{
			locks = lockstate_snapshot();
			sessions_refresh();
		}
		if (slot->kind == MG_GUARD_CIC)
		{
			if (!slot->cancel_requested)
				watcher_watch_index_build(slot, locks, now);
			continue;
		}

		/* every strong relation lock the session holds or awaits */
		lockstate_examine(locks, slot->pid, slot->dbid, NULL, 0, now, &facts);

		if (slot->phase == MG_PHASE_RUNNING && !slot->cancel_requested &&
			terminate_idle_blockers(slot, &facts))
			continue;

		if (facts.waiters > 0)
			waited_ms = TimestampDifferenceMilliseconds(facts.oldest_wait, now);
		if ((migguard_max_queue_wait_ms > 0 && facts.waiters > 0 &&
			 waited_ms > migguard_max_queue_wait_ms) ||
			(migguard_max_queue_length > 0 &&
			 facts.waiters > migguard_max_queue_length))
			act_on_queue(slot, &facts, waited_ms);
	}
	watcher_forget_finished_builds(slots, nslots);
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

		/* cleanups that could not start a worker are tried again from here */
		{
			long		cleanup = cic_cleanup_kick();

			if (cleanup >= 0 && (timeout < 0 || cleanup < timeout))
				timeout = cleanup;
		}
		MemoryContextReset(loop_cxt);

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
						 (timeout >= 0 ? WL_TIMEOUT : 0),
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
