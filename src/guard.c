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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
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
	registry_guard_begin(MG_GUARD_DDL, target->relids, target->nrels,
						 target->lockmode, relation, stmt_text);
	registry_guard_describe(observe_only, target->owner_checked, relnames);
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

/* Cap lock_timeout for the statement; the caller restores it. */
static void
cap_lock_timeout(void)
{
	char		value[32];

	if (migguard_lock_timeout_ms <= 0)
		return;
	if (LockTimeout > 0 && LockTimeout <= migguard_lock_timeout_ms)
		return;
	snprintf(value, sizeof(value), "%d", migguard_lock_timeout_ms);
	(void) set_config_option("lock_timeout", value,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
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

static bool
skip_invisible(Oid relid)
{
	return xact_guard_invisible_to_others(relid);
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
											skip_invisible, &mode);
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
	{
		char	   *name = relfacts_relation_name(target->relids[i]);

		strlcpy(relnames[i], name ? name : "?", MG_EVENT_RELATION_LEN);
	}

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

	/* a command may scribble on its tree, so every try gets a fresh copy */
	if (may_retry)
		pristine = copyObject(pstmt);

	/*
	 * The cap is a setting saved at a GUC nest level, which the first commit
	 * of a statement that runs its own transactions would undo under it:
	 * those are watched, but run under the session's lock_timeout.
	 */
	save_nestlevel = (target->own_transactions || observe_only) ? 0 : NewGUCNestLevel();
	if (save_nestlevel > 0)
		cap_lock_timeout();

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
