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
	return GetLockStatusData();
}

/*
 * Is this a relation lock of dbid that we watch?  With relids NULL: any
 * relation lock the session holds or awaits in a mode stronger than SHARE
 * UPDATE EXCLUSIVE, the locks that stop queries or writes.
 */
static bool
is_relation_lock_of(const LockInstanceData *inst, Oid dbid,
					const Oid *relids, int nrels)
{
	int			i;

	if (inst->locktag.locktag_type != LOCKTAG_RELATION ||
		inst->locktag.locktag_field1 != dbid)
		return false;
	if (relids == NULL)
		return (inst->holdMask & ~(LOCKBIT_ON(ShareUpdateExclusiveLock + 1) - 1)) != 0 ||
			inst->waitLockMode > ShareUpdateExclusiveLock;
	for (i = 0; i < nrels; i++)
		if (inst->locktag.locktag_field2 == relids[i])
			return true;
	return false;
}

/* The strongest mode in a mask, or NoLock. */
static LOCKMODE
strongest_mode(LOCKMASK mask)
{
	LOCKMODE	m;

	for (m = MaxLockMode; m > NoLock; m--)
		if (mask & LOCKBIT_ON(m))
			return m;
	return NoLock;
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
	facts->nblockers_total++;
	if (facts->nblockers < MG_MAX_BLOCKERS)
		facts->blockers[facts->nblockers++] = pid;
}

/*
 * Fill facts for the session "pid" and its locks on the given relations
 * (relids NULL: on every relation it holds or awaits a strong lock on).
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
					facts->relid = own->locktag.locktag_field2;
					facts->mode = strongest_mode(own_modes);
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

/*
 * The sessions other than pid that hold relid of dbid in a mode conflicting
 * with "mode": the sessions a request for that lock would wait for.  A
 * prepared transaction shows as pid 0.  Returns how many, at most max.
 */
int
lockstate_holders(LockData *data, int pid, Oid dbid, Oid relid,
				  LOCKMODE mode, int *holders, int max)
{
	int			n = 0;
	int			i;

	for (i = 0; i < data->nelements && n < max; i++)
	{
		LockInstanceData *other = &data->locks[i];
		LockMethod	method = GetLockTagsMethodTable(&other->locktag);
		int			j;

		if (other->locktag.locktag_type != LOCKTAG_RELATION ||
			other->locktag.locktag_field1 != dbid ||
			other->locktag.locktag_field2 != relid ||
			(other->pid == pid && pid != 0) || other->leaderPid == pid ||
			(method->conflictTab[mode] & other->holdMask) == 0)
			continue;
		for (j = 0; j < n; j++)
			if (holders[j] == other->pid && other->pid != 0)
				break;
		if (j == n)
			holders[n++] = other->pid;
	}
	return n;
}

/*
 * A relation lock stronger than ROW EXCLUSIVE that pid holds in dbid on a
 * relation not in relids: returns its relation and sets *mode, or returns
 * InvalidOid.  Relations for which skip() is true are passed over.
 */
Oid
lockstate_strong_lock_elsewhere(LockData *data, int pid, Oid dbid,
								const Oid *relids, int nrels,
								bool (*skip) (Oid relid), LOCKMODE *mode)
{
	int			i;

	for (i = 0; i < data->nelements; i++)
	{
		LockInstanceData *own = &data->locks[i];
		LOCKMODE	held;
		Oid			relid;
		int			j;

		if (own->pid != pid || own->locktag.locktag_type != LOCKTAG_RELATION ||
			own->locktag.locktag_field1 != dbid)
			continue;
		held = strongest_mode(own->holdMask);
		if (held <= RowExclusiveLock)
			continue;
		relid = own->locktag.locktag_field2;
		for (j = 0; j < nrels; j++)
			if (relids[j] == relid)
				break;
		if (j < nrels || (skip != NULL && skip(relid)))
			continue;
		*mode = held;
		return relid;
	}
	return InvalidOid;
}
