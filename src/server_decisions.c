/*-------------------------------------------------------------------------
 *
 * server_decisions.c
 *		Predict what ALTER TABLE will do, by the same computations it does:
 *		whether a column default is volatile, whether a type change rewrites
 *		the table, whether validated CHECK constraints spare a scan.
 *
 * A hand-kept list of "safe" type pairs would be wrong for domains, custom
 * casts and the session's time zone; the server's own coercion machinery is
 * not.  These functions look names up without locks, except where the
 * server needs the relation open to transform an expression (a USING
 * clause, a partition bound): there they take ACCESS SHARE, the weakest.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "rules_int.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/partition.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_constraint.h"
#include "commands/tablecmds.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_relation.h"
#include "parser/parse_type.h"
#include "parser/parse_utilcmd.h"
#include "partitioning/partbounds.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

static Node *
raw_default_of(ColumnDef *coldef)
{
	ListCell   *lc;

	if (coldef->raw_default)
		return coldef->raw_default;
	foreach(lc, coldef->constraints)
	{
		Constraint *con = (Constraint *) lfirst(lc);

		if (con->contype == CONSTR_DEFAULT)
			return con->raw_expr;
	}
	return NULL;
}

/*
 * Is the column's default volatile once transformed, coerced and planned
 * as StoreAttrDefault does it?  A volatile default cannot be stored as the
 * "missing" value, so ADD COLUMN rewrites the table.
 */
bool
column_default_is_volatile(ColumnDef *coldef)
{
	Node	   *raw = raw_default_of(coldef);
	ParseState *pstate;
	Node	   *expr;
	Oid			typid;
	int32		typmod;

	if (raw == NULL)
		return false;

	pstate = make_parsestate(NULL);
	/* parse analysis may scribble on its input: work on a copy */
	expr = transformExpr(pstate, copyObject(raw), EXPR_KIND_COLUMN_DEFAULT);
	typenameTypeIdAndMod(pstate, coldef->typeName, &typid, &typmod);
	expr = coerce_to_target_type(pstate, expr, exprType(expr),
								 typid, typmod,
								 COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);
	free_parsestate(pstate);
	if (expr == NULL)
		return false;			/* the server will reject it */
	expr = (Node *) expression_planner((Expr *) expr);
	return contain_volatile_functions(expr);
}

/*
 * ATColumnChangeRequiresRewrite's question: does the planned conversion
 * expression do anything but relabel the old column's value?
 */
static bool
conversion_rewrites(Node *expr, AttrNumber attnum)
{
	for (;;)
	{
		if (IsA(expr, Var) && ((Var *) expr)->varattno == attnum)
			return false;
		else if (IsA(expr, RelabelType))
			expr = (Node *) ((RelabelType *) expr)->arg;
		else if (IsA(expr, CoerceToDomain))
		{
			CoerceToDomain *d = (CoerceToDomain *) expr;

			if (DomainHasConstraints(d->resulttype))
				return true;
			expr = (Node *) d->arg;
		}
		else if (IsA(expr, FuncExpr))
		{
			FuncExpr   *f = (FuncExpr *) expr;

			/* timestamp <-> timestamptz is free when the zone is UTC */
			if ((f->funcid == F_TIMESTAMPTZ_TIMESTAMP ||
				 f->funcid == F_TIMESTAMP_TIMESTAMPTZ) &&
				!TimestampTimestampTzRequiresRewrite())
				expr = linitial(f->args);
			else
				return true;
		}
		else
			return true;
	}
}

/*
 * Would ALTER COLUMN TYPE (cmd) rewrite relid?  *is_known is false when the
 * server will reject the command anyway (no such column, no cast).
 */
bool
column_type_change_rewrites(Oid relid, AlterTableCmd *cmd, bool *is_known)
{
	ColumnDef  *def = (ColumnDef *) cmd->def;
	HeapTuple	tup;
	Form_pg_attribute att;
	AttrNumber	attnum;
	Oid			targettype;
	int32		targettypmod;
	ParseState *pstate;
	Node	   *transform;
	bool		rewrites;

	*is_known = false;
	tup = SearchSysCacheAttName(relid, cmd->name);
	if (!HeapTupleIsValid(tup))
		return false;
	att = (Form_pg_attribute) GETSTRUCT(tup);
	attnum = att->attnum;

	pstate = make_parsestate(NULL);
	typenameTypeIdAndMod(pstate, def->typeName, &targettype, &targettypmod);

	if (def->raw_default)
	{
		/* a USING clause refers to the table's columns */
		Relation	rel = relation_open(relid, AccessShareLock);
		ParseNamespaceItem *nsitem;

		nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock,
											   NULL, false, true);
		addNSItemToQuery(pstate, nsitem, false, true, true);
		transform = transformExpr(pstate, copyObject(def->raw_default),
								  EXPR_KIND_ALTER_COL_TRANSFORM);
		relation_close(rel, NoLock);
	}
	else
		transform = (Node *) makeVar(1, attnum, att->atttypid, att->atttypmod,
									 att->attcollation, 0);
	ReleaseSysCache(tup);

	transform = coerce_to_target_type(pstate, transform, exprType(transform),
									  targettype, targettypmod,
									  COERCION_ASSIGNMENT,
									  COERCE_IMPLICIT_CAST, -1);
	if (transform == NULL)
	{
		free_parsestate(pstate);
		return false;
	}
	assign_expr_collations(pstate, transform);
	free_parsestate(pstate);

	/* planning lets length-coercion support functions drop no-op casts */
	transform = (Node *) expression_planner((Expr *) transform);
	rewrites = conversion_rewrites(transform, attnum);
	*is_known = true;
	return rewrites;
}

/* The relation's validated CHECK constraints, prepared as the server does. */
static List *
validated_checks(Oid relid)
{
	Relation	conrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	List	   *checks = NIL;

	conrel = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_constraint_conrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(conrel, ConstraintRelidTypidNameIndexId, true,
							  NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);
		Datum		bin;
		bool		isnull;
		Node	   *expr;

		if (con->contype != CONSTRAINT_CHECK || !con->convalidated)
			continue;
		bin = heap_getattr(tup, Anum_pg_constraint_conbin,
						   RelationGetDescr(conrel), &isnull);
		if (isnull)
			continue;
		expr = stringToNode(TextDatumGetCString(bin));
		expr = eval_const_expressions(NULL, expr);
		expr = (Node *) canonicalize_qual((Expr *) expr, true);
		checks = list_concat(checks, make_ands_implicit((Expr *) expr));
	}
	systable_endscan(scan);
	table_close(conrel, AccessShareLock);
	return checks;
}

/*
 * Does a validated CHECK constraint prove the column NOT NULL, so that SET
 * NOT NULL skips its scan (PostgreSQL 12 and later)?
 */
bool
not_null_implied_by_checks(Oid relid, AttrNumber attnum)
{
	HeapTuple	tup;
	Form_pg_attribute att;
	NullTest   *test;
	List	   *checks;

	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	if (!HeapTupleIsValid(tup))
		return false;
	att = (Form_pg_attribute) GETSTRUCT(tup);
	test = makeNode(NullTest);
	test->arg = (Expr *) makeVar(1, attnum, att->atttypid, att->atttypmod,
								 att->attcollation, 0);
	test->nulltesttype = IS_NOT_NULL;
	test->argisrow = false;
	test->location = -1;
	ReleaseSysCache(tup);

	checks = validated_checks(relid);
	return checks != NIL &&
		predicate_implied_by(list_make1(test), checks, false);
}

/*
 * Do the partition's own constraints imply the bound it is attached with,
 * so that ATTACH PARTITION skips its validation scan?  When not, and
 * constraint_sql is given, it gets the CHECK expression that would.
 */
bool
partition_bound_implied_by_checks(Oid parentid, Oid partid,
								  PartitionBoundSpec *bound,
								  char **constraint_sql)
{
	Relation	parent = relation_open(parentid, AccessShareLock);
	Relation	part = relation_open(partid, AccessShareLock);
	ParseState *pstate = make_parsestate(NULL);
	PartitionBoundSpec *spec;
	List	   *quals;
	bool		implied;

	spec = transformPartitionBound(pstate, parent, copyObject(bound));
	quals = get_qual_from_partbound(parent, spec);
	quals = list_concat(quals, RelationGetPartitionQual(parent));
	quals = (List *) eval_const_expressions(NULL, (Node *) quals);
	quals = list_make1(make_ands_explicit(quals));
	quals = map_partition_varattnos(quals, 1, part, parent);

	implied = PartConstraintImpliedByRelConstraint(part, quals);
	if (!implied && constraint_sql != NULL)
		*constraint_sql =
			deparse_expression((Node *) linitial(quals),
							   deparse_context_for(RelationGetRelationName(part),
												   partid),
							   false, false);

	free_parsestate(pstate);
	relation_close(part, NoLock);
	relation_close(parent, NoLock);
	return implied;
}

/* Does this transaction hold a lock on relid that blocks writes? */
bool
relation_write_locked_by_me(Oid relid)
{
	LOCKTAG		tag;
	LOCKMODE	mode;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	for (mode = ShareLock; mode <= AccessExclusiveLock; mode++)
		if (mg_lock_held_by_me(&tag, mode))
			return true;
	return false;
}
