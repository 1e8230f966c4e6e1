/*-------------------------------------------------------------------------
 *
 * xact_guard.c
 *		Watch a transaction's strong locks until it ends.
 *
 * A lock lives until its transaction ends, and migration tools run their
 * DDL inside transactions.  Once a guarded statement holds a lock stronger
 * than SHARE UPDATE EXCLUSIVE on an existing relation, its registration in
 * shared memory stays, as the transaction's, until commit or abort, so the
 * watcher goes on watching the queues behind the transaction's locks while
 * later statements run or the session sits idle.  A rollback to a savepoint
 * that releases those locks prunes them; lock_timeout stays capped for the
 * rest of the transaction.
 *
 * The watcher cancels a statement of such a transaction with SIGINT, and
 * terminates an idle one with SIGTERM.  What the session then reports is
 * PostgreSQL's own error, raised wherever the signal is noticed, so the
 * emit_log_hook turns it into one that says why: a cancel becomes
 * lock_not_available, which migration tools treat as retryable.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/resowner.h"

bool		migguard_guard_transactions = true;
bool		migguard_terminate_idle_lock_holders = true;

/* this backend's registration is its transaction's, with these locks */
static bool xact_registered = false;
static int	xact_nrels = 0;
static Oid	xact_relids[MG_MAX_GUARD_RELS];
static char xact_relnames[MG_MAX_GUARD_RELS][MG_EVENT_RELATION_LEN];

static emit_log_hook_type prev_emit_log_hook = NULL;

void
xact_guard_define_settings(void)
{
	DefineCustomBoolVariable("migguard.guard_transactions",
							 "Watch the strong locks of a guarded DDL until its transaction ends.",
							 "Off: only the statement itself is watched, and its "
							 "locks are not once it has ended.",
							 &migguard_guard_transactions,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("migguard.terminate_idle_lock_holders",
							 "Terminate a session idle in a transaction whose DDL locks others queue behind.",
							 "Off: the watcher only logs it.",
							 &migguard_terminate_idle_lock_holders,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);
}

/*
 * Does this session hold relid in a mode stronger than SHARE UPDATE
 * EXCLUSIVE, that is, one that blocks writes?
 */
bool
xact_guard_holds_strong_lock(Oid relid)
{
	LOCKTAG		tag;
	LOCKMODE	mode;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	for (mode = ShareLock; mode <= AccessExclusiveLock; mode++)
		if (mg_lock_held_by_me(&tag, mode))
			return true;
	return false;
}

/* Forget the relations whose strong locks this session no longer holds. */
static bool
prune_released(void)
{
	int			i = 0;
	bool		changed = false;

	while (i < xact_nrels)
	{
		if (xact_guard_holds_strong_lock(xact_relids[i]))
		{
			i++;
			continue;
		}
		xact_nrels--;
		xact_relids[i] = xact_relids[xact_nrels];
		memcpy(xact_relnames[i], xact_relnames[xact_nrels], MG_EVENT_RELATION_LEN);
		changed = true;
	}
	return changed;
}

static void
remember(Oid relid, const char *relname)
{
	int			i;

	for (i = 0; i < xact_nrels; i++)
		if (xact_relids[i] == relid)
			return;
	if (xact_nrels == MG_MAX_GUARD_RELS)
		return;
	xact_relids[xact_nrels] = relid;
	strlcpy(xact_relnames[xact_nrels], relname ? relname : "?",
			MG_EVENT_RELATION_LEN);
	xact_nrels++;
}

static LOCKMODE
strongest_held(void)
{
	LOCKMODE	strongest = NoLock;
	int			i;

	for (i = 0; i < xact_nrels; i++)
	{
		LOCKTAG		tag;
		LOCKMODE	mode;

		SET_LOCKTAG_RELATION(tag, MyDatabaseId, xact_relids[i]);
		for (mode = AccessExclusiveLock; mode > strongest; mode--)
			if (mg_lock_held_by_me(&tag, mode))
				strongest = mode;
	}
	return strongest;
}

/* Free the registration; absorb a cancel that is on its way. */
static void
end_registration(void)
{
	xact_registered = false;
	xact_nrels = 0;
	if (registry_guard_end(NULL, 0))
		registry_absorb_cancel();
}

/* Publish the transaction's locks; absorb a cancel of the ended statement. */
static void
publish(void)
{
	if (registry_guard_keep(xact_relids, xact_nrels, strongest_held(),
							xact_relnames, NULL, 0))
		registry_absorb_cancel();
}

/*
 * A guarded statement failed.  Returns whether the watcher had cancelled
 * it, and why.  The registration ends, unless an earlier statement made it
 * the transaction's: a savepoint may keep the transaction, and its other
 * locks, alive.
 */
bool
xact_guard_statement_failed(char *cancel_reason, Size len)
{
	if (!xact_registered)
		return registry_guard_end(cancel_reason, len);
	return registry_guard_keep(xact_relids, xact_nrels, strongest_held(),
							   xact_relnames, cancel_reason, len);
}

/*
 * A guarded statement ended.  If it succeeded and its transaction goes on
 * ("continues") holding strong locks on relations others can wait for, the
 * registration becomes the transaction's; otherwise it ends, unless the
 * transaction was registered by an earlier statement.
 */
void
xact_guard_statement_done(const GuardTarget *target,
						  char (*relnames)[MG_EVENT_RELATION_LEN],
						  bool observe_only, bool continues)
{
	int			i;

	/* a target is never a relation others cannot wait for (lockmodel.c) */
	if (target != NULL && continues && migguard_guard_transactions)
		for (i = 0; i < target->nrels; i++)
			if (target->relmodes[i] > ShareUpdateExclusiveLock &&
				xact_guard_holds_strong_lock(target->relids[i]))
				remember(target->relids[i], relnames[i]);
	if (xact_registered || xact_nrels > 0)
		(void) prune_released();

	if (xact_nrels == 0)
	{
		end_registration();
		return;
	}
	xact_registered = true;
	publish();
	/* the watcher looks again while anything is registered */
	registry_wake_watcher();
	if (!observe_only)
		guard_cap_lock_timeout(GUC_ACTION_LOCAL);
}

/*
 * After a rollback to a savepoint, the locks of the subtransaction are
 * gone: forget them, and the registration when nothing strong is left.
 * This runs after the locks are released, which a subtransaction callback
 * would not.
 */
static void
release_callback(ResourceReleasePhase phase, bool isCommit, bool isTopLevel,
				 void *arg)
{
	if (!xact_registered || phase != RESOURCE_RELEASE_AFTER_LOCKS ||
		isCommit || isTopLevel)
		return;
	if (!prune_released())
		return;
	if (xact_nrels == 0)
		end_registration();
	else
		publish();
}

static void
xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			if (xact_registered)
				end_registration();
			break;
		default:
			break;
	}
}

/*
 * Turn the error that a watcher's signal raised into one that says why.
 * The watcher wrote it as "primary message\ndetail".
 */
static void
emit_log(ErrorData *edata)
{
	char		reason[MG_DETAIL_LEN];
	char	   *detail;
	bool		terminate;

	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);

	if (!((edata->elevel == ERROR &&
		   edata->sqlerrcode == ERRCODE_QUERY_CANCELED) ||
		  (edata->elevel == FATAL &&
		   edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)) ||
		!registry_attached() ||
		!registry_guard_take_signal(reason, sizeof(reason), &terminate) ||
		terminate != (edata->elevel == FATAL))
		return;

	detail = strchr(reason, '\n');
	if (detail != NULL)
		*detail++ = '\0';
	edata->message = pstrdup(reason);
	if (terminate)
		edata->hint = pstrdup("Commit a transaction that changes the schema as soon as its DDL is done.");
	else
	{
		edata->sqlerrcode = ERRCODE_LOCK_NOT_AVAILABLE;
		edata->hint = pstrdup("Roll the transaction back to release the lock. Keep long work (backfills, waits) out of transactions that change the schema.");
	}
	edata->detail = detail ? pstrdup(detail) : NULL;
}

void
xact_guard_install(void)
{
	RegisterXactCallback(xact_callback, NULL);
	RegisterResourceReleaseCallback(release_callback, NULL);
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = emit_log;
}
