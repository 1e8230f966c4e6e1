/*-------------------------------------------------------------------------
 *
 * registry.c
 *		migguard's shared memory: the watcher's identity, the guarded DDL in
 *		flight, the event ring and the counters.
 *
 * Locking protocol:
 *
 *	- MigguardShared->lock (one LWLock, tranche "migguard") protects the
 *	  watcher's pid, latch and start time, every guard slot and the event
 *	  ring.  Writers take it exclusively, readers shared, and nobody holds it
 *	  across anything that can block or raise an error.
 *	- A guard slot is written only by the backend that owns it (its index is
 *	  the backend's own), except the cancel and terminate requests, their
 *	  reason and the "reported" mark, which the watcher sets; both sides do
 *	  it under the exclusive lock.  The watcher sends its signal while it
 *	  holds the lock, and matches the registration's identity ("registered"),
 *	  so a backend that frees its slot either sees the request (and absorbs
 *	  the signal) or is never signalled.
 *	- The counters are atomics and need no lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

typedef struct MigguardShared
{
	LWLock	   *lock;
	int			watcher_pid;
	Latch	   *watcher_latch;
	TimestampTz watcher_started;
	TimestampTz watcher_reloaded;	/* last SIGHUP the watcher processed */
	uint64		event_next;		/* events ever added; ring index is modulo */
	int			event_size;
	int			nslots;
	pg_atomic_uint32 guards_in_flight;	/* slots in use */
	pg_atomic_uint64 counters[MG_NUM_COUNTERS];
	GuardSlot	slots[FLEXIBLE_ARRAY_MEMBER];
	/* the event ring follows the slots */
} MigguardShared;

static MigguardShared *shared = NULL;

static void add_event_locked(int encoding, int pid, Oid dbid, Oid userid,
							 const char *action, const char *rule,
							 const char *relation, const char *statement,
							 const char *detail);
static MigguardEvent *event_ring = NULL;
static bool guard_exit_callback_registered = false;

static Size
registry_shmem_size(void)
{
	Size		size;

	size = offsetof(MigguardShared, slots);
	size = add_size(size, mul_size(mg_max_backends(), sizeof(GuardSlot)));
	size = MAXALIGN(size);
	size = add_size(size, mul_size(migguard_event_ring_size,
								   sizeof(MigguardEvent)));
	return size;
}

void
registry_request_shmem(void)
{
	RequestAddinShmemSpace(registry_shmem_size());
	RequestNamedLWLockTranche("migguard", 1);
}

void
registry_startup_shmem(void)
{
	bool		found;

	shared = NULL;
	event_ring = NULL;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("migguard", registry_shmem_size(), &found);
	if (!found)
	{
		int			i;

		memset(shared, 0, registry_shmem_size());
		shared->lock = &(GetNamedLWLockTranche("migguard"))->lock;
		shared->event_size = migguard_event_ring_size;
		shared->nslots = mg_max_backends();
		pg_atomic_init_u32(&shared->guards_in_flight, 0);
		for (i = 0; i < MG_NUM_COUNTERS; i++)
			pg_atomic_init_u64(&shared->counters[i], 0);
	}
	event_ring = (MigguardEvent *)
		((char *) shared +
		 MAXALIGN(offsetof(MigguardShared, slots) +
				  shared->nslots * sizeof(GuardSlot)));
	LWLockRelease(AddinShmemInitLock);
}

bool
registry_attached(void)
{
	return shared != NULL;
}

/* ---- the watcher ---- */

void
registry_set_watcher(int pid, Latch *latch)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->watcher_pid = pid;
	shared->watcher_latch = latch;
	shared->watcher_started = pid != 0 ? GetCurrentTimestamp() : 0;
	shared->watcher_reloaded = 0;
	LWLockRelease(shared->lock);
}

void
registry_watcher_reloaded(void)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->watcher_reloaded = GetCurrentTimestamp();
	LWLockRelease(shared->lock);
}

void
registry_get_watcher(int *pid, TimestampTz *started, TimestampTz *reloaded)
{
	LWLockAcquire(shared->lock, LW_SHARED);
	*pid = shared->watcher_pid;
	*started = shared->watcher_started;
	*reloaded = shared->watcher_reloaded;
	LWLockRelease(shared->lock);
}

/*
 * Set the watcher's latch from a signal handler: no lock, the pointer is
 * read as it is.  A stale pointer points to a latch in shared memory that
 * a restarted watcher owns again, or to nobody; SetLatch copes with both.
 */
void
registry_wake_watcher_from_handler(void)
{
	Latch	   *latch;

	if (shared == NULL)
		return;
	latch = ((volatile MigguardShared *) shared)->watcher_latch;
	if (latch != NULL)
		SetLatch(latch);
}

void
registry_wake_watcher(void)
{
	Latch	   *latch;

	LWLockAcquire(shared->lock, LW_SHARED);
	latch = shared->watcher_latch;
	if (latch != NULL)
		SetLatch(latch);
	LWLockRelease(shared->lock);
}

/* ---- counters ---- */

void
registry_count(MigguardCounter counter)
{
	if (shared != NULL)
		pg_atomic_fetch_add_u64(&shared->counters[counter], 1);
}

uint64
registry_counter_value(MigguardCounter counter)
{
	return shared != NULL ? pg_atomic_read_u64(&shared->counters[counter]) : 0;
}

/* ---- guarded DDL in flight ---- */

/*
 * Copy src into dst of size bytes, cut on a character boundary of the given
 * encoding, so that a long statement never shows up as invalid text.
 */
void
registry_clip(char *dst, const char *src, Size size, int encoding)
{
	int			len;

	if (src == NULL)
		src = "";
	len = strlen(src);
	if ((Size) len >= size)
		len = pg_encoding_mbcliplen(encoding, src, len, size - 1);
	/* a text put together from pieces cut elsewhere ends at a bad byte */
	len = mg_encoding_valid_prefix(encoding, src, len);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static GuardSlot *
my_guard_slot(void)
{
	int			i = mg_my_backend_index();

	if (shared == NULL || i < 0 || i >= shared->nslots)
		return NULL;
	return &shared->slots[i];
}

static void
guard_exit_callback(int code, Datum arg)
{
	(void) registry_guard_end(NULL, 0);
}

/* Add relations to a slot's list; the caller holds the lock. */
static void
merge_relations(GuardSlot *slot, const Oid *relids, int nrels,
				char (*relnames)[MG_EVENT_RELATION_LEN])
{
	int			i;
	int			j;

	for (i = 0; i < nrels; i++)
	{
		for (j = 0; j < slot->nrels; j++)
			if (slot->relids[j] == relids[i])
				break;
		if (j == slot->nrels)
		{
			if (slot->nrels == MG_MAX_GUARD_RELS)
				continue;
			slot->relids[j] = relids[i];
			slot->relnames[j][0] = '\0';
			slot->nrels++;
		}
		if (relnames != NULL && relnames[i][0] != '\0')
			registry_clip(slot->relnames[j], relnames[i],
						  MG_EVENT_RELATION_LEN, slot->encoding);
	}
}

/*
 * Publish this backend's guarded statement.  A backend has at most one
 * registration: a guarded statement, or the transaction that keeps the
 * strong locks of earlier ones.  A statement of a registered transaction
 * joins that registration, which keeps its identity and relations.
 */
void
registry_guard_begin(GuardKind kind, const Oid *relids,
					 char (*relnames)[MG_EVENT_RELATION_LEN], int nrels,
					 LOCKMODE lockmode, bool observe_only, bool owner_checked,
					 const char *relation, const char *statement)
{
	GuardSlot  *slot = my_guard_slot();
	TimestampTz now = GetCurrentTimestamp();
	bool		fresh;

	if (slot == NULL)
		return;
	if (!guard_exit_callback_registered)
	{
		before_shmem_exit(guard_exit_callback, (Datum) 0);
		guard_exit_callback_registered = true;
	}

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	fresh = (slot->pid != MyProcPid);
	if (fresh)
	{
		slot->dbid = MyDatabaseId;
		slot->userid = GetUserId();
		slot->encoding = GetDatabaseEncoding();
		slot->kind = kind;
		slot->lockmode = NoLock;
		slot->nrels = 0;
		slot->registered = now;
		slot->cancel_requested = false;
		slot->cancel_reason[0] = '\0';
		slot->terminate_requested = false;
		slot->reported = false;
		slot->pid = MyProcPid;
	}
	slot->phase = MG_PHASE_RUNNING;
	slot->started = now;
	/* whether the watcher may act on its behalf: the statement's own say */
	slot->observe_only = observe_only;
	slot->owner_checked = owner_checked;
	if (lockmode > slot->lockmode)
		slot->lockmode = lockmode;
	merge_relations(slot, relids, nrels, relnames);
	registry_clip(slot->relation, relation, MG_EVENT_RELATION_LEN, slot->encoding);
	registry_clip(slot->statement, statement, MG_STATEMENT_LEN, slot->encoding);
	LWLockRelease(shared->lock);
	if (fresh)
		pg_atomic_fetch_add_u32(&shared->guards_in_flight, 1);
}

/* Is this backend registered? */
bool
registry_guard_registered(void)
{
	GuardSlot  *slot = my_guard_slot();

	return slot != NULL && slot->pid == MyProcPid;
}

void
registry_guard_set_phase(GuardPhase phase)
{
	GuardSlot  *slot = my_guard_slot();

	if (slot == NULL || slot->pid != MyProcPid)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	slot->phase = phase;
	LWLockRelease(shared->lock);
}

/*
 * The guarded statement ended and its transaction goes on holding strong
 * locks on these relations: the registration becomes the transaction's.
 * Returns whether the watcher had asked to cancel the statement that just
 * ended, and why; the caller absorbs that signal unless it caused the end.
 */
bool
registry_guard_keep(const Oid *relids, int nrels, LOCKMODE lockmode,
					char (*relnames)[MG_EVENT_RELATION_LEN],
					char *cancel_reason, Size len)
{
	GuardSlot  *slot = my_guard_slot();
	bool		requested;

	if (slot == NULL || slot->pid != MyProcPid)
		return false;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	requested = slot->cancel_requested;
	if (requested && cancel_reason != NULL)
		strlcpy(cancel_reason, slot->cancel_reason, len);
	slot->cancel_requested = false;
	slot->kind = MG_GUARD_XACT;
	slot->phase = MG_PHASE_BETWEEN;
	slot->lockmode = lockmode;
	slot->nrels = 0;
	merge_relations(slot, relids, nrels, relnames);
	if (nrels > 0)
		strlcpy(slot->relation, slot->relnames[0], MG_EVENT_RELATION_LEN);
	LWLockRelease(shared->lock);
	return requested;
}

/*
 * Release this backend's slot.  Returns whether the watcher had cancelled
 * the statement, and its reason; freeing the slot and reading the request
 * happen under one lock, so no later request can slip in between.
 */
bool
registry_guard_end(char *cancel_reason, Size len)
{
	GuardSlot  *slot = my_guard_slot();
	bool		requested = false;

	if (slot == NULL || slot->pid != MyProcPid)
		return false;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	requested = slot->cancel_requested;
	if (requested && cancel_reason != NULL)
		strlcpy(cancel_reason, slot->cancel_reason, len);
	slot->pid = 0;
	slot->cancel_requested = false;
	slot->terminate_requested = false;
	LWLockRelease(shared->lock);
	pg_atomic_fetch_sub_u32(&shared->guards_in_flight, 1);
	return requested;
}

/*
 * For the error that a watcher's signal raised in this backend: was it the
 * watcher's, and why?  A cancel counts as delivered once taken here.
 */
bool
registry_guard_take_signal(char *reason, Size len, bool *terminate)
{
	GuardSlot  *slot = my_guard_slot();
	bool		found = false;

	*terminate = false;
	if (slot == NULL || slot->pid != MyProcPid || LWLockHeldByMe(shared->lock))
		return false;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (slot->cancel_requested || slot->terminate_requested)
	{
		found = true;
		*terminate = slot->terminate_requested;
		strlcpy(reason, slot->cancel_reason, len);
		slot->cancel_requested = false;
	}
	LWLockRelease(shared->lock);
	return found;
}

/*
 * Copy every slot in use into a palloc'd array; returns how many.  The
 * count of slots in use is read first without the lock, so that the common
 * case, nothing in flight, costs neither the lock nor a large copy.
 */
int
registry_copy_guards(GuardSlot **slots)
{
	int			n = 0;
	int			room;
	int			i;

	*slots = NULL;
	if (shared == NULL)
		return 0;
	room = (int) pg_atomic_read_u32(&shared->guards_in_flight);
	if (room == 0)
		return 0;
	/* a few more may start meanwhile; they are seen next time */
	room = Min(room + 8, shared->nslots);
	*slots = palloc(sizeof(GuardSlot) * room);
	LWLockAcquire(shared->lock, LW_SHARED);
	for (i = 0; i < shared->nslots && n < room; i++)
	{
		if (shared->slots[i].pid != 0)
			(*slots)[n++] = shared->slots[i];
	}
	LWLockRelease(shared->lock);
	return n;
}

/* The slot of pid with this registration, or NULL; caller holds the lock. */
static GuardSlot *
find_registration(int pid, TimestampTz registered)
{
	int			i;

	for (i = 0; i < shared->nslots; i++)
		if (shared->slots[i].pid == pid &&
			shared->slots[i].registered == registered)
			return &shared->slots[i];
	return NULL;
}

/*
 * Cancel the statement running in the registration of "pid": mark its slot
 * with the reason its session will report, and send it SIGINT, as
 * pg_cancel_backend does.  "registered" must match, so a later transaction
 * of the same backend is never hit.  The signal goes out under the lock
 * that the backend takes to free its slot: a backend that finds its slot
 * marked knows the signal is on its way.  Returns true only the first time,
 * and only if the signal was sent.
 */
bool
registry_request_cancel(int pid, TimestampTz registered, const char *reason)
{
	GuardSlot  *slot;
	bool		sent = false;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	slot = find_registration(pid, registered);
	if (slot != NULL && !slot->cancel_requested && !slot->terminate_requested &&
		kill(pid, SIGINT) == 0)
	{
		slot->cancel_requested = true;
		slot->cancel_sent = GetCurrentTimestamp();
		registry_clip(slot->cancel_reason, reason, MG_DETAIL_LEN, slot->encoding);
		/* recorded before the session can record what followed (a retry) */
		add_event_locked(slot->encoding, pid, slot->dbid, slot->userid,
						 "cancel", NULL, slot->relation, slot->statement,
						 reason);
		sent = true;
	}
	LWLockRelease(shared->lock);
	return sent;
}

/* Likewise with SIGTERM, as pg_terminate_backend does. */
bool
registry_request_terminate(int pid, TimestampTz registered, const char *reason)
{
	GuardSlot  *slot;
	bool		sent = false;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	slot = find_registration(pid, registered);
	if (slot != NULL && !slot->terminate_requested && kill(pid, SIGTERM) == 0)
	{
		slot->terminate_requested = true;
		registry_clip(slot->cancel_reason, reason, MG_DETAIL_LEN, slot->encoding);
		sent = true;
	}
	LWLockRelease(shared->lock);
	return sent;
}

/*
 * The watcher reports once per registration what it would do (log mode, or
 * a setting that turns an action into a log line).  Returns true the first
 * time.
 */
bool
registry_mark_reported(int pid, TimestampTz registered)
{
	GuardSlot  *slot;
	bool		first = false;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	slot = find_registration(pid, registered);
	if (slot != NULL && !slot->reported)
	{
		slot->reported = true;
		first = true;
	}
	LWLockRelease(shared->lock);
	return first;
}

/*
 * The statement ended on its own although the watcher had just cancelled
 * it: take the SIGINT that is on its way, so that it cannot cancel the
 * session's next statement.  The signal was sent before the slot was
 * freed, so it arrives within moments; we wait a bounded while for it.
 */
void
registry_absorb_cancel(void)
{
	int			waited_us = 0;

	while (!QueryCancelPending && waited_us < 100 * 1000)
	{
		pg_usleep(100);
		waited_us += 100;
	}
	QueryCancelPending = false;
}

/* ---- the event ring ---- */

/* Record an event on behalf of this backend. */
void
registry_add_event(const char *action, const char *rule,
				   const char *relation, const char *statement,
				   const char *detail)
{
	registry_add_event_for(MyProcPid, MyDatabaseId,
						   OidIsValid(MyDatabaseId) ? GetUserId() : InvalidOid,
						   action, rule, relation, statement, detail);
}

/* Record an event about another session (the watcher acts on others). */
void
registry_add_event_for(int pid, Oid dbid, Oid userid,
					   const char *action, const char *rule,
					   const char *relation, const char *statement,
					   const char *detail)
{
	registry_add_event_in(GetDatabaseEncoding(), pid, dbid, userid, action,
						  rule, relation, statement, detail);
}

/*
 * Likewise, with texts in the given encoding (the watcher, connected to no
 * database, passes the encoding of the database the event is about).
 */
void
registry_add_event_in(int encoding, int pid, Oid dbid, Oid userid,
					  const char *action, const char *rule,
					  const char *relation, const char *statement,
					  const char *detail)
{
	if (shared == NULL || shared->event_size <= 0)
		return;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	add_event_locked(encoding, pid, dbid, userid, action, rule, relation,
					 statement, detail);
	LWLockRelease(shared->lock);
}

/* Write an event into the ring; the caller holds the lock exclusively. */
static void
add_event_locked(int encoding, int pid, Oid dbid, Oid userid,
				 const char *action, const char *rule,
				 const char *relation, const char *statement,
				 const char *detail)
{
	MigguardEvent *ev;

	if (shared->event_size <= 0)
		return;
	ev = &event_ring[shared->event_next % shared->event_size];
	shared->event_next++;
	ev->time = GetCurrentTimestamp();
	ev->pid = pid;
	ev->dbid = dbid;
	ev->userid = userid;
	strlcpy(ev->action, action, sizeof(ev->action));
	registry_clip(ev->rule, rule, sizeof(ev->rule), encoding);
	registry_clip(ev->relation, relation, sizeof(ev->relation), encoding);
	registry_clip(ev->statement, statement, sizeof(ev->statement), encoding);
	registry_clip(ev->detail, detail, sizeof(ev->detail), encoding);
}

/* Copy the ring, oldest first, into a palloc'd array; returns how many. */
int
registry_copy_events(MigguardEvent **events)
{
	uint64		first;
	uint64		next;
	int			n = 0;

	*events = NULL;
	if (shared == NULL || shared->event_size <= 0)
		return 0;
	*events = palloc(sizeof(MigguardEvent) * shared->event_size);

	LWLockAcquire(shared->lock, LW_SHARED);
	next = shared->event_next;
	first = next > (uint64) shared->event_size ? next - shared->event_size : 0;
	for (; first < next; first++)
		(*events)[n++] = event_ring[first % shared->event_size];
	LWLockRelease(shared->lock);
	return n;
}
