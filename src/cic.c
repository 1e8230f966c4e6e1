/*-------------------------------------------------------------------------
 *
 * cic.c
 *		Supervise CREATE INDEX CONCURRENTLY and REINDEX CONCURRENTLY.
 *
 * A concurrent build never blocks writes, but it waits: for the
 * transactions holding locks on the table, then for every transaction of
 * the database with an older snapshot.  Before the build starts we find
 * those transactions exactly as the build will (GetLockConflicts and
 * GetCurrentVirtualXIDs, as indexcmds.c calls them) and wait for them up to
 * migguard.cic_wait_timeout; if they are still there, we fail before any
 * catalog entry exists, naming them.  During the build the statement is
 * registered for the watcher, which cancels it when it has waited longer
 * than that in one of its wait phases.  The indexes a build creates are
 * remembered, so that when it fails the invalid index it leaves behind can
 * be dropped (cic_cleanup.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

int			migguard_cic_wait_timeout_ms = 60 * 1000;
bool		migguard_cic_cleanup = true;

/* how often the pre-build wait looks again */
#define CIC_POLL_MS 50

/* indexes the supervised build created, and old ones REINDEX may rename */
#define MAX_TRACKED_INDEXES 64
static bool supervising = false;
static int	ncreated = 0;
static Oid	created[MAX_TRACKED_INDEXES];

static object_access_hook_type prev_object_access_hook = NULL;

void
cic_define_settings(void)
{
	DefineCustomIntVariable("migguard.cic_wait_timeout",
							"Longest time a concurrent index build may wait for other transactions.",
							"Applies before the build (no index is created if the "
							"transactions it would wait for are still there) and "
							"to each of its wait phases.",
							&migguard_cic_wait_timeout_ms,
							60 * 1000,
							1, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("migguard.cic_cleanup",
							 "Drop the invalid index a failed concurrent build leaves behind.",
							 "A background worker drops exactly that index with "
							 "DROP INDEX CONCURRENTLY; when off, the failure is "
							 "only recorded as an event.",
							 &migguard_cic_cleanup,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
}

/* Remember every relation created while a supervised build runs. */
static void
cic_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				  int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	/*
	 * The new row is not visible yet, so its kind cannot be looked up; a
	 * concurrent build creates indexes only, and the cleanup worker checks
	 * that what it drops is an invalid index.
	 */
	if (supervising && access == OAT_POST_CREATE &&
		classId == RelationRelationId && subId == 0 &&
		ncreated < MAX_TRACKED_INDEXES)
		created[ncreated++] = objectId;
}

void
cic_install_hooks(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = cic_object_access;
}

/*
 * Is this a concurrent index build we supervise?  Sets the table it builds
 * on, and for REINDEX INDEX the index.
 */
bool
cic_classify(Node *parsetree, Oid *tableid, Oid *indexid)
{
	*tableid = *indexid = InvalidOid;

	if (IsA(parsetree, IndexStmt) && ((IndexStmt *) parsetree)->concurrent)
		*tableid = RangeVarGetRelid(((IndexStmt *) parsetree)->relation,
									NoLock, true);
	else if (IsA(parsetree, ReindexStmt) &&
			 mg_reindex_concurrent((ReindexStmt *) parsetree) &&
			 ((ReindexStmt *) parsetree)->relation != NULL)
	{
		ReindexStmt *stmt = (ReindexStmt *) parsetree;
		Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);

		if (stmt->kind == REINDEX_OBJECT_INDEX && OidIsValid(relid))
		{
			*indexid = relid;
			*tableid = IndexGetRelation(relid, true);
		}
		else if (stmt->kind == REINDEX_OBJECT_TABLE)
			*tableid = relid;
	}
	return OidIsValid(*tableid) &&
		get_rel_persistence(*tableid) != RELPERSISTENCE_TEMP;
}

/*
 * The transactions a concurrent build on tableid would wait for: those
 * holding a lock on it that conflicts with SHARE, and those of this
 * database holding a snapshot (the build waits for every snapshot older
 * than its own).  Vacuum and other safe concurrent builds are ignored, as
 * the build ignores them, and so is an autovacuum worker that gives way to
 * the build's lock request (yielding_autovacuum).
 */
static List *
build_blockers(Oid tableid)
{
	LOCKTAG		tag;
	VirtualTransactionId *vxids;
	List	   *result = NIL;
	int			n;
	int			i;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, tableid);
	vxids = GetLockConflicts(&tag, ShareLock, &n);
	for (i = 0; i < n; i++)
	{
		VirtualTransactionId *v = palloc(sizeof(VirtualTransactionId));

		*v = vxids[i];
		result = lappend(result, v);
	}

	vxids = GetCurrentVirtualXIDs(InvalidTransactionId, true, false,
								  PROC_IS_AUTOVACUUM | PROC_IN_VACUUM |
								  MG_PROC_IN_SAFE_IC, &n);
	for (i = 0; i < n; i++)
	{
		ListCell   *lc;
		bool		dup = false;

		foreach(lc, result)
			if (VirtualTransactionIdEquals(*(VirtualTransactionId *) lfirst(lc),
										   vxids[i]))
				dup = true;
		if (!dup)
		{
			VirtualTransactionId *v = palloc(sizeof(VirtualTransactionId));

			*v = vxids[i];
			result = lappend(result, v);
		}
	}
	return result;
}

/*
 * Is the transaction that of an autovacuum worker that gives way?  When a
 * lock request queues behind a non-wraparound autovacuum, the server cancels
 * it after deadlock_timeout (ProcSleep); the build's own request for its
 * SHARE UPDATE EXCLUSIVE lock does so.  The wait before the build polls
 * instead of queueing, so it would never make autovacuum give way: it must
 * leave such a worker to the build.  An autovacuum against wraparound is
 * never cancelled, so the build would wait for it: it counts.
 */
static bool
yielding_autovacuum(VirtualTransactionId vxid)
{
	int			pid = mg_vxid_pid(vxid);
	PGPROC	   *proc;
	bool		result = false;

	if (pid == 0)
		return false;
	LWLockAcquire(ProcArrayLock, LW_SHARED);
	proc = BackendPidGetProcWithLock(pid);
	if (proc != NULL)
	{
		uint8		flags = mg_proc_status_flags(proc);

		result = (flags & PROC_IS_AUTOVACUUM) != 0 &&
			(flags & PROC_VACUUM_FOR_WRAPAROUND) == 0;
	}
	LWLockRelease(ProcArrayLock);
	return result;
}

/* Those of the transactions still running. */
static List *
still_running(List *vxids)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, vxids)
	{
		VirtualTransactionId *v = (VirtualTransactionId *) lfirst(lc);

		/* without waiting, VirtualXactLock says whether it has ended */
		if (!VirtualXactLock(*v, false) && !yielding_autovacuum(*v))
			result = lappend(result, v);
	}
	return result;
}

static char *
describe_blockers(List *vxids)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	sessions_refresh();
	foreach(lc, vxids)
	{
		int			pid = mg_vxid_pid(*(VirtualTransactionId *) lfirst(lc));

		if (buf.len > 0)
			appendStringInfoString(&buf, "; ");
		if (pid == 0)
			appendStringInfoString(&buf, "a prepared transaction (see pg_prepared_xacts)");
		else if (!sessions_describe(pid, GetUserId(), &buf))
			appendStringInfo(&buf, "pid %d", pid);
	}
	return buf.data;
}

/*
 * Wait, interruptibly, for the transactions the build would wait for, up
 * to migguard.cic_wait_timeout.  Raises lock_not_available, naming them, if
 * they are still running then.  In log mode, which observes and changes
 * nothing, it does not wait: it only records what the build will wait for.
 */
static void
wait_before_build(Oid tableid, const char *command, const char *stmt_text)
{
	List	   *blockers = still_running(build_blockers(tableid));
	TimestampTz deadline;
	char	   *relname;
	char	   *detail;

	if (blockers == NIL)
		return;

	registry_count(MG_COUNTER_CIC_WAITS);
	if (migguard_mode == MIGGUARD_MODE_LOG)
	{
		relname = get_rel_name(tableid);
		detail = describe_blockers(blockers);
		registry_add_event("cic_blocked", NULL, relname, stmt_text, detail);
		ereport(LOG,
				(errmsg("%s on \"%s\" waits for transactions that are still running",
						command, relname),
				 errdetail("The build waits for: %s.", detail)));
		return;
	}

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   migguard_cic_wait_timeout_ms);
	for (;;)
	{
		long		remaining;

		CHECK_FOR_INTERRUPTS();
		blockers = still_running(blockers);
		if (blockers == NIL)
			return;
		remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (remaining <= 0)
			break;
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(remaining, CIC_POLL_MS), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	relname = get_rel_name(tableid);
	detail = describe_blockers(blockers);
	registry_add_event("cic_blocked", NULL, relname, stmt_text, detail);
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("%s on \"%s\" cannot start: transactions it would wait for are still running",
					command, relname),
			 errdetail("After %d ms (migguard.cic_wait_timeout), the build would still wait for: %s. No index was created.",
					   migguard_cic_wait_timeout_ms, detail),
			 errhint("Wait for them to end, end them with pg_terminate_backend(), or raise migguard.cic_wait_timeout.")));
}

/* Append relid's valid indexes to out, read from pg_index without a lock. */
static int
valid_indexes_of(Oid relid, Oid *out, int n, int max)
{
	Relation	indrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;

	indrel = table_open(IndexRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_index_indrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(indrel, IndexIndrelidIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)) && n < max)
	{
		Form_pg_index index = (Form_pg_index) GETSTRUCT(tup);

		if (index->indisvalid)
			out[n++] = index->indexrelid;
	}
	systable_endscan(scan);
	table_close(indrel, AccessShareLock);
	return n;
}

/*
 * The indexes REINDEX CONCURRENTLY may rename _ccold: the index (for a
 * partitioned index, its leaf partitions), or every valid index of the
 * table, its partitions and their TOAST tables (REINDEX skips invalid
 * ones, so an invalid index there is no leftover of this build).
 */
static int
index_list(Oid tableid, Oid indexid, Oid *out, int max)
{
	ListCell   *lc;
	int			n = 0;

	if (OidIsValid(indexid))
	{
		foreach(lc, find_all_inheritors(indexid, NoLock, NULL))
			if (n < max && get_rel_relkind(lfirst_oid(lc)) == RELKIND_INDEX)
				out[n++] = lfirst_oid(lc);
		return n;
	}
	foreach(lc, find_all_inheritors(tableid, NoLock, NULL))
	{
		Oid			relid = lfirst_oid(lc);
		Oid			toastid = InvalidOid;
		HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));

		if (HeapTupleIsValid(tup))
		{
			toastid = ((Form_pg_class) GETSTRUCT(tup))->reltoastrelid;
			ReleaseSysCache(tup);
		}

		n = valid_indexes_of(relid, out, n, max);
		if (OidIsValid(toastid))
			n = valid_indexes_of(toastid, out, n, max);
	}
	return n;
}

/*
 * Run a concurrent index build under supervision.  The statement is not in
 * a transaction block: PostgreSQL refuses that before we get here.
 */
void
cic_process_utility(Oid tableid, Oid indexid, const char *stmt_text,
					MG_PROCESS_UTILITY_ARGS)
{
	Node	   *parsetree = pstmt->utilityStmt;
	const char *command = IsA(parsetree, IndexStmt) ?
		"CREATE INDEX CONCURRENTLY" : "REINDEX CONCURRENTLY";
	char	   *relation = relfacts_relation_name(tableid);
	Oid			old_indexes[MAX_TRACKED_INDEXES];
	int			nold = 0;
	MemoryContext oldcontext = CurrentMemoryContext;

	/* where PostgreSQL refuses the build, let it say so at once */
	if (supervising || context != PROCESS_UTILITY_TOPLEVEL ||
		IsTransactionBlock() || IsSubTransaction())
	{
		migguard_next_utility(MG_PROCESS_UTILITY_PASS);
		return;
	}

	/* entries a cleanup worker could not take yet: start one now */
	(void) cic_cleanup_kick();

	wait_before_build(tableid, command, stmt_text);

	if (IsA(parsetree, ReindexStmt))
		nold = index_list(tableid, indexid, old_indexes, MAX_TRACKED_INDEXES);

	/*
	 * The watcher cancels a build stuck in a wait phase; log mode changes
	 * nothing, so there the build is not handed to it.
	 */
	if (migguard_mode != MIGGUARD_MODE_LOG)
	{
		registry_guard_begin(MG_GUARD_CIC, &tableid, NULL, 1,
							 ShareUpdateExclusiveLock, false, false,
							 relation, stmt_text);
		registry_wake_watcher();
	}
	supervising = true;
	ncreated = 0;

	PG_TRY();
	{
		migguard_next_utility(MG_PROCESS_UTILITY_PASS);
	}
	PG_CATCH();
	{
		char		reason[MG_DETAIL_LEN];
		bool		cancelled;
		ErrorData  *edata;

		supervising = false;
		cancelled = registry_guard_end(reason, sizeof(reason));

		/* what the failed build left behind: queued, looked at after */
		cic_cleanup_queue(created, ncreated, false, stmt_text);
		cic_cleanup_queue(old_indexes, nold, true, stmt_text);

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		if (cancelled && edata->sqlerrcode != ERRCODE_QUERY_CANCELED)
			registry_absorb_cancel();
		if (!cancelled || edata->sqlerrcode != ERRCODE_QUERY_CANCELED)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("canceling %s on %s: it waited too long for other transactions",
						command, relation),
				 errdetail("%s", reason),
				 errhint("Wait for them to end, end them with pg_terminate_backend(), or raise migguard.cic_wait_timeout.")));
	}
	PG_END_TRY();

	supervising = false;
	if (registry_guard_end(NULL, 0))
		registry_absorb_cancel();
}
