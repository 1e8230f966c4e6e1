/*-------------------------------------------------------------------------
 *
 * lockstate.c
 *		Read the lock manager's state and find the queue that forms behind a
 *		session's relation locks.
 *
 * A session is queued behind a DDL when it waits on the same relation in a
 * mode that conflicts with what the DDL holds or awaits: whether the DDL
 * still waits for its lock or already holds it, that session cannot go on
 * before the DDL ends.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "storage/lock.h"

/*
 * A copy of every lock in the system.  It briefly takes every lock
 * partition lock in shared mode, as pg_locks does, so call it only while
 * there is something to watch.
 */
LockData *
lockstate_snapshot(void)
{
	return mg_lock_status_data();
}

static bool
is_relation_lock_of(const LockInstanceData *inst, Oid dbid,
					const Oid *relids, int nrels)
{
	int			i;

	if (inst->locktag.locktag_type != LOCKTAG_RELATION ||
		inst->locktag.locktag_field1 != dbid)
		return false;
	for (i = 0; i < nrels; i++)
		if (inst->locktag.locktag_field2 == relids[i])
			return true;
	return false;
}

static bool
same_locktag(const LOCKTAG *a, const LOCKTAG *b)
{
	return a->locktag_type == b->locktag_type &&
		a->locktag_lockmethodid == b->locktag_lockmethodid &&
		a->locktag_field1 == b->locktag_field1 &&
		a->locktag_field2 == b->locktag_field2 &&
		a->locktag_field3 == b->locktag_field3 &&
		a->locktag_field4 == b->locktag_field4;
}

static void
add_blocker(QueueFacts *facts, int pid)
{
	int			i;

	for (i = 0; i < facts->nblockers; i++)
		if (facts->blockers[i] == pid)
			return;
	if (facts->nblockers < MG_MAX_BLOCKERS)
		facts->blockers[facts->nblockers++] = pid;
}

/*
 * Fill facts for the session "pid" and its locks on the given relations.
 * A member of the session's own lock group (a parallel worker) is neither
 * its waiter nor its blocker.
 */
void
lockstate_examine(LockData *data, int pid, Oid dbid,
				  const Oid *relids, int nrels, TimestampTz now,
				  QueueFacts *facts)
{
	int			i;
	int			j;

	memset(facts, 0, sizeof(QueueFacts));
	facts->awaited = NoLock;

	for (i = 0; i < data->nelements; i++)
	{
		LockInstanceData *own = &data->locks[i];
		LockMethod	method;
		LOCKMASK	own_modes;
		TimestampTz own_wait = MG_LOCK_WAIT_START(own);

		if (own->pid != pid || !is_relation_lock_of(own, dbid, relids, nrels))
			continue;

		facts->held |= own->holdMask;
		if (own->waitLockMode != NoLock)
			facts->awaited = own->waitLockMode;
		own_modes = own->holdMask;
		if (own->waitLockMode != NoLock)
			own_modes |= LOCKBIT_ON(own->waitLockMode);
		method = GetLockTagsMethodTable(&own->locktag);

		for (j = 0; j < data->nelements; j++)
		{
			LockInstanceData *other = &data->locks[j];

			if (other->pid == pid || other->leaderPid == pid ||
				!same_locktag(&other->locktag, &own->locktag))
				continue;

			/*
			 * A waiter whose mode conflicts with ours is stuck behind us,
			 * unless we wait too and it was in the queue first.
			 */
			if (other->waitLockMode != NoLock &&
				(method->conflictTab[other->waitLockMode] & own_modes) != 0 &&
				!(own->waitLockMode != NoLock && own_wait != 0 &&
				  MG_LOCK_WAIT_START(other) != 0 &&
				  MG_LOCK_WAIT_START(other) < own_wait))
			{
				TimestampTz since = MG_LOCK_WAIT_START(other);

				/* the wait start is set a moment after the wait begins */
				if (since == 0)
					since = now;
				facts->waiters++;
				if (facts->longest_waiter == 0 || since < facts->oldest_wait)
				{
					facts->longest_waiter = other->pid;
					facts->oldest_wait = since;
				}
			}

			/* a holder of a mode our wait conflicts with blocks us */
			if (own->waitLockMode != NoLock &&
				(method->conflictTab[own->waitLockMode] & other->holdMask) != 0)
				add_blocker(facts, other->pid);
		}
	}
}

/*
 * The sessions holding the lock that pid waits for, whatever kind of lock
 * it is (a concurrent index build waits on other transactions' virtual
 * transaction locks).  Returns how many, at most max; 0 when pid does not
 * wait.
 */
int
lockstate_wait_blockers(LockData *data, int pid, int *blockers, int max)
{
	int			i;
	int			j;
	int			n = 0;

	for (i = 0; i < data->nelements; i++)
	{
		LockInstanceData *own = &data->locks[i];
		LockMethod	method;

		if (own->pid != pid || own->waitLockMode == NoLock)
			continue;
		method = GetLockTagsMethodTable(&own->locktag);
		for (j = 0; j < data->nelements && n < max; j++)
		{
			LockInstanceData *other = &data->locks[j];

			if (other->pid != pid && other->leaderPid != pid &&
				same_locktag(&other->locktag, &own->locktag) &&
				(method->conflictTab[own->waitLockMode] & other->holdMask) != 0)
				blockers[n++] = other->pid;
		}
		break;
	}
	return n;
}
