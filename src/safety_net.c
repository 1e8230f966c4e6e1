/*-------------------------------------------------------------------------
 *
 * safety_net.c
 *		The safety net behind the plan: when a statement is about to rewrite
 *		a large relation or build an index over one, and its plan did not
 *		foresee it (so no rule judged it), stop it there, before the long
 *		work starts.
 *
 * Where: PostgreSQL creates the new heap of every rewrite (make_new_heap,
 * named "pg_temp_<oid of the old heap>": ALTER TABLE's ATRewriteTables,
 * CLUSTER, VACUUM FULL, REFRESH MATERIALIZED VIEW) and every index
 * (index_create) through heap_create_with_catalog / index_create, which
 * call the object access hook (OAT_POST_CREATE) once the catalog rows are
 * written and before any row is copied or any index built.  The new
 * relation is in the relcache by then; the new pg_index row is not visible
 * to an ordinary catalog scan yet (no CommandCounterIncrement since), so it
 * is read with SnapshotSelf, as sepgsql does.
 *
 * The decision is the rule's (table_rewrite or index_build), with its
 * level, migguard.mode and the bypass, through the same enforcement as the
 * plan's violations.  Effects the plan foresaw were judged already: the
 * net lets them be.  A concurrent build (indisready false), a relation
 * created in this transaction, a temporary or small one are not stopped.
 *
 * The hook chains to the previous object_access_hook (cic.c installs one
 * too); the statement being run is a stack frame pushed by the ProcessUtility
 * hook, so statements run from inside statements (functions, DO) each have
 * their own.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "plan.h"
#include "rules_int.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

typedef struct NetFrame
{
	StmtPlan   *plan;			/* NULL: the statement was not checked */
	const char *stmt_text;
	struct NetFrame *prev;
} NetFrame;

static NetFrame *net_top = NULL;
static object_access_hook_type prev_object_access_hook = NULL;

void
safety_net_push(StmtPlan *plan, const char *stmt_text, void **saved)
{
	NetFrame   *frame = palloc(sizeof(NetFrame));

	frame->plan = plan;
	frame->stmt_text = stmt_text;
	frame->prev = net_top;
	*saved = net_top;
	net_top = frame;
}

void
safety_net_pop(void *saved)
{
	net_top = (NetFrame *) saved;
}

/* The row of a catalog just written by this command, read with SnapshotSelf. */
static HeapTuple
own_new_row(Oid catalog, Oid index, AttrNumber attno, Oid key)
{
	Relation	rel = table_open(catalog, AccessShareLock);
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tup;

	ScanKeyInit(&skey, attno, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(key));
	scan = systable_beginscan(rel, index, true, SnapshotSelf, 1, &skey);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		tup = heap_copytuple(tup);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return tup;
}

/* Is ancestor among relid's parents, grandparents, ... (pg_inherits)? */
static bool
inherits_from(Oid relid, Oid ancestor)
{
	int			depth;

	for (depth = 0; depth < 32 && OidIsValid(relid); depth++)
	{
		Relation	rel = table_open(InheritsRelationId, AccessShareLock);
		ScanKeyData skey;
		SysScanDesc scan;
		HeapTuple	tup;
		Oid			parent = InvalidOid;

		ScanKeyInit(&skey, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(relid));
		scan = systable_beginscan(rel, InheritsRelidSeqnoIndexId, true, NULL, 1, &skey);
		if (HeapTupleIsValid(tup = systable_getnext(scan)))
			parent = ((Form_pg_inherits) GETSTRUCT(tup))->inhparent;
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
		if (parent == ancestor)
			return true;
		relid = parent;
	}
	return false;
}

/* Did the plan foresee this kind of work on relid? */
static bool
foreseen(StmtPlan *plan, Oid relid, bool index_build)
{
	ListCell   *lc;

	if (plan->everything)
		return true;
	foreach(lc, plan->effects)
	{
		PlanEffect *e = (PlanEffect *) lfirst(lc);
		bool		kind = index_build ?
			(e->kind == EFFECT_INDEX_BUILD || e->kind == EFFECT_REWRITE) :
			(e->kind == EFFECT_REWRITE || e->kind == EFFECT_QUERY);

		if (!kind)
			continue;
		if (e->rel->relid == relid ||
			(e->recurses && inherits_from(relid, e->rel->relid)))
			return true;
	}
	return false;
}

static void
net_decide(NetFrame *frame, Oid relid, bool index_build)
{
	RelFacts	facts;
	const char *command;
	RuleViolation *v;

	/* a new or temporary table blocks no one, whatever its size */
	if (relfacts_private(relid) || foreseen(frame->plan, relid, index_build))
		return;
	if (!relfacts_get(relid, &facts) || relfacts_exempt(&facts) || !facts.is_large)
		return;
	command = GetCommandTagName(CreateCommandTag(frame->plan->stmt));
	v = rules_violation_for(index_build ? "index_build" : "table_rewrite", &facts,
							psprintf("%s is about to %s large table \"%s\" under its lock",
									 command,
									 index_build ? "build an index on" : "rewrite",
									 facts.relname),
							psprintf("%s holds its lock and is about to %s; its plan did not foresee it, so this decision came after the lock was taken, before the long work starts.",
									 command,
									 index_build ? "build an index over every row" : "copy every row to new storage"),
							index_build ?
							"Build the index first with CREATE INDEX CONCURRENTLY, or run the statement when writes may wait." :
							"Find a way that does not rewrite the table (SELECT * FROM migguard.explain(...) shows what the statement does), or run it when reads and writes may wait.");
	if (v != NULL)
		enforce_violations(list_make1(v), frame->stmt_text);
}

static void
net_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				  int subId, void *arg)
{
	Relation	rel;
	FormData_pg_class copy;
	Form_pg_class cls = &copy;

	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	/*
	 * What CREATE TABLE creates (its TOAST table, the indexes of its keys,
	 * those LIKE or PARTITION OF give it) is all on the new table; CREATE
	 * INDEX builds what its plan foresaw (plan_index), or nothing yet.
	 */
	if (net_top == NULL || net_top->plan == NULL || net_top->plan->skipped ||
		access != OAT_POST_CREATE || classId != RelationRelationId || subId != 0 ||
		IsA(net_top->plan->stmt, CreateStmt) ||
		IsA(net_top->plan->stmt, IndexStmt))
		return;

	/*
	 * heap_create has put the new relation in the relcache already: its
	 * name, kind and file number are there, without a catalog scan.
	 */
	rel = RelationIdGetRelation(objectId);
	if (!RelationIsValid(rel))
		return;
	copy = *rel->rd_rel;
	RelationClose(rel);

	/*
	 * An index created over old storage (ALTER COLUMN TYPE reusing an index
	 * its type change leaves valid: TryReuseIndex) builds nothing.
	 */
	if (cls->relkind == RELKIND_INDEX && cls->relfilenode == objectId)
	{
		HeapTuple	itup = own_new_row(IndexRelationId, IndexRelidIndexId,
									   Anum_pg_index_indexrelid, objectId);
		Form_pg_index idx;

		if (!HeapTupleIsValid(itup))
			return;
		idx = (Form_pg_index) GETSTRUCT(itup);
		/* a concurrent build creates its index not ready: not ours to stop */
		if (idx->indisready)
			net_decide(net_top, idx->indrelid, true);
	}
	else if ((cls->relkind == RELKIND_RELATION || cls->relkind == RELKIND_MATVIEW) &&
			 strncmp(NameStr(cls->relname), "pg_temp_", 8) == 0)
	{
		/* make_new_heap names the new heap after the old one's OID */
		char	   *end;
		unsigned long old = strtoul(NameStr(cls->relname) + 8, &end, 10);

		if (*end == '\0' && old > 0 && old <= PG_UINT32_MAX &&
			get_rel_relkind((Oid) old) != '\0')
			net_decide(net_top, (Oid) old, false);
	}
}

void
safety_net_install(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = net_object_access;
}
