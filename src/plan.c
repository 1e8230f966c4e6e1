/*-------------------------------------------------------------------------
 *
 * plan.c
 *		The statement plan (plan.h) for every statement but ALTER TABLE
 *		(plan_alter.c): CREATE INDEX, DROP INDEX, REINDEX, CLUSTER, VACUUM
 *		FULL, REFRESH MATERIALIZED VIEW, ALTER DOMAIN; and what every plan
 *		shares: relations, effects, their sizes, lock names.
 *
 * PostgreSQL's own errors come first: a statement the server would refuse
 * (no such relation, not its owner, not allowed in a transaction block) is
 * not planned, and no rule sees it.  Sizes are measured only when a rule
 * asks about an effect, so a cheap statement on a table with a thousand
 * partitions costs no stat() at all.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "plan.h"
#include "rules_int.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "rewrite/rewriteSupport.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

PlanRel *
plan_add_rel(StmtPlan *plan, Oid relid, LOCKMODE lockmode, const char *how,
			 Oid parent)
{
	PlanRel    *rel;
	ListCell   *lc;

	foreach(lc, plan->rels)
	{
		rel = (PlanRel *) lfirst(lc);
		if (rel->relid == relid)
		{
			if (lockmode > rel->lockmode)
				rel->lockmode = lockmode;
			return rel;
		}
	}
	rel = palloc0(sizeof(PlanRel));
	rel->relid = relid;
	rel->lockmode = lockmode;
	rel->how = how;
	rel->parent = parent;
	plan->rels = lappend(plan->rels, rel);
	return rel;
}

PlanEffect *
plan_add_effect(StmtPlan *plan, PlanEffectKind kind, const char *rule,
				PlanRel *rel, bool recurses, Node *cmd, char *what)
{
	PlanEffect *e = palloc0(sizeof(PlanEffect));

	e->kind = kind;
	e->rule = rule;
	e->rel = rel;
	e->recurses = recurses;
	e->cmd = cmd;
	e->what = what;
	plan->effects = lappend(plan->effects, e);
	return e;
}

/*
 * Size the effect: the relation, every inheritor when it recurses (sizes
 * summed over what is really processed), and what else it reads.
 */
void
plan_measure(PlanEffect *e)
{
	ListCell   *lc;

	if (e->measured)
		return;
	e->measured = true;
	if (!relfacts_get(e->rel->relid, &e->facts))
	{
		e->exempt = true;
		return;
	}
	if (e->facts.is_temp || e->facts.created_in_xact)
	{
		e->exempt = true;
		return;
	}
	if (e->recurses)
	{
		relfacts_tree(e->rel->relid, &e->bytes, &e->rows);
		if (e->rows == 0 && e->bytes > 0)
			e->rows = -1;		/* never analyzed */
	}
	else
	{
		e->bytes = e->facts.size_bytes;
		e->rows = e->facts.est_rows;
	}
	foreach(lc, e->also_reads)
	{
		RelFacts	other;

		if (relfacts_get(lfirst_oid(lc), &other) && !other.is_temp)
		{
			e->bytes += other.size_bytes;
			if (other.est_rows > 0)
				e->rows = Max(e->rows, 0) + other.est_rows;
		}
	}
	e->exempt = e->bytes == 0;
	e->large = !e->exempt &&
		e->bytes >= (int64) migguard_large_table_size_kb * 1024;
	/* the facts the messages quote are those of what is processed */
	e->facts.size_bytes = e->bytes;
	e->facts.est_rows = e->rows;
	e->facts.is_large = e->large;
}

/* Is this effect one its rule fires on: large, not exempt? */
bool
plan_effect_hazardous(PlanEffect *e)
{
	if (e->rule == NULL)
		return false;
	plan_measure(e);
	return e->large && !e->exempt;
}

/* The first hazardous effect judged by rule, or NULL. */
PlanEffect *
plan_first_hazard(StmtPlan *plan, const char *rule)
{
	ListCell   *lc;

	foreach(lc, plan->effects)
	{
		PlanEffect *e = (PlanEffect *) lfirst(lc);

		if (e->rule && strcmp(e->rule, rule) == 0 && plan_effect_hazardous(e))
			return e;
	}
	return NULL;
}

/* The largest hazardous effect judged by rule (a domain reaches many). */
PlanEffect *
plan_largest_hazard(StmtPlan *plan, const char *rule)
{
	PlanEffect *largest = NULL;
	ListCell   *lc;

	foreach(lc, plan->effects)
	{
		PlanEffect *e = (PlanEffect *) lfirst(lc);

		if (e->rule && strcmp(e->rule, rule) == 0 && plan_effect_hazardous(e) &&
			(largest == NULL || e->bytes > largest->bytes))
			largest = e;
	}
	return largest;
}

/* May the current user run DDL on relid (PostgreSQL's ownership check)? */
bool
plan_may_own(Oid relid)
{
	/* a relation dropped meanwhile is PostgreSQL's to report, not ours */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return false;
	return superuser() || mg_relation_ownercheck(relid, GetUserId());
}

/* ... or maintenance (VACUUM, CLUSTER, REINDEX, REFRESH; PG17: MAINTAIN)? */
static bool
plan_may_maintain(Oid relid)
{
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return false;
	return plan_may_own(relid) || mg_may_maintain(relid, GetUserId());
}

const char *
plan_lock_name(LOCKMODE mode)
{
	static const char *const names[] = {
		"none", "ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE",
		"SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE",
		"EXCLUSIVE", "ACCESS EXCLUSIVE"
	};

	return (mode >= 0 && mode <= AccessExclusiveLock) ? names[mode] : "?";
}

/* What ordinary sessions cannot do while the lock is held or awaited. */
const char *
plan_lock_blocks(LOCKMODE mode)
{
	if (mode >= AccessExclusiveLock)
		return "reads, writes";
	if (mode >= ShareLock)
		return "writes";
	return "";
}

const char *
plan_effect_kind_name(PlanEffectKind kind)
{
	switch (kind)
	{
		case EFFECT_REWRITE:
			return "rewrite";
		case EFFECT_SCAN:
			return "scan";
		case EFFECT_INDEX_BUILD:
			return "index build";
		case EFFECT_MOVE:
			return "move";
		case EFFECT_QUERY:
			return "query";
		case EFFECT_NONE:
			return "lock";
	}
	return "?";
}

static Oid
rangevar_relid(RangeVar *rv)
{
	return relfacts_rangevar_relid(rv);
}

/* Not planned: PostgreSQL will refuse the statement with its own error. */
static void
plan_skip(StmtPlan *plan, const char *reason)
{
	plan->skipped = true;
	plan->skip_reason = reason;
	plan->rels = NIL;
	plan->effects = NIL;
}

#define SKIP(plan, reason) \
	do { plan_skip((plan), (reason)); return; } while (0)

/* Statements PostgreSQL refuses inside a transaction block or a function. */
static bool
refused_in_block(const PlanContext *pctx)
{
	return !pctx->dry_run && (!pctx->top_level || IsTransactionBlock());
}

/* ---- CREATE INDEX, DROP INDEX, REINDEX ---- */

static void
plan_index(StmtPlan *plan, IndexStmt *stmt)
{
	Oid			relid = rangevar_relid(stmt->relation);
	char		relkind;
	PlanRel    *rel;

	if (!OidIsValid(relid))
		SKIP(plan, "relation does not exist");
	if (!plan_may_own(relid))
		SKIP(plan, "must be owner of table");
	relkind = get_rel_relkind(relid);
	rel = plan_add_rel(plan, relid,
					   stmt->concurrent ? ShareUpdateExclusiveLock : ShareLock,
					   "target", InvalidOid);
	if (stmt->concurrent)
		return;

	/* ON ONLY a partitioned table: an invalid parent index, built nowhere */
	if (relkind == RELKIND_PARTITIONED_TABLE && !stmt->relation->inh)
		return;
	plan_add_effect(plan, EFFECT_INDEX_BUILD, "index_not_concurrent", rel,
					relkind == RELKIND_PARTITIONED_TABLE, (Node *) stmt,
					psprintf("index %s built",
							 stmt->idxname ? quote_identifier(stmt->idxname) : "(new)"));
}

static void
plan_drop_index(StmtPlan *plan, DropStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		RangeVar   *rv = makeRangeVarFromNameList((List *) lfirst(lc));
		Oid			indexid = RangeVarGetRelid(rv, NoLock, true);
		Oid			tableid;
		PlanRel    *rel;
		PlanEffect *e;

		if (!OidIsValid(indexid))
			continue;
		if (!plan_may_own(indexid))
			SKIP(plan, "must be owner of index");
		tableid = IndexGetRelation(indexid, true);
		if (!OidIsValid(tableid))
			continue;
		rel = plan_add_rel(plan, tableid,
						   stmt->concurrent ? ShareUpdateExclusiveLock : AccessExclusiveLock,
						   "table of the index", InvalidOid);
		if (stmt->concurrent)
			continue;
		e = plan_add_effect(plan, EFFECT_NONE, "drop_index_not_concurrent",
							rel, false, (Node *) stmt,
							psprintf("index %s dropped", relfacts_relation_name(indexid)));
		e->subject = relfacts_relation_name(indexid);
	}
}

/* Has relid an index marked for CLUSTER? */
static bool
has_clustered_index(Oid relid)
{
	ListCell   *lc;

	foreach(lc, relfacts_indexes(relid))
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		bool		clustered;

		if (!HeapTupleIsValid(tup))
			continue;
		clustered = ((Form_pg_index) GETSTRUCT(tup))->indisclustered;
		ReleaseSysCache(tup);
		if (clustered)
			return true;
	}
	return false;
}

/* Tables reached by REINDEX SCHEMA / DATABASE / SYSTEM, CLUSTER, VACUUM. */
typedef enum Reach
{
	REACH_SCHEMA,
	REACH_DATABASE,
	REACH_SYSTEM,
	REACH_CLUSTERED,
	REACH_VACUUM
} Reach;

static void
plan_reached_tables(StmtPlan *plan, Reach reach, Oid nspid, PlanEffectKind kind,
					const char *rule, LOCKMODE lockmode, Node *stmt)
{
	Relation	classrel;
	SysScanDesc scan;
	HeapTuple	tup;

	classrel = table_open(RelationRelationId, AccessShareLock);
	scan = systable_beginscan(classrel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_class cls = (Form_pg_class) GETSTRUCT(tup);
		Oid			relid = cls->oid;
		bool		is_catalog = IsCatalogNamespace(cls->relnamespace) ||
			IsToastNamespace(cls->relnamespace);
		PlanRel    *rel;

		CHECK_FOR_INTERRUPTS();
		if (cls->relkind != RELKIND_RELATION && cls->relkind != RELKIND_MATVIEW)
			continue;
		if (cls->relpersistence == RELPERSISTENCE_TEMP)
			continue;
		switch (reach)
		{
			case REACH_SCHEMA:
				if (cls->relnamespace != nspid)
					continue;
				break;
			case REACH_SYSTEM:
				if (!is_catalog)
					continue;
				break;
			case REACH_DATABASE:
				if (cls->relisshared)
					continue;
				break;
			case REACH_CLUSTERED:
				if (!plan_may_maintain(relid) || !has_clustered_index(relid))
					continue;
				break;
			case REACH_VACUUM:
				if (cls->relisshared && !superuser())
					continue;
				if (!plan_may_maintain(relid) &&
					!mg_database_ownercheck(MyDatabaseId, GetUserId()))
					continue;
				break;
		}
		rel = plan_add_rel(plan, relid, lockmode, "reached", InvalidOid);
		plan_add_effect(plan, kind, rule, rel, false, stmt,
						pstrdup(kind == EFFECT_REWRITE ? "rewritten" : "indexes rebuilt"));
	}
	systable_endscan(scan);
	table_close(classrel, AccessShareLock);
	plan->everything = true;
}

static void
plan_reindex(StmtPlan *plan, ReindexStmt *stmt, const PlanContext *pctx)
{
	bool		concurrent = mg_reindex_concurrent(stmt);
	LOCKMODE	lockmode = concurrent ? ShareUpdateExclusiveLock : ShareLock;
	Oid			relid;
	Oid			nspid;
	PlanRel    *rel;

	switch (stmt->kind)
	{
		case REINDEX_OBJECT_INDEX:
			relid = rangevar_relid(stmt->relation);
			if (!OidIsValid(relid))
				SKIP(plan, "index does not exist");
			if (!plan_may_maintain(relid))
				SKIP(plan, "must be owner of index");
			if (concurrent && refused_in_block(pctx))
				SKIP(plan, "cannot run inside a transaction block");
			if (!OidIsValid(IndexGetRelation(relid, true)))
				SKIP(plan, "not an index");
			rel = plan_add_rel(plan, IndexGetRelation(relid, true), lockmode,
							   "table of the index", InvalidOid);
			if (!concurrent)
				plan_add_effect(plan, EFFECT_INDEX_BUILD, "reindex_not_concurrent",
								rel, get_rel_relkind(relid) == RELKIND_PARTITIONED_INDEX,
								(Node *) stmt,
								psprintf("index %s rebuilt", relfacts_relation_name(relid)));
			return;
		case REINDEX_OBJECT_TABLE:
			relid = rangevar_relid(stmt->relation);
			if (!OidIsValid(relid))
				SKIP(plan, "relation does not exist");
			if (!plan_may_maintain(relid))
				SKIP(plan, "must be owner of table");
			if (concurrent && refused_in_block(pctx))
				SKIP(plan, "cannot run inside a transaction block");
			if (get_rel_relkind(relid) != RELKIND_RELATION &&
				get_rel_relkind(relid) != RELKIND_MATVIEW &&
				get_rel_relkind(relid) != RELKIND_TOASTVALUE &&
				get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
				SKIP(plan, "not a table");
			rel = plan_add_rel(plan, relid, lockmode, "target", InvalidOid);
			if (!concurrent)
				plan_add_effect(plan, EFFECT_INDEX_BUILD, "reindex_not_concurrent",
								rel, get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE,
								(Node *) stmt, pstrdup("every index rebuilt"));
			return;
		case REINDEX_OBJECT_SCHEMA:
			nspid = get_namespace_oid(stmt->name, true);
			if (!OidIsValid(nspid))
				SKIP(plan, "schema does not exist");
			if (!superuser() && !mg_namespace_ownercheck(nspid, GetUserId()))
				SKIP(plan, "must be owner of schema");
			if (refused_in_block(pctx))
				SKIP(plan, "cannot run inside a transaction block");
			if (!concurrent)
				plan_reached_tables(plan, REACH_SCHEMA, nspid, EFFECT_INDEX_BUILD,
									"reindex_not_concurrent", lockmode, (Node *) stmt);
			return;
		case REINDEX_OBJECT_DATABASE:
		case REINDEX_OBJECT_SYSTEM:
			if (stmt->name && strcmp(stmt->name, get_database_name(MyDatabaseId)) != 0)
				SKIP(plan, "can only reindex the currently open database");
			if (!superuser() && !mg_database_ownercheck(MyDatabaseId, GetUserId()))
				SKIP(plan, "must be owner of database");
			if (refused_in_block(pctx))
				SKIP(plan, "cannot run inside a transaction block");
			if (!concurrent)
				plan_reached_tables(plan, stmt->kind == REINDEX_OBJECT_SYSTEM ?
									REACH_SYSTEM : REACH_DATABASE, InvalidOid,
									EFFECT_INDEX_BUILD, "reindex_not_concurrent",
									lockmode, (Node *) stmt);
			return;
	}
}

/* ---- CLUSTER, VACUUM FULL, REFRESH MATERIALIZED VIEW ---- */

static void
plan_cluster(StmtPlan *plan, ClusterStmt *stmt, const PlanContext *pctx)
{
	Oid			relid;
	PlanRel    *rel;

	if (stmt->relation == NULL)
	{
		if (refused_in_block(pctx))
			SKIP(plan, "cannot run inside a transaction block");
		plan_reached_tables(plan, REACH_CLUSTERED, InvalidOid, EFFECT_REWRITE,
							"cluster", AccessExclusiveLock, (Node *) stmt);
		return;
	}
	relid = rangevar_relid(stmt->relation);
	if (!OidIsValid(relid))
		SKIP(plan, "relation does not exist");
	if (!plan_may_maintain(relid))
		SKIP(plan, "must be owner of table");
	rel = plan_add_rel(plan, relid, AccessExclusiveLock, "target", InvalidOid);
	plan_add_effect(plan, EFFECT_REWRITE, "cluster", rel,
					get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE,
					(Node *) stmt, pstrdup("rewritten in index order"));
}

static void
plan_vacuum(StmtPlan *plan, VacuumStmt *stmt, const PlanContext *pctx)
{
	ListCell   *lc;

	if (!stmt->is_vacuumcmd || !statement_option_on(stmt->options, "full"))
		return;
	if (refused_in_block(pctx))
		SKIP(plan, "cannot run inside a transaction block");
	if (stmt->rels == NIL)
	{
		plan_reached_tables(plan, REACH_VACUUM, InvalidOid, EFFECT_REWRITE,
							"vacuum_full", AccessExclusiveLock, (Node *) stmt);
		return;
	}
	foreach(lc, stmt->rels)
	{
		Oid			relid = rangevar_relid(((VacuumRelation *) lfirst(lc))->relation);
		PlanRel    *rel;

		/* missing: an error; not ours: VACUUM skips it with a warning */
		if (!OidIsValid(relid))
			SKIP(plan, "relation does not exist");
		if (!plan_may_maintain(relid) &&
			!mg_database_ownercheck(MyDatabaseId, GetUserId()))
			continue;
		rel = plan_add_rel(plan, relid, AccessExclusiveLock, "target", InvalidOid);
		plan_add_effect(plan, EFFECT_REWRITE, "vacuum_full", rel,
						get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE,
						(Node *) stmt, pstrdup("rewritten"));
	}
}

/* The relations a materialized view's query reads (its rule's dependencies). */
static List *
matview_sources(Oid matviewid)
{
	Relation	deprel;
	SysScanDesc scan;
	ScanKeyData key[2];
	HeapTuple	tup;
	List	   *sources = NIL;
	Oid			ruleid = get_rewrite_oid(matviewid, "_RETURN", true);

	if (!OidIsValid(ruleid))
		return NIL;
	deprel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(RewriteRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(ruleid));
	scan = systable_beginscan(deprel, DependDependerIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);
		char		relkind;

		if (dep->refclassid != RelationRelationId || dep->refobjid == matviewid)
			continue;
		relkind = get_rel_relkind(dep->refobjid);
		if (relkind == RELKIND_RELATION || relkind == RELKIND_MATVIEW ||
			relkind == RELKIND_PARTITIONED_TABLE)
			sources = list_append_unique_oid(sources, dep->refobjid);
	}
	systable_endscan(scan);
	table_close(deprel, AccessShareLock);
	return sources;
}

static void
plan_refresh(StmtPlan *plan, RefreshMatViewStmt *stmt)
{
	Oid			relid = rangevar_relid(stmt->relation);
	PlanRel    *rel;
	PlanEffect *e;

	if (!OidIsValid(relid))
		SKIP(plan, "relation does not exist");
	if (!plan_may_maintain(relid))
		SKIP(plan, "must be owner of materialized view");
	rel = plan_add_rel(plan, relid,
					   stmt->concurrent ? ExclusiveLock : AccessExclusiveLock,
					   "target", InvalidOid);
	if (stmt->skipData)
		return;
	if (stmt->concurrent)
	{
		/* its query and diff run into a temporary heap; reads go on */
		plan_add_effect(plan, EFFECT_QUERY, NULL, rel, false, (Node *) stmt,
						pstrdup("its query runs and the differences are applied (reads go on)"));
		return;
	}
	e = plan_add_effect(plan, EFFECT_QUERY, "refresh_matview_blocking", rel,
						false, (Node *) stmt,
						pstrdup("its query runs and its rows are rewritten"));
	e->also_reads = matview_sources(relid);
}

/* ---- ALTER DOMAIN: every table with a column of the domain ---- */

static void
plan_domain(StmtPlan *plan, AlterDomainStmt *stmt)
{
	Oid			typid;
	const char *rule;
	Relation	deprel;
	SysScanDesc scan;
	ScanKeyData key[2];
	HeapTuple	tup;

	if (stmt->subtype == 'C' && IsA(stmt->def, Constraint) &&
		((Constraint *) stmt->def)->contype == CONSTR_CHECK &&
		!((Constraint *) stmt->def)->skip_validation)
		rule = "domain_check_validating";
	else if (stmt->subtype == 'N')
		rule = "domain_not_null_scan";
	else
		return;
	typid = LookupTypeNameOid(NULL, makeTypeNameFromNameList(stmt->typeName), true);
	if (!OidIsValid(typid))
		SKIP(plan, "type does not exist");
	if (!superuser() && !mg_type_ownercheck(typid, GetUserId()))
		SKIP(plan, "must be owner of type");

	deprel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(TypeRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(typid));
	scan = systable_beginscan(deprel, DependReferenceIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);
		PlanRel    *rel;
		char		relkind;

		if (dep->classid != RelationRelationId || dep->objsubid <= 0)
			continue;
		relkind = get_rel_relkind(dep->objid);
		if (relkind != RELKIND_RELATION && relkind != RELKIND_MATVIEW)
			continue;
		rel = plan_add_rel(plan, dep->objid, ShareLock, "uses the domain", InvalidOid);
		plan_add_effect(plan, EFFECT_SCAN, rule, rel, false, (Node *) stmt,
						psprintf("column %s verified",
								 quote_identifier(get_attname(dep->objid, dep->objsubid, false))));
	}
	systable_endscan(scan);
	table_close(deprel, AccessShareLock);
}

/*
 * The plan of one raw statement.  Always returns a plan; an empty one for
 * statements that do nothing long, a skipped one for statements PostgreSQL
 * will refuse first.
 */
StmtPlan *
plan_statement(Node *stmt, const char *stmt_text, const PlanContext *pctx)
{
	StmtPlan   *plan = palloc0(sizeof(StmtPlan));

	/* the hook starts each statement afresh itself, before the lock model */
	if (pctx->dry_run)
		relfacts_new_statement();
	plan->stmt = stmt;
	plan->stmt_text = stmt_text;

	switch (nodeTag(stmt))
	{
		case T_AlterTableStmt:
			{
				AlterTableStmt *astmt = (AlterTableStmt *) stmt;
				Oid			relid = rangevar_relid(astmt->relation);

				if (!OidIsValid(relid))
					plan_skip(plan, "relation does not exist");
				else if (!plan_may_own(relid))
					plan_skip(plan, "must be owner of relation");
				else
					plan_alter_table(plan, astmt, relid, pctx);
				break;
			}
		case T_IndexStmt:
			plan_index(plan, (IndexStmt *) stmt);
			break;
		case T_DropStmt:
			if (((DropStmt *) stmt)->removeType == OBJECT_INDEX)
				plan_drop_index(plan, (DropStmt *) stmt);
			break;
		case T_ReindexStmt:
			plan_reindex(plan, (ReindexStmt *) stmt, pctx);
			break;
		case T_ClusterStmt:
			plan_cluster(plan, (ClusterStmt *) stmt, pctx);
			break;
		case T_VacuumStmt:
			plan_vacuum(plan, (VacuumStmt *) stmt, pctx);
			break;
		case T_RefreshMatViewStmt:
			plan_refresh(plan, (RefreshMatViewStmt *) stmt);
			break;
		case T_AlterDomainStmt:
			plan_domain(plan, (AlterDomainStmt *) stmt);
			break;
		default:
			break;
	}
	return plan;
}
