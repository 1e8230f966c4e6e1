/*-------------------------------------------------------------------------
 *
 * guard.c
 *		Bound the harm of a DDL statement's lock while it runs.
 *
 * A guarded DDL is a utility statement that takes a lock stronger than
 * SHARE UPDATE EXCLUSIVE on an existing relation: once it waits for such a
 * lock, every query that needs the relation queues behind it.  For the
 * statement's duration we cap lock_timeout, publish it in shared memory for
 * the watcher, wait beside the lock queue while old transactions hold the
 * lock (queue_wait.c), and turn the watcher's cancellation into
 * lock_not_available with the reason.  When it holds its locks at the end,
 * its transaction stays watched until it ends (xact_guard.c).
 *
 * A statement that loses its lock wait is tried again, each try in a
 * subtransaction, after a randomized backoff: a single statement outside a
 * transaction block always, and one inside a transaction block when the
 * transaction holds no lock stronger than ROW EXCLUSIVE on another relation
 * (the usual migration: BEGIN; ALTER TABLE; INSERT INTO schema_migrations;
 * COMMIT).  Otherwise waiting again would keep those locks, and whoever
 * queues behind them, waiting too.
 *
 * Most DDL finds its locks free.  A statement that gets every lock of its
 * target at once (or whose transaction holds them already) has no wait on
 * them to lose: it runs as it is, without the subtransaction and the copy
 * of its tree a retry needs, and, alone in its transaction, without the
 * cap (see guard_process_utility).  That keeps the cost of the guard to a
 * registration.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "commands/defrem.h"
#include "commands/tablecmds.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timeout.h"

int			migguard_lock_timeout_ms = 5000;
int			migguard_lock_retries = 3;
int			migguard_retry_delay_ms = 200;
int			migguard_retry_max_delay_ms = 5000;

/* nesting depth of guarded statements in this backend */
static int	guard_depth = 0;

/* wakes the watcher once a guarded statement has lasted a watch interval */
static TimeoutId wake_timeout = MAX_TIMEOUTS;

void
guard_define_settings(void)
{
	DefineCustomIntVariable("migguard.lock_timeout",
							"Upper bound of lock_timeout for a guarded DDL statement.",
							"Applies to the statement only; a lower session "
							"lock_timeout wins.  0 leaves lock_timeout alone.",
							&migguard_lock_timeout_ms,
							5000,
							0, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migguard.lock_retries",
							"How often a guarded statement is tried again after losing its lock wait.",
							"Each try runs in a subtransaction.  Inside a "
							"transaction block only when the transaction holds "
							"no strong lock on another relation.",
							&migguard_lock_retries,
							3,
							0, 100,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migguard.retry_delay",
							"Base delay before a guarded statement is tried again.",
							"The delay doubles with every try, up to "
							"migguard.retry_max_delay, with random jitter.",
							&migguard_retry_delay_ms,
							200,
							1, 3600 * 1000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migguard.retry_max_delay",
							"Longest delay before a guarded statement is tried again.",
							NULL,
							&migguard_retry_max_delay_ms,
							5000,
							1, 3600 * 1000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/* ---- running a guarded statement ---- */

static void
wake_watcher_handler(void)
{
	registry_wake_watcher_from_handler();
}

/*
 * Register this backend's statement for the watcher.  Most DDL ends within
 * microseconds, long before anyone could queue behind it, so the watcher is
 * woken only once the statement has lasted a watch interval: short
 * statements cost it nothing.
 */
static void
guard_begin(const GuardTarget *target, const char *relation,
			const char *stmt_text, bool observe_only,
			char (*relnames)[MG_EVENT_RELATION_LEN])
{
	registry_guard_begin(MG_GUARD_DDL, target->relids, relnames, target->nrels,
						 target->lockmode, observe_only, target->owner_checked,
						 relation, stmt_text);
	if (wake_timeout == MAX_TIMEOUTS)
		wake_timeout = RegisterTimeout(USER_TIMEOUT, wake_watcher_handler);
	enable_timeout_after(wake_timeout, migguard_watch_interval_ms);
}

static void
stop_wake_timeout(void)
{
	if (wake_timeout != MAX_TIMEOUTS)
		disable_timeout(wake_timeout, false);
}

/*
 * The statement failed.  Returns whether the watcher had cancelled it, and
 * why.  The registration ends with it unless an earlier statement made it
 * the transaction's, whose other locks are still held.
 */
static bool
guard_failed(char *cancel_reason, Size len)
{
	stop_wake_timeout();
	return xact_guard_statement_failed(cancel_reason, len);
}

/*
 * Cap lock_timeout at migguard.lock_timeout, unless it is lower already:
 * GUC_ACTION_SAVE for one statement (the caller restores it at its GUC nest
 * level), GUC_ACTION_LOCAL for the rest of the transaction.
 */
void
guard_cap_lock_timeout(GucAction action)
{
	char		value[32];

	if (migguard_lock_timeout_ms <= 0)
		return;
	if (LockTimeout > 0 && LockTimeout <= migguard_lock_timeout_ms)
		return;
	snprintf(value, sizeof(value), "%d", migguard_lock_timeout_ms);
	(void) set_config_option("lock_timeout", value,
							 PGC_USERSET, PGC_S_SESSION,
							 action, true, 0, false);
}

/*
 * Does the target list every relation the statement will lock strongly?
 * Not when it was cut at MG_MAX_GUARD_RELS, nor when a relation has
 * inheritors the statement may recurse to.
 */
static bool
target_is_whole(const GuardTarget *target)
{
	int			i;

	if (target->nrels == MG_MAX_GUARD_RELS)
		return false;
	for (i = 0; i < target->nrels; i++)
		if (has_subclass(target->relids[i]))
			return false;
	return true;
}

/*
 * Is every lock of the target in hand without waiting?  A lock this
 * transaction holds in the same mode, or in ACCESS EXCLUSIVE mode, is
 * granted again at once; otherwise, where migguard may lock ahead of
 * PostgreSQL's own checks, the lock manager is asked without waiting.  A
 * statement alone in its transaction holds nothing yet: it goes straight
 * to the lock manager.
 */
static bool
locks_in_hand(const GuardTarget *target, bool may_lock_ahead, bool alone)
{
	int			i;

	if (!alone)
	{
		for (i = 0; i < target->nrels; i++)
		{
			LOCKTAG		tag;

			SET_LOCKTAG_RELATION(tag, MyDatabaseId, target->relids[i]);
			if (!mg_lock_held_by_me(&tag, target->relmodes[i]) &&
				!mg_lock_held_by_me(&tag, AccessExclusiveLock))
				break;
		}
		if (i == target->nrels)
			return true;
	}
	return may_lock_ahead && queue_wait_lock_now(target);
}

/* Sleep before try number "attempt" + 1: exponential, capped, jittered. */
static void
retry_backoff(int attempt)
{
	double		delay = migguard_retry_delay_ms;
	TimestampTz until;

	while (--attempt > 0 && delay < migguard_retry_max_delay_ms)
		delay *= 2;
	delay = Min(delay, (double) migguard_retry_max_delay_ms);
	/* between half and all of it, so retrying sessions spread out */
	delay = delay / 2 + mg_random_fraction() * delay / 2;

	until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), (long) delay);
	for (;;)
	{
		long		remaining;

		CHECK_FOR_INTERRUPTS();
		remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);
		if (remaining <= 0)
			break;
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 remaining, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * The error for a statement the watcher cancelled: lock_not_available, so
 * that migration tools treat it like a lock timeout and try again.  The
 * watcher wrote the reason as "primary message\ndetail".
 */
static void
report_watcher_cancel(char *reason, int attempts, const char *not_retried)
{
	char	   *detail = strchr(reason, '\n');

	if (detail != NULL)
		*detail++ = '\0';
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg_internal("%s", reason),
			 not_retried ?
			 errdetail_internal("%s %s", detail ? detail : "", not_retried) :
			 attempts > 1 ?
			 errdetail("%s Gave up after %d attempts.", detail ? detail : "",
					   attempts) :
			 errdetail_internal("%s", detail ? detail : ""),
			 errhint("Run the statement again when the blocking transaction has ended.")));
}

/*
 * Inside a transaction block, may a statement that lost its lock wait be
 * tried again?  Not while the transaction holds a lock stronger than ROW
 * EXCLUSIVE on another relation: waiting again would keep that relation
 * blocked.  Returns NULL when it may, or the reason it may not.
 */
static char *
why_not_retried(const GuardTarget *target)
{
	struct LockData *locks = lockstate_snapshot();
	LOCKMODE	mode = NoLock;
	Oid			other;
	char	   *name;

	other = lockstate_strong_lock_elsewhere(locks, MyProcPid, MyDatabaseId,
											target->relids, target->nrels,
											relfacts_private, &mode);
	if (!OidIsValid(other))
		return NULL;
	name = relfacts_relation_name(other);
	return psprintf("It was not tried again: its transaction holds %s on relation \"%s\", which would stay blocked while it waited again.",
					GetLockmodeName(DEFAULT_LOCKMETHOD, mode),
					name ? name : "?");
}

/*
 * Run a guarded statement.  Nested guarded statements (DDL in a function
 * called by DDL) run under the outermost registration.
 */
void
guard_process_utility(const GuardTarget *target, const char *stmt_text,
					  MG_PROCESS_UTILITY_ARGS)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	char		relnames[MG_MAX_GUARD_RELS][MG_EVENT_RELATION_LEN];
	bool		observe_only = (migguard_mode == MIGGUARD_MODE_LOG);
	bool		in_block = IsTransactionBlock();
	bool		toplevel = (context == PROCESS_UTILITY_TOPLEVEL);
	bool		is_lock = IsA(pstmt->utilityStmt, LockStmt);
	bool		may_retry;
	bool		beside;
	bool		in_hand = false;
	PlannedStmt *volatile pristine = NULL;
	PlannedStmt *volatile attempt_stmt = pstmt;
	int			save_nestlevel;
	volatile int attempt = 0;
	int			i;

	if (guard_depth > 0)
	{
		migguard_next_utility(MG_PROCESS_UTILITY_PASS);
		return;
	}

	for (i = 0; i < target->nrels; i++)
		if (!relfacts_relation_name_into(target->relids[i], relnames[i],
										 MG_EVENT_RELATION_LEN))
			strlcpy(relnames[i], "?", MG_EVENT_RELATION_LEN);

	/* log mode observes: no cap, no waiting, no retries */
	may_retry = !observe_only && target->retryable &&
		migguard_lock_retries > 0 && toplevel;

	/*
	 * Wait beside the queue only where PostgreSQL would go on to lock: the
	 * user owns the relations, the transaction may write, and the statement
	 * does not commit transactions of its own.
	 */
	beside = !observe_only && migguard_wait_outside_queue &&
		target->owner_checked && !target->own_transactions && !XactReadOnly &&
		!(is_lock && !in_block);

	/* no lock wait on the target to lose: nothing to retry, nothing to wait beside */
	if (!observe_only && locks_in_hand(target, beside, !in_block && toplevel))
	{
		in_hand = true;
		may_retry = beside = false;
	}

	/* a command may scribble on its tree, so every try gets a fresh copy */
	if (may_retry)
		pristine = copyObject(pstmt);

	/*
	 * A statement that ends holding its strong locks keeps its transaction's
	 * lock_timeout capped until the transaction ends (xact_guard.c), so the
	 * cap may as well be the transaction's from the start: its end, or the
	 * rollback of a savepoint, restores it.  Otherwise (an explicit LOCK
	 * TABLE, transactions not guarded) the cap is saved at a GUC nest level
	 * for the statement only.  The first commit of a statement that runs
	 * transactions of its own would undo either under it: those are
	 * watched, but run under the session's lock_timeout.  A statement alone
	 * in its transaction that has the locks of all its relations in hand is
	 * not capped: the waits the cap bounds are behind it.  Whatever else it
	 * locks (indexes, TOAST) others reach only through the relations it
	 * holds, and should it wait all the same while others queue behind it,
	 * the watcher cancels it after migguard.max_queue_wait.  Where ALTER
	 * would go on to lock inheritors the target does not list, the cap
	 * stays.
	 */
	save_nestlevel = 0;
	if (!target->own_transactions && !observe_only &&
		!(in_hand && !in_block && toplevel && target_is_whole(target)))
	{
		if (migguard_guard_transactions && !is_lock)
			guard_cap_lock_timeout(GUC_ACTION_LOCAL);
		else
		{
			save_nestlevel = NewGUCNestLevel();
			guard_cap_lock_timeout(GUC_ACTION_SAVE);
		}
	}

	for (;;)
	{
		char		reason[MG_DETAIL_LEN];
		volatile bool retry = false;
		ErrorData  *edata = NULL;

		attempt++;
		if (may_retry)
		{
			attempt_stmt = copyObject(pristine);
			BeginInternalSubTransaction(NULL);
			MemoryContextSwitchTo(oldcontext);
		}
		guard_begin(target, relnames[0], stmt_text, observe_only, relnames);
		guard_depth++;

		PG_TRY();
		{
			if (beside)
				queue_wait_beside(target, stmt_text, relnames);
			/* this try's copy, in a local that longjmp cannot clobber */
			migguard_next_utility(MG_PROCESS_UTILITY_PASS_STMT(attempt_stmt));
		}
		PG_CATCH();
		{
			bool		cancelled;
			char	   *not_retried = NULL;

			guard_depth--;
			cancelled = guard_failed(reason, sizeof(reason));

			MemoryContextSwitchTo(oldcontext);
			edata = CopyErrorData();

			/* a watcher cancel arrives as an ordinary query cancel */
			if (cancelled && edata->sqlerrcode != ERRCODE_QUERY_CANCELED)
			{
				/* it failed otherwise first: the cancel must not outlive it */
				registry_absorb_cancel();
				cancelled = false;
			}

			if (!may_retry)
			{
				if (!cancelled)
					PG_RE_THROW();
				FlushErrorState();
				report_watcher_cancel(reason, attempt, NULL);
			}

			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcontext);
			CurrentResourceOwner = oldowner;

			if (!cancelled && edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
				ReThrowError(edata);
			if (in_block)
				not_retried = why_not_retried(target);
			if (not_retried != NULL || attempt > migguard_lock_retries)
			{
				if (cancelled)
					report_watcher_cancel(reason, attempt, not_retried);
				ereport(ERROR,
						(errcode(edata->sqlerrcode),
						 errmsg_internal("%s", edata->message),
						 edata->detail ?
						 errdetail_internal("%s %s", edata->detail,
											not_retried ? not_retried :
											psprintf("Gave up after %d attempts.", attempt)) :
						 not_retried ? errdetail_internal("%s", not_retried) :
						 errdetail("Gave up after %d attempts.", attempt),
						 edata->hint ? errhint("%s", edata->hint) : 0));
			}

			registry_count(MG_COUNTER_RETRIED);
			registry_add_event("retry", NULL, relnames[0], stmt_text,
							   psprintf("attempt %d of %d failed: %s",
										attempt, migguard_lock_retries + 1,
										cancelled ? reason : edata->message));
			retry = true;
		}
		PG_END_TRY();

		if (retry)
		{
			FreeErrorData(edata);
			retry_backoff(attempt);
			continue;
		}

		guard_depth--;
		stop_wake_timeout();
		if (may_retry)
		{
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcontext);
			CurrentResourceOwner = oldowner;
		}
		break;
	}

	if (save_nestlevel > 0)
		AtEOXact_GUC(true, save_nestlevel);

	/*
	 * The transaction goes on after this statement unless it is alone.  An
	 * explicit LOCK TABLE is the application's own choice to hold a lock:
	 * its wait is bounded, but it does not make the transaction watched.
	 */
	xact_guard_statement_done(is_lock ? NULL : target, relnames, observe_only,
							  in_block || !toplevel);

	if (attempt > 1)
		registry_add_event("retry_success", NULL, relnames[0], stmt_text,
						   psprintf("succeeded at attempt %d", attempt));
}
