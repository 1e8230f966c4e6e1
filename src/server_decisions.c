/*-------------------------------------------------------------------------
 *
 * server_decisions.c
 *		The questions ALTER TABLE asks itself, answered the way it answers
 *		them, without executing anything: is a column default volatile,
 *		does a type change rewrite the table, does it rebuild an index, do
 *		validated constraints spare a verification scan.
 *
 * The server answers some of these by planning or evaluating expressions
 * (expression_planner, eval_const_expressions, evaluate_expr on partition
 * bounds), which runs functions a user wrote: an IMMUTABLE function is
 * folded, a partition bound is computed.  migguard may not do that (it
 * runs in a superuser's session as often as not), so it decides from the
 * catalog and the expression's shape, and where it cannot tell it is
 * conservative: it assumes the long work happens.  The only functions it
 * calls are built-in length-coercion support functions (the same planner
 * support requests the server makes; they read constants, nothing else).
 *
 * Nothing here takes a lock: a relation whose descriptor is needed is read
 * from the relation cache as it is.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "rules_int.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/partition.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/supportnodes.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
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
#include "utils/relcache.h"
#include "utils/resowner.h"
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

bool
column_has_default(ColumnDef *coldef)
{
	return raw_default_of(coldef) != NULL;
}

/*
 * Analysis that may raise an error (an unknown type or function in a
 * default, a bound that does not parse) runs in a subtransaction that is
 * always rolled back: the error is the server's to raise, with its own
 * wording and position, when the statement runs.  The statement is then
 * not judged (decisions_refused()).  A cancel is passed on.
 */
static bool refused = false;

void
decisions_reset(void)
{
	refused = false;
}

bool
decisions_refused(void)
{
	return refused;
}

typedef void (*QuietFn) (void *arg);

static bool
run_quietly(QuietFn fn, void *arg)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	if (edata != NULL && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		ReThrowError(edata);
	if (edata != NULL)
		refused = true;
	return edata == NULL;
}

typedef struct DefaultQuestion
{
	Node	   *raw;
	bool		volatile_default;
} DefaultQuestion;

static void
default_fn(void *arg)
{
	DefaultQuestion *q = (DefaultQuestion *) arg;
	ParseState *pstate = make_parsestate(NULL);
	Node	   *expr;

	/* parse analysis may scribble on its input: work on a copy */
	expr = transformExpr(pstate, copyObject(q->raw), EXPR_KIND_COLUMN_DEFAULT);
	free_parsestate(pstate);
	q->volatile_default = contain_volatile_functions(expr);
}

/*
 * Is the column's default volatile, as StoreAttrDefault judges it?  A
 * volatile default cannot be stored once as the "missing" value, so ADD
 * COLUMN rewrites the table.  The transformed expression is tested without
 * being planned: planning would fold user functions.  The declared
 * volatility is what planning keeps, so the answer is the same.
 */
bool
column_default_is_volatile(ColumnDef *coldef)
{
	DefaultQuestion q;

	q.raw = raw_default_of(coldef);
	q.volatile_default = false;
	if (q.raw == NULL || !run_quietly(default_fn, &q))
		return false;
	return q.volatile_default;
}

/*
 * A built-in length coercion (varchar(n), numeric(p,s), timestamp(p), ...)
 * that its planner support function says is a no-op, reduced to its
 * argument; anything else unchanged.  Only built-in functions with built-in
 * support functions are asked.
 */
static Node *
simplify_builtin_coercion(FuncExpr *f)
{
	RegProcedure support;
	SupportRequestSimplify req;
	Node	   *result;

	if (f->funcid >= FirstNormalObjectId)
		return NULL;
	support = get_func_support(f->funcid);
	if (!OidIsValid(support) || support >= FirstNormalObjectId)
		return NULL;
	req.type = T_SupportRequestSimplify;
	req.root = NULL;
	req.fcall = f;
	result = (Node *) DatumGetPointer(OidFunctionCall1(support,
													   PointerGetDatum(&req)));
	return result;
}

/*
 * ATColumnChangeRequiresRewrite's question: does the conversion expression
 * do anything but relabel the old column's value?
 */
static bool
conversion_rewrites(Node *expr, AttrNumber attnum)
{
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
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
			Node	   *simpler;

			/* timestamp <-> timestamptz is free when the zone is UTC */
			if ((f->funcid == F_TIMESTAMPTZ_TIMESTAMP ||
				 f->funcid == F_TIMESTAMP_TIMESTAMPTZ) &&
				!TimestampTimestampTzRequiresRewrite())
				expr = linitial(f->args);
			else if ((simpler = simplify_builtin_coercion(f)) != NULL &&
					 simpler != expr)
				expr = simpler;
			else
				return true;
		}
		else
			return true;
	}
}

/* Is a USING clause just the column itself, perhaps cast to the new type? */
static bool
using_is_the_column(Node *expr, const char *colname)
{
	if (expr != NULL && IsA(expr, TypeCast))
		expr = ((TypeCast *) expr)->arg;
	if (expr == NULL || !IsA(expr, ColumnRef))
		return false;
	return list_length(((ColumnRef *) expr)->fields) == 1 &&
		IsA(linitial(((ColumnRef *) expr)->fields), String) &&
		strcmp(strVal(linitial(((ColumnRef *) expr)->fields)), colname) == 0;
}

/*
 * What ALTER COLUMN TYPE (cmd) does to relid's column.  Returns false when
 * the server will reject the command anyway (no such column, no cast).
 * A USING clause other than the column itself is taken to rewrite: its
 * value is computed per row, which is what a rewrite is.
 */
static bool column_type_change_inner(Oid relid, AlterTableCmd *cmd,
									 TypeChange *change);

typedef struct TypeQuestion
{
	Oid			relid;
	AlterTableCmd *cmd;
	TypeChange *change;
	bool		known;
} TypeQuestion;

static void
type_fn(void *arg)
{
	TypeQuestion *q = (TypeQuestion *) arg;

	q->known = column_type_change_inner(q->relid, q->cmd, q->change);
}

bool
column_type_change(Oid relid, AlterTableCmd *cmd, TypeChange *change)
{
	TypeQuestion q;

	q.relid = relid;
	q.cmd = cmd;
	q.change = change;
	q.known = false;
	memset(change, 0, sizeof(*change));
	return run_quietly(type_fn, &q) && q.known;
}

static bool
column_type_change_inner(Oid relid, AlterTableCmd *cmd, TypeChange *change)
{
	ColumnDef  *def = (ColumnDef *) cmd->def;
	HeapTuple	tup;
	Form_pg_attribute att;
	ParseState *pstate;
	Node	   *transform;

	memset(change, 0, sizeof(*change));
	tup = SearchSysCacheAttName(relid, cmd->name);
	if (!HeapTupleIsValid(tup))
		return false;
	att = (Form_pg_attribute) GETSTRUCT(tup);
	change->attnum = att->attnum;
	change->oldtype = att->atttypid;
	change->oldtypmod = att->atttypmod;
	change->oldcoll = att->attcollation;
	transform = (Node *) makeVar(1, att->attnum, att->atttypid, att->atttypmod,
								 att->attcollation, 0);
	ReleaseSysCache(tup);

	pstate = make_parsestate(NULL);
	typenameTypeIdAndMod(pstate, def->typeName, &change->newtype,
						 &change->newtypmod);
	change->newcoll = def->collClause ?
		LookupCollation(pstate, def->collClause->collname, -1) :
		get_typcollation(change->newtype);

	if (def->raw_default && !using_is_the_column(def->raw_default, cmd->name))
	{
		free_parsestate(pstate);
		change->rewrites = true;
		change->by_using = true;
		return true;
	}

	transform = coerce_to_target_type(pstate, transform, exprType(transform),
									  change->newtype, change->newtypmod,
									  COERCION_ASSIGNMENT,
									  COERCE_IMPLICIT_CAST, -1);
	if (transform == NULL)
	{
		free_parsestate(pstate);
		return false;
	}
	assign_expr_collations(pstate, transform);
	free_parsestate(pstate);
	change->rewrites = conversion_rewrites(transform, change->attnum);
	return true;
}

/* Does the stored expression tree (pg_index.indexprs/indpred) use attnum? */
static bool
stored_expr_uses(HeapTuple indextup, int attno, AttrNumber attnum)
{
	bool		isnull;
	Datum		d = SysCacheGetAttr(INDEXRELID, indextup, attno, &isnull);
	Bitmapset  *attrs = NULL;

	if (isnull)
		return false;
	pull_varattnos(stringToNode(TextDatumGetCString(d)), 1, &attrs);
	return bms_is_member(attnum - FirstLowInvalidHeapAttributeNumber, attrs);
}

/*
 * The indexes a type change without a rewrite rebuilds: those whose
 * operator class or collation changes with the column's type (TryReuseIndex
 * and CheckIndexCompatible keep the others), and, conservatively, those
 * whose expressions or predicate use the column when its type or collation
 * changes.  Returns a list of index OIDs.
 */
List *
indexes_rebuilt_by_type_change(Oid relid, const TypeChange *change)
{
	List	   *rebuilt = NIL;
	ListCell   *lc;

	foreach(lc, relfacts_indexes(relid))
	{
		Oid			indexid = lfirst_oid(lc);
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexid));
		Form_pg_index idx;
		bool		rebuild = false;
		bool		isnull;
		oidvector  *indclass;
		oidvector  *indcoll;
		Oid			am = relfacts_am(indexid);
		int			i;

		CHECK_FOR_INTERRUPTS();
		if (!HeapTupleIsValid(tup))
			continue;
		idx = (Form_pg_index) GETSTRUCT(tup);
		indclass = (oidvector *) DatumGetPointer(SysCacheGetAttr(INDEXRELID, tup,
																 Anum_pg_index_indclass, &isnull));
		indcoll = (oidvector *) DatumGetPointer(SysCacheGetAttr(INDEXRELID, tup,
																Anum_pg_index_indcollation, &isnull));
		for (i = 0; i < idx->indnkeyatts && !rebuild; i++)
		{
			Oid			oldopc = indclass->values[i];
			Oid			newopc = oldopc;
			Oid			oldcoll = indcoll->values[i];
			Oid			newcoll = oldcoll;

			if (idx->indkey.values[i] != change->attnum)
				continue;
			/* the definition is re-read: a default opclass is chosen again */
			if (OidIsValid(am) && GetDefaultOpClass(change->oldtype, am) == oldopc)
				newopc = GetDefaultOpClass(change->newtype, am);
			if (oldcoll == change->oldcoll)
				newcoll = change->newcoll;
			rebuild = newopc != oldopc || newcoll != oldcoll;
		}
		if (!rebuild &&
			(change->newtype != change->oldtype || change->newcoll != change->oldcoll) &&
			(stored_expr_uses(tup, Anum_pg_index_indexprs, change->attnum) ||
			 stored_expr_uses(tup, Anum_pg_index_indpred, change->attnum)))
			rebuild = true;
		ReleaseSysCache(tup);
		if (rebuild)
			rebuilt = lappend_oid(rebuilt, indexid);
	}
	return rebuilt;
}

/*
 * The relation's CHECK constraints, as ConstraintImpliedByRelConstraint
 * collects them, but without folding constants (which would run the
 * functions they call): validated ones only, each split into its ANDed
 * parts.  With attnum > 0, only the names of those naming that column are
 * returned instead (a type change re-adds, and so re-verifies, those).
 */
static List *
check_constraints(Oid relid, AttrNumber attnum, bool validated_only)
{
	Relation	conrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	List	   *result = NIL;

	conrel = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_constraint_conrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(conrel, ConstraintRelidTypidNameIndexId, true,
							  NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);
		Datum		d;
		bool		isnull;

		if (con->contype != CONSTRAINT_CHECK ||
			(validated_only && !con->convalidated))
			continue;
		if (attnum > 0)
		{
			ArrayType  *arr;
			int16	   *keys;
			int			i;

			d = heap_getattr(tup, Anum_pg_constraint_conkey,
							 RelationGetDescr(conrel), &isnull);
			if (isnull)
				continue;
			arr = DatumGetArrayTypeP(d);
			keys = (int16 *) ARR_DATA_PTR(arr);
			for (i = 0; i < ARR_DIMS(arr)[0]; i++)
				if (keys[i] == attnum)
				{
					result = lappend(result, pstrdup(NameStr(con->conname)));
					break;
				}
			continue;
		}
		d = heap_getattr(tup, Anum_pg_constraint_conbin,
						 RelationGetDescr(conrel), &isnull);
		if (isnull)
			continue;
		result = list_concat(result,
							 make_ands_implicit((Expr *) canonicalize_qual((Expr *) stringToNode(TextDatumGetCString(d)),
																		   true)));
	}
	systable_endscan(scan);
	table_close(conrel, AccessShareLock);
	return result;
}

List *
validated_checks_on_column(Oid relid, AttrNumber attnum)
{
	return check_constraints(relid, attnum, true);
}

/* The NOT NULL columns of relid as IS NOT NULL tests, plus its CHECKs. */
static List *
known_constraints(Oid relid)
{
	List	   *known = check_constraints(relid, 0, true);
	HeapTuple	ctup;
	int			natts;
	int			i;

	ctup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(ctup))
		return known;
	natts = ((Form_pg_class) GETSTRUCT(ctup))->relnatts;
	ReleaseSysCache(ctup);
	for (i = 1; i <= natts; i++)
	{
		HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid),
										  Int16GetDatum(i));
		Form_pg_attribute att;

		if (!HeapTupleIsValid(tup))
			continue;
		att = (Form_pg_attribute) GETSTRUCT(tup);
		if (att->attnotnull && !att->attisdropped)
		{
			NullTest   *test = makeNode(NullTest);

			test->arg = (Expr *) makeVar(1, i, att->atttypid, att->atttypmod,
										 att->attcollation, 0);
			test->nulltesttype = IS_NOT_NULL;
			test->argisrow = false;
			test->location = -1;
			known = lappend(known, test);
		}
		ReleaseSysCache(tup);
	}
	return known;
}

/*
 * Does a validated CHECK constraint prove the column NOT NULL, so that SET
 * NOT NULL skips its scan?  The same weak implication test as the server's
 * NotNullImpliedByRelConstraints: CHECK (n > 0) does not prove it (a CHECK
 * passes on NULL), CHECK (n IS NOT NULL) does.
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

	checks = check_constraints(relid, 0, true);
	return checks != NIL &&
		predicate_implied_by(list_make1(test), checks, true);
}

/*
 * PostgreSQL's deparsers (pg_get_indexdef, pg_get_constraintdef,
 * deparse_context_for) open the table with ACCESS SHARE, which would stay
 * until the end of the transaction and set up a lock upgrade for the very
 * statement being judged.  So a definition is deparsed inside a
 * subtransaction that is rolled back, which releases the lock, and only
 * when the lock is free at once (no waiting behind anyone); otherwise the
 * caller gets NULL and words its hint without the definition.
 */
typedef char *(*DeparseFn) (void *arg);

typedef struct DeparseQuestion
{
	Oid			relid;
	DeparseFn	fn;
	void	   *arg;
	char	   *text;
} DeparseQuestion;

static void
deparse_fn(void *arg)
{
	DeparseQuestion *q = (DeparseQuestion *) arg;

	if (ConditionalLockRelationOid(q->relid, AccessShareLock))
		q->text = q->fn(q->arg);
}

static char *
deparse_released(Oid relid, DeparseFn fn, void *arg)
{
	DeparseQuestion q;
	bool		was_refused = refused;

	q.relid = relid;
	q.fn = fn;
	q.arg = arg;
	q.text = NULL;
	if (!run_quietly(deparse_fn, &q))
	{
		refused = was_refused;	/* a hint without the definition */
		return NULL;
	}
	return q.text;
}

static char *
indexdef_fn(void *arg)
{
	return pg_get_indexdef_string(*(Oid *) arg);
}

static char *
constraintdef_fn(void *arg)
{
	return TextDatumGetCString(DirectFunctionCall1(pg_get_constraintdef,
												   ObjectIdGetDatum(*(Oid *) arg)));
}

/* "CREATE INDEX name ON t USING btree (c)", or NULL (see above). */
char *
index_definition(Oid indexid)
{
	Oid			relid = IndexGetRelation(indexid, true);

	if (!OidIsValid(relid))
		return NULL;
	return deparse_released(relid, indexdef_fn, &indexid);
}

/* "CHECK ((length(c) < 100))", or NULL (see above). */
char *
constraint_definition(Oid conid)
{
	HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conid));
	Oid			relid;

	if (!HeapTupleIsValid(tup))
		return NULL;
	relid = ((Form_pg_constraint) GETSTRUCT(tup))->conrelid;
	ReleaseSysCache(tup);
	return deparse_released(relid, constraintdef_fn, &conid);
}

typedef struct BoundDeparse
{
	Node	   *expr;
	const char *relname;
	Oid			relid;
} BoundDeparse;

static char *
bound_fn(void *arg)
{
	BoundDeparse *b = (BoundDeparse *) arg;

	return deparse_expression(b->expr, deparse_context_for(b->relname, b->relid),
							  false, false);
}

/*
 * Can the bound be transformed without running anything?  The server
 * computes every bound value that is not a literal (evaluate_expr), and
 * casts a literal with the key type's cast functions, which a user may
 * have written.  Literals of a built-in key type, plain or cast to that
 * very type, and MINVALUE/MAXVALUE are safe.
 */
static bool
bound_value_safe(Node *value, Oid keytype)
{
	if (IsA(value, ColumnRef))		/* MINVALUE, MAXVALUE */
		return list_length(((ColumnRef *) value)->fields) == 1;
	if (IsA(value, TypeCast))
	{
		TypeCast   *tc = (TypeCast *) value;
		Oid			typid = LookupTypeNameOid(NULL, tc->typeName, true);

		if (typid != keytype || !IsA(tc->arg, A_Const))
			return false;
		value = tc->arg;
	}
	return IsA(value, A_Const) && keytype < FirstNormalObjectId &&
		get_typtype(keytype) == TYPTYPE_BASE;
}

static bool
bound_safe(Relation parent, PartitionBoundSpec *bound)
{
	PartitionKey key = RelationGetPartitionKey(parent);
	List	   *lists[3];
	int			l;

	if (bound->is_default || key == NULL)
		return bound->is_default;
	lists[0] = bound->listdatums;
	lists[1] = bound->lowerdatums;
	lists[2] = bound->upperdatums;
	for (l = 0; l < 3; l++)
	{
		ListCell   *lc;
		int			col = 0;

		foreach(lc, lists[l])
		{
			Node	   *value = (Node *) lfirst(lc);
			Oid			keytype = get_partition_col_typid(key,
														  key->strategy == PARTITION_STRATEGY_LIST ? 0 :
														  Min(col, key->partnatts - 1));

			if (!bound_value_safe(value, keytype))
				return false;
			col++;
		}
	}
	return true;
}

typedef struct BoundQuestion
{
	Relation	parent;
	Relation	part;
	PartitionBoundSpec *bound;
	List	   *quals;
} BoundQuestion;

/* The partition constraint the bound gives, in the partition's columns. */
static void
bound_quals_fn(void *arg)
{
	BoundQuestion *q = (BoundQuestion *) arg;
	ParseState *pstate = make_parsestate(NULL);
	PartitionBoundSpec *spec;
	List	   *quals;

	spec = transformPartitionBound(pstate, q->parent, copyObject(q->bound));
	quals = get_qual_from_partbound(q->parent, spec);
	quals = list_concat(quals, RelationGetPartitionQual(q->parent));
	quals = list_make1(make_ands_explicit(quals));
	q->quals = map_partition_varattnos(quals, 1, q->part, q->parent);
	free_parsestate(pstate);
}

/*
 * Do the partition's own validated constraints imply the bound it is
 * attached with, so that ATTACH PARTITION skips its validation scan?  When
 * not, and constraint_sql is given, it gets the CHECK expression that
 * would, or NULL when the bound cannot be computed without running code
 * (then the scan is assumed).
 */
bool
partition_bound_implied_by_checks(Oid parentid, Oid partid,
								  PartitionBoundSpec *bound,
								  char **constraint_sql)
{
	Relation	parent = RelationIdGetRelation(parentid);
	Relation	part = RelationIdGetRelation(partid);
	bool		implied = false;

	if (constraint_sql)
		*constraint_sql = NULL;
	if (!RelationIsValid(parent) || !RelationIsValid(part) ||
		parent->rd_rel->relkind != RELKIND_PARTITIONED_TABLE ||
		bound->strategy == PARTITION_STRATEGY_HASH ||
		!bound_safe(parent, bound))
	{
		if (RelationIsValid(parent))
			RelationClose(parent);
		if (RelationIsValid(part))
			RelationClose(part);
		return false;
	}
	else
	{
		BoundQuestion q;

		q.parent = parent;
		q.part = part;
		q.bound = bound;
		q.quals = NIL;
		if (run_quietly(bound_quals_fn, &q))
		{
			implied = predicate_implied_by(q.quals, known_constraints(partid), true);
			if (!implied && constraint_sql != NULL)
			{
				BoundDeparse b;

				b.expr = (Node *) linitial(q.quals);
				b.relname = RelationGetRelationName(part);
				b.relid = partid;
				*constraint_sql = deparse_released(partid, bound_fn, &b);
			}
		}
	}
	RelationClose(part);
	RelationClose(parent);
	return implied;
}
