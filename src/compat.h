/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every difference between PostgreSQL major versions lives here, so
 *		the rest of migguard reads as if there were one PostgreSQL.
 *
 * Written against PostgreSQL 15; built and tested against 13, 15, 17 and
 * 18 (test/majors/build-pg.sh).  14 and 16 are expected to work (every
 * difference below is decided by version number) but were not built.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGGUARD_COMPAT_H
#define MIGGUARD_COMPAT_H

#include "postgres.h"

#include "commands/defrem.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "nodes/parsenodes.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/guc.h"

#if PG_VERSION_NUM < 130000
#error "migguard requires PostgreSQL 13 or later"
#endif

#if PG_VERSION_NUM >= 170000
#include "storage/procnumber.h"
#else
#include "storage/backendid.h"
#endif

#if PG_VERSION_NUM >= 160000
#include "storage/relfilelocator.h"
#else
#include "storage/relfilenode.h"
#endif

#if PG_VERSION_NUM >= 140000
#define MG_PROCESS_UTILITY_ARGS \
	PlannedStmt *pstmt, const char *queryString, bool readOnlyTree, \
	ProcessUtilityContext context, ParamListInfo params, \
	QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define MG_PROCESS_UTILITY_PASS \
	pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc
#define MG_PROCESS_UTILITY_PASS_STMT(stmt) \
	(stmt), queryString, readOnlyTree, context, params, queryEnv, dest, qc
#else
#define MG_PROCESS_UTILITY_ARGS \
	PlannedStmt *pstmt, const char *queryString, \
	ProcessUtilityContext context, ParamListInfo params, \
	QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define MG_PROCESS_UTILITY_PASS \
	pstmt, queryString, context, params, queryEnv, dest, qc
#define MG_PROCESS_UTILITY_PASS_STMT(stmt) \
	(stmt), queryString, context, params, queryEnv, dest, qc
#endif

/*
 * Before PG15 an extension asked for shared memory from _PG_init; from PG15
 * on it must do so from shmem_request_hook.
 */
#if PG_VERSION_NUM >= 150000
#define MG_HAVE_SHMEM_REQUEST_HOOK 1
#endif

#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/*
 * Index of this backend's slot in per-backend arrays of size MaxBackends.
 * Regular backends and background workers have one; auxiliary processes
 * do not.
 */
static inline int
mg_my_backend_index(void)
{
#if PG_VERSION_NUM >= 170000
	return (MyProcNumber >= 0 && MyProcNumber < MaxBackends) ? MyProcNumber : -1;
#else
	return (MyBackendId >= 1 && MyBackendId <= MaxBackends) ? MyBackendId - 1 : -1;
#endif
}

/* MaxBackends is only computed before shmem_request_hook from PG15 on. */
#if PG_VERSION_NUM < 150000
#include "postmaster/autovacuum.h"
#include "replication/walsender.h"
#endif
static inline int
mg_max_backends(void)
{
#if PG_VERSION_NUM >= 150000
	return MaxBackends;
#else
	return MaxConnections + autovacuum_max_workers + 1 +
		max_worker_processes + max_wal_senders;
#endif
}

/* Set up a materialized set-returning function's tuplestore. */
static inline void
mg_init_materialized_srf(FunctionCallInfo fcinfo)
{
#if PG_VERSION_NUM >= 150000
	InitMaterializedSRF(fcinfo, 0);
#else
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	MemoryContext oldcxt;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(oldcxt);
#endif
}

/*
 * The physical identity of a relation's storage, renamed in PG16.
 * mg_relpath() returns a palloc'd path: from PG18 on relpathbackend()
 * returns a RelPathStr by value.
 */
#if PG_VERSION_NUM >= 180000
#include "common/relpath.h"
typedef RelFileLocator MgRelFile;
#define MG_RELFILE_SET(rf, spc, db, rel) \
	((rf).spcOid = (spc), (rf).dbOid = (db), (rf).relNumber = (rel))
static inline char *
mg_relpath(RelFileLocator rf, ForkNumber fork)
{
	RelPathStr	path = relpathbackend(rf, INVALID_PROC_NUMBER, fork);

	return pstrdup(path.str);
}
#elif PG_VERSION_NUM >= 160000
typedef RelFileLocator MgRelFile;
#define MG_RELFILE_SET(rf, spc, db, rel) \
	((rf).spcOid = (spc), (rf).dbOid = (db), (rf).relNumber = (rel))
#define mg_relpath(rf, fork) relpathbackend((rf), InvalidBackendId, (fork))
#else
typedef RelFileNode MgRelFile;
#define MG_RELFILE_SET(rf, spc, db, rel) \
	((rf).spcNode = (spc), (rf).dbNode = (db), (rf).relNode = (rel))
#define mg_relpath(rf, fork) relpathbackend((rf), InvalidBackendId, (fork))
#endif

#if PG_VERSION_NUM >= 170000
#define InvalidBackendId INVALID_PROC_NUMBER
#endif

#if PG_VERSION_NUM >= 160000
#define mg_relation_map_filenode(relid, shared) \
	RelationMapOidToFilenumber((relid), (shared))
#else
#define mg_relation_map_filenode(relid, shared) \
	RelationMapOidToFilenode((relid), (shared))
#endif

/*
 * When a lock wait began: kept in the lock status data from PG14 on (0
 * for a moment after the wait begins).  PG13 does not record it, so
 * src/compat_pg13.c estimates it from the waiter's statement start and
 * this process's earlier lock snapshots (MG_TRACK_LOCK_WAITS); take
 * snapshots with mg_lock_status_data().
 */
#if PG_VERSION_NUM >= 140000
#define MG_LOCK_WAIT_START(instance) ((instance)->waitStart)
#define mg_lock_status_data() GetLockStatusData()
#else
#define MG_TRACK_LOCK_WAITS 1
extern LockData *mg_lock_status_data(void);
extern TimestampTz mg_lock_wait_start(const LockInstanceData *instance);
#define MG_LOCK_WAIT_START(instance) mg_lock_wait_start(instance)
#endif

/* The n-th (1-based) entry of this process's backend status snapshot. */
#if PG_VERSION_NUM >= 160000
#define mg_local_beentry(n) pgstat_get_local_beentry_by_index(n)
#else
#define mg_local_beentry(n) pgstat_fetch_stat_local_beentry(n)
#endif

/* A uniformly distributed double in [0, 1). */
#if PG_VERSION_NUM >= 150000
#include "common/pg_prng.h"
#define mg_random_fraction() pg_prng_double(&pg_global_prng_state)
#else
#define mg_random_fraction() ((double) random() / ((double) MAX_RANDOM_VALUE + 1))
#endif

/*
 * Memory for a setting's parsed "extra": guc_malloc from PG16 on, and then
 * it must be released with guc_free (PostgreSQL manages it; libc's free()
 * crashes the backend).
 */
#if PG_VERSION_NUM >= 160000
#define mg_guc_malloc(size) guc_malloc(LOG, (size))
#define mg_guc_free(ptr) guc_free(ptr)
#else
#define mg_guc_malloc(size) malloc(size)
#define mg_guc_free(ptr) free(ptr)
#endif

/*
 * pg_class.reltuples of a relation never vacuumed or analyzed: -1 from PG14
 * on; before, 0 with relpages 0 (which is also an empty relation's state
 * until its first VACUUM or ANALYZE: reported as never analyzed too).
 */
#if PG_VERSION_NUM >= 140000
#define mg_reltuples(cls) ((double) (cls)->reltuples)
#else
#define mg_reltuples(cls) \
	(((cls)->relpages == 0 && (cls)->reltuples == 0) ? -1.0 : (double) (cls)->reltuples)
#endif

/* Catalog index OIDs were declared in catalog/indexing.h before PG14. */
#if PG_VERSION_NUM < 140000
#include "catalog/indexing.h"
#endif

/* The predefined role pg_read_all_stats had a DEFAULT_ROLE_ name before PG14. */
#if PG_VERSION_NUM < 140000
#define ROLE_PG_READ_ALL_STATS DEFAULT_ROLE_READ_ALL_STATS
#endif

/*
 * A partition bound's quals: before PG15 get_qual_from_partbound() also
 * took the partition, which it never used (PG15 dropped the argument).
 * Callers use PG15's form; the header is included first so that its
 * prototype is not rewritten.
 */
#if PG_VERSION_NUM < 150000
#include "partitioning/partbounds.h"
#define get_qual_from_partbound(parent, spec) \
	get_qual_from_partbound(NULL, (parent), (spec))
#endif

/* DETACH PARTITION ... CONCURRENTLY exists from PG14 on. */
#if PG_VERSION_NUM >= 140000
#define MG_DETACH_CONCURRENT(partcmd) ((partcmd)->concurrent)
#else
#define MG_DETACH_CONCURRENT(partcmd) false
#endif

/* REINDEX options moved from fields to a DefElem list in PG14. */
#if PG_VERSION_NUM >= 140000
static inline bool
mg_reindex_concurrent(ReindexStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->params)
	{
		DefElem    *opt = (DefElem *) lfirst(lc);

		if (strcmp(opt->defname, "concurrently") == 0)
			return defGetBoolean(opt);
	}
	return false;
}
#else
#define mg_reindex_concurrent(stmt) ((stmt)->concurrent)
#endif

/* Does this backend hold exactly this lock mode?  PG17 added "orstronger". */
#if PG_VERSION_NUM >= 170000
#define mg_lock_held_by_me(tag, mode) LockHeldByMe((tag), (mode), false)
#else
#define mg_lock_held_by_me(tag, mode) LockHeldByMe((tag), (mode))
#endif

/* The raw parser learned a parse mode in PG14. */
#if PG_VERSION_NUM >= 140000
#define mg_raw_parser(sql) raw_parser((sql), RAW_PARSE_DEFAULT)
#else
#define mg_raw_parser(sql) raw_parser(sql)
#endif

/* The pid of the backend running a virtual transaction, 0 if it ended. */
#if PG_VERSION_NUM >= 170000
#include "storage/procarray.h"
static inline int
mg_vxid_pid(VirtualTransactionId vxid)
{
	PGPROC	   *proc = ProcNumberGetProc(vxid.procNumber);

	return (proc && proc->vxid.lxid == vxid.localTransactionId) ? proc->pid : 0;
}
#else
#include "storage/sinvaladt.h"
static inline int
mg_vxid_pid(VirtualTransactionId vxid)
{
	PGPROC	   *proc = BackendIdGetProc(vxid.backendId);

	return (proc && proc->lxid == vxid.localTransactionId) ? proc->pid : 0;
}
#endif

/* Concurrent index builds that other ones need not wait for (PG14+). */
#if PG_VERSION_NUM >= 140000
#define MG_PROC_IN_SAFE_IC PROC_IN_SAFE_IC
#else
#define MG_PROC_IN_SAFE_IC 0
#endif

/* Backend status moved out of pgstat.h in PG14. */
#if PG_VERSION_NUM >= 140000
#include "utils/backend_status.h"
#define mg_clear_backend_status_snapshot() pgstat_clear_backend_activity_snapshot()
#else
#include "pgstat.h"
#define mg_clear_backend_status_snapshot() pgstat_clear_snapshot()
#endif

/* ---- added by the transaction guard (lead) ---- */

#include "catalog/pg_class.h"
#include "utils/acl.h"

/* Does roleid own the relation? */
static inline bool
mg_relation_ownercheck(Oid relid, Oid roleid)
{
#if PG_VERSION_NUM >= 160000
	return object_ownercheck(RelationRelationId, relid, roleid);
#else
	return pg_class_ownercheck(relid, roleid);
#endif
}

/* ---- added by helper "security" (lockmodel.c, cic.c) ---- */

/* AlterTableStmt's object type was "relkind" before PG14. */
#if PG_VERSION_NUM >= 140000
#define mg_alter_table_objtype(stmt) ((stmt)->objtype)
#else
#define mg_alter_table_objtype(stmt) ((stmt)->relkind)
#endif

/*
 * A backend's vacuum status flags (PROC_IS_AUTOVACUUM, ...): in PGPROC from
 * PG14 on, in PGXACT before.  Caller holds ProcArrayLock.
 */
#if PG_VERSION_NUM >= 140000
#define mg_proc_status_flags(proc) ((proc)->statusFlags)
#else
#define mg_proc_status_flags(proc) (ProcGlobal->allPgXact[(proc)->pgprocno].vacuumFlags)
#endif

/* Is proc an autovacuum worker that runs to prevent wraparound? */
static inline bool
mg_proc_is_wraparound_autovacuum(PGPROC *proc)
{
	uint8		flags = mg_proc_status_flags(proc);

#ifdef PROC_VACUUM_FOR_WRAPAROUND
	return (flags & PROC_IS_AUTOVACUUM) != 0 &&
		(flags & PROC_VACUUM_FOR_WRAPAROUND) != 0;
#else
	return false;
#endif
}

#include "catalog/pg_authid.h"

/* The role whose members may signal other users' sessions. */
#if PG_VERSION_NUM >= 140000
#define MG_ROLE_PG_SIGNAL_BACKEND ROLE_PG_SIGNAL_BACKEND
#else
#define MG_ROLE_PG_SIGNAL_BACKEND DEFAULT_ROLE_SIGNAL_BACKENDID
#endif

/* ---- helper "plan": the statement plan and the bypass ---- */

/* This backend's local transaction id: moved into MyProc->vxid in PG17. */
#if PG_VERSION_NUM >= 170000
#define mg_my_lxid() (MyProc->vxid.lxid)
#else
#define mg_my_lxid() (MyProc->lxid)
#endif

/* Ownership checks of other catalogs (relations: mg_relation_ownercheck). */
#if PG_VERSION_NUM >= 160000
#include "catalog/pg_database_d.h"
#include "catalog/pg_namespace_d.h"
#include "catalog/pg_type_d.h"
#define mg_type_ownercheck(typid, roleid) \
	object_ownercheck(TypeRelationId, (typid), (roleid))
#define mg_namespace_ownercheck(nspid, roleid) \
	object_ownercheck(NamespaceRelationId, (nspid), (roleid))
#define mg_database_ownercheck(dbid, roleid) \
	object_ownercheck(DatabaseRelationId, (dbid), (roleid))
#else
#define mg_type_ownercheck(typid, roleid) pg_type_ownercheck((typid), (roleid))
#define mg_namespace_ownercheck(nspid, roleid) \
	pg_namespace_ownercheck((nspid), (roleid))
#define mg_database_ownercheck(dbid, roleid) \
	pg_database_ownercheck((dbid), (roleid))
#endif

/* The MAINTAIN privilege (VACUUM, CLUSTER, REINDEX, REFRESH) from PG17 on. */
#if PG_VERSION_NUM >= 170000
#define mg_may_maintain(relid, roleid) \
	(pg_class_aclcheck((relid), (roleid), ACL_MAINTAIN) == ACLCHECK_OK)
#else
#define mg_may_maintain(relid, roleid) false
#endif

/* ALTER TABLE ... SET ACCESS METHOD from PG15, SET EXPRESSION from PG17. */
#if PG_VERSION_NUM >= 150000
#define MG_HAVE_SET_ACCESS_METHOD 1
#endif
#if PG_VERSION_NUM >= 170000
#define MG_HAVE_SET_EXPRESSION 1
#endif

/*
 * Generated columns: stored only until PG18, which adds virtual ones (the
 * default there) that are computed on read and never rewrite.
 */
#if PG_VERSION_NUM >= 180000
#define mg_generated_is_stored(con) \
	((con)->generated_kind == ATTRIBUTE_GENERATED_STORED)
#define MG_HAVE_VIRTUAL_GENERATED 1
#else
#define mg_generated_is_stored(con) true
#endif

/* NOT NULL constraints that can be added NOT VALID, then validated (PG18). */
#if PG_VERSION_NUM >= 180000
#define MG_HAVE_NOT_NULL_NOT_VALID 1
#endif

/* What ALTER TABLE names: a relkind field until PG13, an object type since. */
#if PG_VERSION_NUM >= 140000
#define mg_alter_table_objtype(stmt) ((stmt)->objtype)
#else
#define mg_alter_table_objtype(stmt) ((stmt)->relkind)
#endif

/* REPACK, the online-ish successor of VACUUM FULL and CLUSTER (PG19). */
#if PG_VERSION_NUM >= 190000
#define MG_HAVE_REPACK 1
#endif

/*
 * The length of the longest prefix of str (len bytes) that is valid in the
 * encoding: pg_encoding_verifymbstr from PG14 on, a loop over characters
 * before.
 */
static inline int
mg_encoding_valid_prefix(int encoding, const char *str, int len)
{
#if PG_VERSION_NUM >= 140000
	return pg_encoding_verifymbstr(encoding, str, len);
#else
	int			valid = 0;

	while (valid < len)
	{
		int			l = pg_encoding_verifymb(encoding, str + valid, len - valid);

		if (l <= 0 || valid + l > len)
			break;
		valid += l;
	}
	return valid;
#endif
}

#endif							/* MIGGUARD_COMPAT_H */
