/*-------------------------------------------------------------------------
 *
 * guard.c
 *		Bound the harm of a DDL statement's lock while it runs.
 *
 * A guarded DDL is a utility statement that takes a lock stronger than
 * SHARE UPDATE EXCLUSIVE on an existing relation: once it waits for such a
 * lock, every query that needs the relation queues behind it.  For the
 * statement's duration we cap lock_timeout, publish it in shared memory for
 * the watcher, and turn the watcher's cancellation into lock_not_available
 * with the reason.  A single statement outside a transaction block is tried
 * again, each try in a subtransaction, after a randomized backoff.
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
							"How often a guarded statement outside a transaction block is tried again after losing its lock wait.",
							"Only a single statement outside a transaction block "
							"is tried again, each try in a subtransaction.",
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
			const char *stmt_text)
{
	registry_guard_begin(MG_GUARD_DDL, target->relids, target->nrels,
						 target->lockmode, relation, stmt_text);
	if (wake_timeout == MAX_TIMEOUTS)
		wake_timeout = RegisterTimeout(USER_TIMEOUT, wake_watcher_handler);
	enable_timeout_after(wake_timeout, migguard_watch_interval_ms);
}

static bool
guard_end(char *cancel_reason, Size len)
{
	if (wake_timeout != MAX_TIMEOUTS)
		disable_timeout(wake_timeout, false);
	return registry_guard_end(cancel_reason, len);
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
 * that migration tools treat it like a lock timeout and try again.
 */
static void
report_watcher_cancel(const char *relation, const char *reason, int attempts)
{
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("canceling statement because other sessions queued behind its lock on relation %s",
					relation),
			 attempts > 1 ?
			 errdetail("%s Gave up after %d attempts.", reason, attempts) :
			 errdetail("%s", reason),
			 errhint("Run the statement again when the blocking transaction has ended.")));
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
	char	   *relation;
	bool		may_retry;
	PlannedStmt *volatile pristine = NULL;
	int			save_nestlevel;
	volatile int attempt = 0;

	if (guard_depth > 0)
	{
		migguard_next_utility(MG_PROCESS_UTILITY_PASS);
		return;
	}

	relation = relfacts_relation_name(target->relids[0]);
	if (relation == NULL)
		relation = pstrdup("?");
	may_retry = target->retryable && migguard_lock_retries > 0 &&
		context == PROCESS_UTILITY_TOPLEVEL && !IsTransactionBlock();

	/* a command may scribble on its tree, so every try gets a fresh copy */
	if (may_retry)
		pristine = copyObject(pstmt);

	/*
	 * The cap is a setting saved at a GUC nest level, which the first commit
	 * of a statement that runs its own transactions would undo under it:
	 * those are watched, but run under the session's lock_timeout.
	 */
	save_nestlevel = target->own_transactions ? 0 : NewGUCNestLevel();
	if (!target->own_transactions)
		cap_lock_timeout();

	for (;;)
	{
		char		reason[MG_DETAIL_LEN];
		volatile bool retry = false;
		ErrorData  *edata = NULL;

		attempt++;
		if (may_retry)
		{
			pstmt = copyObject(pristine);
			BeginInternalSubTransaction(NULL);
			MemoryContextSwitchTo(oldcontext);
		}
		guard_begin(target, relation, stmt_text);
		guard_depth++;

		PG_TRY();
		{
			migguard_next_utility(MG_PROCESS_UTILITY_PASS);
		}
		PG_CATCH();
		{
			bool		cancelled;

			guard_depth--;
			cancelled = guard_end(reason, sizeof(reason));

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
				report_watcher_cancel(relation, reason, attempt);
			}

			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcontext);
			CurrentResourceOwner = oldowner;

			if (!cancelled && edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
				ReThrowError(edata);
			if (attempt > migguard_lock_retries)
			{
				if (cancelled)
					report_watcher_cancel(relation, reason, attempt);
				ereport(ERROR,
						(errcode(edata->sqlerrcode),
						 errmsg_internal("%s", edata->message),
						 errdetail("Gave up after %d attempts.", attempt)));
			}

			registry_count(MG_COUNTER_RETRIED);
			registry_add_event("retry", NULL, relation, stmt_text,
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
		if (guard_end(NULL, 0))
			registry_absorb_cancel();	/* it finished as the watcher cancelled it */
		if (may_retry)
		{
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcontext);
			CurrentResourceOwner = oldowner;
		}
		break;
	}

	if (!target->own_transactions)
		AtEOXact_GUC(true, save_nestlevel);

	if (attempt > 1)
		registry_add_event("retry_success", NULL, relation, stmt_text,
						   psprintf("succeeded at attempt %d", attempt));
}
