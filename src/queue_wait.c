/*-------------------------------------------------------------------------
 *
 * queue_wait.c
 *		Wait beside the lock queue, not in it.
 *
 * A lock request that cannot be granted joins the relation's lock queue,
 * and every later request that conflicts with it queues behind it, even one
 * that the holders would let through.  So a DDL that waits in the queue for
 * an hour-old report stops every query on its table.
 *
 * Before a guarded statement requests its locks, we try them without
 * waiting.  If one is taken, we look at who holds it in a conflicting mode:
 * while any of them is a transaction that is already old, idle in
 * transaction, prepared, or an anti-wraparound autovacuum (which does not
 * give way), the statement waits outside the queue, re-checking every
 * migguard.watch_interval, and nothing queues behind it meanwhile.  When
 * only young holders remain, it joins the queue and the watcher bounds the
 * rest.  An ordinary autovacuum worker gives way to a queued lock request
 * after deadlock_timeout in plain PostgreSQL; beside the queue we cancel it
 * after the same delay, as the server would.
 *
 * The locks that the no-wait attempt obtains are kept: the statement asks
 * for the same modes, which are then granted at once.  Nothing is tried
 * for a user who does not own the relations, so no one can lock a
 * relation ahead of PostgreSQL's own permission check.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

bool		migguard_wait_outside_queue = true;
int			migguard_outside_queue_timeout_ms = 60 * 1000;
int			migguard_old_holder_age_ms = 50;

/* most holders a decision or a message looks at */
#define MAX_HOLDERS 32

void
queue_wait_define_settings(void)
{
	DefineCustomBoolVariable("migguard.wait_outside_queue",
							 "Let a guarded DDL wait outside the lock queue while old transactions hold its lock.",
							 "Off: it joins the queue at once, and the watcher "
							 "cancels it when others queue behind it.",
							 &migguard_wait_outside_queue,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("migguard.outside_queue_timeout",
							"Longest time a guarded DDL waits outside the lock queue.",
							"Then it fails with lock_not_available, naming the "
							"sessions that hold its lock.",
							&migguard_outside_queue_timeout_ms,
							60 * 1000,
							0, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migguard.old_holder_age",
							"Transaction age from which a lock holder counts as old.",
							"A guarded DDL waits outside the lock queue while "
							"an older transaction, one idle in transaction or a "
							"prepared one holds its lock; younger ones are "
							"expected to end before anyone queues for long.",
							&migguard_old_holder_age_ms,
							50,
							0, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}

typedef enum HolderKind
{
	HOLDER_YOUNG,				/* will end soon: join the queue */
	HOLDER_AUTOVACUUM,			/* gives way: cancel it after deadlock_timeout */
	HOLDER_OLD,					/* wait beside the queue */
	HOLDER_IDLE,
	HOLDER_PREPARED,
	HOLDER_WRAPAROUND
} HolderKind;

/* Who holds the relations, as one look found them. */
typedef struct Holders
{
	int			n;
	int			pids[MAX_HOLDERS];
	HolderKind	kinds[MAX_HOLDERS];
	int			relindex[MAX_HOLDERS];	/* which of the target's relations */
	SessionActivity activity[MAX_HOLDERS];
	bool		must_wait;		/* someone who will not end soon */
	bool		autovacuum;		/* an autovacuum worker that gives way */
} Holders;

static HolderKind
classify_holder(int pid, TimestampTz now, SessionActivity *found)
{
	SessionActivity activity;
	PGPROC	   *proc;

	if (pid == 0)
		return HOLDER_PREPARED;
	if (!sessions_activity(pid, &activity))
		return HOLDER_YOUNG;	/* it has just ended */
	*found = activity;
	if (activity.is_autovacuum)
	{
		proc = BackendPidGetProc(pid);
		return (proc != NULL && mg_proc_is_wraparound_autovacuum(proc)) ?
			HOLDER_WRAPAROUND : HOLDER_AUTOVACUUM;
	}
	if (activity.state == MG_SESSION_IDLE_IN_XACT ||
		activity.state == MG_SESSION_IDLE_IN_XACT_ABORTED)
		return HOLDER_IDLE;
	if (activity.xact_start != 0 &&
		TimestampDifferenceExceeds(activity.xact_start, now,
								   migguard_old_holder_age_ms))
		return HOLDER_OLD;
	return HOLDER_YOUNG;
}

/* Find and classify the holders of locks that conflict with the target's. */
static void
look_at_holders(const GuardTarget *target, Holders *holders)
{
	struct LockData *locks = lockstate_snapshot();
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	memset(holders, 0, sizeof(Holders));
	sessions_refresh();
	for (i = 0; i < target->nrels && holders->n < MAX_HOLDERS; i++)
	{
		int			first = holders->n;
		int			j;

		holders->n += lockstate_holders(locks, MyProcPid, MyDatabaseId,
										target->relids[i], target->relmodes[i],
										holders->pids + first,
										MAX_HOLDERS - first);
		for (j = first; j < holders->n; j++)
		{
			holders->relindex[j] = i;
			holders->kinds[j] = classify_holder(holders->pids[j], now,
												&holders->activity[j]);
			if (holders->kinds[j] == HOLDER_AUTOVACUUM)
				holders->autovacuum = true;
			else if (holders->kinds[j] != HOLDER_YOUNG)
				holders->must_wait = true;
		}
	}
}

/*
 * Take every lock of the target without waiting, or none: a statement
 * must not hold one of its locks while it waits for another.
 */
bool
queue_wait_lock_now(const GuardTarget *target)
{
	int			i;
	int			j;

	for (i = 0; i < target->nrels; i++)
	{
		if (ConditionalLockRelationOid(target->relids[i], target->relmodes[i]))
			continue;
		for (j = 0; j < i; j++)
			UnlockRelationOid(target->relids[j], target->relmodes[j]);
		return false;
	}
	return true;
}

/* Ask the autovacuum workers among the holders to give way. */
static void
cancel_autovacuum(const Holders *holders, char (*relnames)[MG_EVENT_RELATION_LEN])
{
	int			i;

	for (i = 0; i < holders->n; i++)
	{
		PGPROC	   *proc;

		if (holders->kinds[i] != HOLDER_AUTOVACUUM)
			continue;
		proc = BackendPidGetProc(holders->pids[i]);
		if (proc == NULL || mg_proc_is_wraparound_autovacuum(proc))
			continue;
		if (kill(holders->pids[i], SIGINT) != 0)
			continue;
		registry_count(MG_COUNTER_AUTOVACUUM_CANCELLED);
		registry_add_event("autovacuum_cancel", NULL,
						   relnames[holders->relindex[i]], NULL,
						   psprintf("sent a cancel to autovacuum pid %d, which held the lock of a guarded DDL for longer than deadlock_timeout",
									holders->pids[i]));
		ereport(LOG,
				(errmsg("migguard: sending cancel to blocking autovacuum PID %d",
						holders->pids[i]),
				 errdetail("Process %d waits beside the lock queue of relation \"%s\".",
						   MyProcPid, relnames[holders->relindex[i]])));
	}
}

/*
 * With migguard.terminate_idle_blockers on, terminate the holders when every
 * one that keeps the statement waiting is a session idle in transaction for
 * longer than migguard.idle_blocker_age, and the user could terminate each
 * with pg_terminate_backend.  Returns whether it did.
 */
static bool
terminate_idle_holders(const GuardTarget *target, const Holders *holders,
					   char (*relnames)[MG_EVENT_RELATION_LEN])
{
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	if (!migguard_terminate_idle_blockers || !target->owner_checked ||
		holders->n == MAX_HOLDERS)
		return false;
	for (i = 0; i < holders->n; i++)
	{
		if (holders->kinds[i] == HOLDER_YOUNG)
			continue;
		if (holders->kinds[i] != HOLDER_IDLE ||
			!TimestampDifferenceExceeds(holders->activity[i].state_start, now,
										migguard_idle_blocker_age_ms) ||
			!migguard_may_signal(GetUserId(), holders->activity[i].userid))
			return false;
	}
	for (i = 0; i < holders->n; i++)
	{
		StringInfoData detail;

		if (holders->kinds[i] != HOLDER_IDLE)
			continue;
		initStringInfo(&detail);
		appendStringInfoString(&detail, "terminated ");
		if (!sessions_describe(holders->pids[i], GetUserId(), &detail))
			appendStringInfo(&detail, "pid %d", holders->pids[i]);
		appendStringInfo(&detail, ", which blocked the guarded DDL of pid %d",
						 MyProcPid);
		if (kill(holders->pids[i], SIGTERM) != 0)
			continue;
		registry_count(MG_COUNTER_TERMINATIONS);
		registry_add_event_for(holders->pids[i], MyDatabaseId,
							   holders->activity[i].userid, "terminate", NULL,
							   relnames[holders->relindex[i]], NULL,
							   detail.data);
		ereport(LOG,
				(errmsg("migguard terminated pid %d, idle in transaction and blocking the DDL of pid %d",
						holders->pids[i], MyProcPid),
				 errdetail_internal("%s", detail.data)));
	}
	return true;
}

/* Describe the holders that keep the statement waiting, for a message. */
static char *
describe_holders(const Holders *holders)
{
	StringInfoData buf;
	int			shown = 0;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < holders->n; i++)
	{
		if (holders->kinds[i] == HOLDER_YOUNG)
			continue;
		if (shown++ > 0)
			appendStringInfoString(&buf, "; ");
		if (holders->kinds[i] == HOLDER_PREPARED)
			appendStringInfoString(&buf, "a prepared transaction");
		else
		{
			if (holders->kinds[i] == HOLDER_WRAPAROUND)
				appendStringInfoString(&buf, "an autovacuum to prevent wraparound, which does not give way, ");
			if (!sessions_describe(holders->pids[i], GetUserId(), &buf))
				appendStringInfo(&buf, "pid %d", holders->pids[i]);
		}
	}
	return buf.data;
}

static void
report_timeout(const GuardTarget *target, const Holders *holders,
			   char (*relnames)[MG_EVENT_RELATION_LEN], long waited_ms)
{
	int			rel = 0;
	int			i;

	for (i = 0; i < holders->n; i++)
		if (holders->kinds[i] != HOLDER_YOUNG)
		{
			rel = holders->relindex[i];
			break;
		}
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("could not obtain lock on relation \"%s\" after waiting %ld ms outside its lock queue",
					relnames[rel], waited_ms),
			 errdetail("%s on it is held in a conflicting mode by %s. The statement never joined the lock queue, so no session waited behind it.",
					   GetLockmodeName(DEFAULT_LOCKMETHOD, target->relmodes[rel]),
					   describe_holders(holders)),
			 errhint("End those transactions and run the statement again, or raise \"%s\".",
					 "migguard.outside_queue_timeout")));
}

/*
 * Wait until the statement's locks can be requested without making anyone
 * queue for long.  Returns with every lock of the target held, or with
 * only young holders left, whom the statement then queues behind.  Raises
 * lock_not_available at migguard.outside_queue_timeout.
 */
void
queue_wait_beside(const GuardTarget *target, const char *stmt_text,
				  char (*relnames)[MG_EVENT_RELATION_LEN])
{
	TimestampTz start = GetCurrentTimestamp();
	bool		beside = false;
	bool		autovacuum_cancelled = false;
	long		waited_ms = 0;

	for (;;)
	{
		Holders		holders;

		CHECK_FOR_INTERRUPTS();
		if (queue_wait_lock_now(target))
			break;
		look_at_holders(target, &holders);
		if (!holders.must_wait && !holders.autovacuum)
			break;				/* young holders only: join the queue */
		if (terminate_idle_holders(target, &holders, relnames))
			holders.must_wait = false;

		waited_ms = TimestampDifferenceMilliseconds(start, GetCurrentTimestamp());
		if (holders.autovacuum && !autovacuum_cancelled &&
			waited_ms >= DeadlockTimeout)
		{
			cancel_autovacuum(&holders, relnames);
			autovacuum_cancelled = true;
		}
		if (waited_ms >= migguard_outside_queue_timeout_ms)
		{
			registry_add_event("outside_queue_timeout", NULL, relnames[0],
							   stmt_text, describe_holders(&holders));
			report_timeout(target, &holders, relnames, waited_ms);
		}
		if (!beside)
		{
			beside = true;
			registry_guard_set_phase(MG_PHASE_BESIDE_QUEUE);
			registry_count(MG_COUNTER_OUTSIDE_QUEUE_WAITS);
			registry_add_event("wait_outside_queue", NULL, relnames[0],
							   stmt_text, describe_holders(&holders));
		}

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(migguard_watch_interval_ms,
							 Max(1, migguard_outside_queue_timeout_ms - waited_ms)),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	if (beside)
	{
		registry_guard_set_phase(MG_PHASE_RUNNING);
		registry_add_event("join_queue", NULL, relnames[0], stmt_text,
						   psprintf("joined the lock queue after waiting %ld ms outside it",
									TimestampDifferenceMilliseconds(start, GetCurrentTimestamp())));
	}
}
