/*-------------------------------------------------------------------------
 *
 * compat_pg13.c
 *		When a lock wait began, for PostgreSQL 13, whose lock status data
 *		does not say (LockInstanceData.waitStart is PG14's).  Compiled to
 *		nothing unless compat.h asks for it (MG_TRACK_LOCK_WAITS).
 *
 * Every lock snapshot this process takes through mg_lock_status_data() is
 * compared with its previous one: a wait (pid, lock, mode) shown by both
 * keeps its start; a new one starts when the waiting session's current
 * statement started (a statement takes its relation locks as it begins),
 * but no earlier than the previous snapshot, when that snapshot is recent
 * (ten watch intervals, at least half a second) and did not show it.
 * Between two waiters first seen together that also gives the order in
 * which they queued.
 *
 * So the watcher, which looks every migguard.watch_interval while a
 * guarded DDL is in flight, measures a queue's wait to within about one
 * interval; a statement that ran a while before it began to wait is
 * counted from its start when first seen.
 *
 * The table is private to the process; no locking.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#ifdef MG_TRACK_LOCK_WAITS

#include "pgstat.h"
#include "storage/lock.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

typedef struct WaitKey
{
	int			pid;
	LOCKMODE	mode;
	LOCKTAG		tag;
} WaitKey;

typedef struct WaitSeen
{
	WaitKey		key;
	TimestampTz first_seen;
	uint64		snapshot;		/* number of the last snapshot showing it */
} WaitSeen;

static HTAB *waits_seen = NULL;
static uint64 snapshot_number = 0;
static TimestampTz snapshot_time = 0;

static void
wait_key(WaitKey *key, const LockInstanceData *instance)
{
	memset(key, 0, sizeof(*key));	/* hashed as bytes, padding included */
	key->pid = instance->pid;
	key->mode = instance->waitLockMode;
	key->tag = instance->locktag;
}

/* When pid's current statement started; 0 if unknown. */
static TimestampTz
statement_start(int pid)
{
	int			n = pgstat_fetch_stat_numbackends();
	int			i;

	for (i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = mg_local_beentry(i);

		if (local != NULL && local->backendStatus.st_procpid == pid)
			return local->backendStatus.st_activity_start_timestamp;
	}
	return 0;
}

LockData *
mg_lock_status_data(void)
{
	LockData   *data = GetLockStatusData();
	TimestampTz now = GetCurrentTimestamp();
	int64		carry_us = Max((int64) migguard_watch_interval_ms * 10000, 500000);
	TimestampTz previous = snapshot_time;
	bool		carry;
	bool		status_read = false;
	HASH_SEQ_STATUS seq;
	WaitSeen   *entry;
	int			i;

	if (waits_seen == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(WaitKey);
		ctl.entrysize = sizeof(WaitSeen);
		ctl.hcxt = TopMemoryContext;
		waits_seen = hash_create("migguard lock waits seen", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	carry = previous != 0 && now - previous <= carry_us;
	snapshot_number++;
	snapshot_time = now;

	for (i = 0; i < data->nelements; i++)
	{
		LockInstanceData *instance = &data->locks[i];
		WaitKey		key;
		bool		found;

		if (instance->waitLockMode == NoLock)
			continue;
		wait_key(&key, instance);
		entry = (WaitSeen *) hash_search(waits_seen, &key, HASH_ENTER, &found);
		if (!found || !carry || entry->snapshot != snapshot_number - 1)
		{
			TimestampTz start;

			if (!status_read)
			{
				mg_clear_backend_status_snapshot();
				status_read = true;
			}
			start = statement_start(instance->pid);
			if (start == 0 || start > now)
				start = now;
			if (carry && start < previous)
				start = previous;
			entry->first_seen = start;
		}
		entry->snapshot = snapshot_number;
	}
	if (status_read)
		mg_clear_backend_status_snapshot();

	/* forget the waits this snapshot no longer shows */
	hash_seq_init(&seq, waits_seen);
	while ((entry = (WaitSeen *) hash_seq_search(&seq)) != NULL)
	{
		if (entry->snapshot != snapshot_number)
			hash_search(waits_seen, &entry->key, HASH_REMOVE, NULL);
	}
	return data;
}

TimestampTz
mg_lock_wait_start(const LockInstanceData *instance)
{
	WaitKey		key;
	WaitSeen   *entry;

	if (instance->waitLockMode == NoLock || waits_seen == NULL)
		return 0;
	wait_key(&key, instance);
	entry = (WaitSeen *) hash_search(waits_seen, &key, HASH_FIND, NULL);
	return entry ? entry->first_seen : 0;
}

#endif							/* MG_TRACK_LOCK_WAITS */
