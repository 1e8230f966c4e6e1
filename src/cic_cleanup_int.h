/*-------------------------------------------------------------------------
 *
 * cic_cleanup_int.h
 *		The queue of invalid indexes to look at, shared by the cleanup
 *		launcher (cic_cleanup.c) and the worker of one database
 *		(cic_cleanup_worker.c).
 *
 * Locking: CleanupShared->lock protects everything in CleanupShared; nobody
 * holds it across anything that can block or raise an error.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CIC_CLEANUP_INT_H
#define CIC_CLEANUP_INT_H

#include "datatype/timestamp.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

#define CLEANUP_QUEUE_SIZE 64

/* backoff between tries of one entry: doubling from the base, capped */
#define CLEANUP_RETRY_BASE_MS	1000
#define CLEANUP_RETRY_MAX_MS	60000
#define CLEANUP_MAX_ATTEMPTS	10

/* the longest the worker waits for a lock: well below deadlock_timeout */
#define CLEANUP_LOCK_TIMEOUT_MS 500

/* a worker registered this long ago that has not shown up failed to start */
#define CLEANUP_START_GRACE_MS	10000

/* how often cic_cleanup_kick() wants to be called while entries wait */
#define CLEANUP_KICK_INTERVAL_MS 5000

typedef struct CleanupEntry
{
	Oid			dbid;			/* InvalidOid: free */
	Oid			indexid;
	Oid			userid;
	int			pid;			/* the backend whose build failed */
	bool		only_if_ccold;	/* an old index REINDEX may have renamed */
	bool		drop;			/* enforce mode and migguard.cic_cleanup on */
	int			attempts;		/* tries that gave way so far */
	TimestampTz next_try;		/* not before */
	TimestampTz launched;		/* when a worker was started for it, or 0 */
	int			worker_pid;		/* the worker looking at it now, or 0 */
	char		statement[MG_STATEMENT_LEN];
} CleanupEntry;

typedef struct CleanupShared
{
	LWLock	   *lock;
	int			launcher_pid;	/* 0 when not running */
	Latch	   *launcher_latch;
	TimestampTz launcher_registered;	/* 0 unless starting */
	CleanupEntry entries[CLEANUP_QUEUE_SIZE];
} CleanupShared;

extern CleanupShared *cleanup;

extern long cleanup_backoff_ms(int attempts);
extern void cleanup_skip_entry_locked(CleanupEntry *e, const char *why);

#endif							/* CIC_CLEANUP_INT_H */
