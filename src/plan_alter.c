/*-------------------------------------------------------------------------
 *
 * plan_alter.c
 *		The plan of an ALTER TABLE, decided as tablecmds.c decides it.
 *
 * Lock mode: AlterTableGetLockLevel() itself, over the raw subcommands,
 * exactly as ProcessUtilitySlow asks it before AlterTableLookupRelation.
 * Then per subcommand what ATPrepCmd / ATExecCmd queue for phase 3
 * (ATRewriteTables): a rewrite (AT_REWRITE_DEFAULT_VAL, _COLUMN_REWRITE,
 * _ALTER_PERSISTENCE, _ACCESS_METHOD), a verification scan (NOT NULL via
 * verify_new_notnull, CHECK and foreign key constraints, the partition
 * constraint of ATTACH and the default partition's), index builds (new
 * constraints, rebuilds after a type change, indexes ATTACH adds to the
 * partition), the move of SET TABLESPACE; recursion to inheritors unless
 * ONLY.  A scan the server folds into a rewrite of the same relation is
 * not counted twice.
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
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/tablecmds.h"
#include "commands/tablespace.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#if PG_VERSION_NUM >= 150000
#include "access/tableam.h"
#endif

/* What one ALTER TABLE statement has seen so far. */
typedef struct AlterState
{
	StmtPlan   *plan;
	AlterTableStmt *stmt;
	Oid			relid;
	char		relkind;
	PlanRel    *target;
	bool		recurse;		/* not ONLY, and there are inheritors */
	List	   *added;			/* ColumnDef of columns added here */
} AlterState;

bool
is_serial_type(TypeName *typeName)
{
	const char *name;

	if (typeName == NULL || list_length(typeName->names) > 2 ||
		typeName->arrayBounds != NIL)
		return false;
	if (list_length(typeName->names) == 2 &&
		strcmp(strVal(linitial(typeName->names)), "pg_catalog") != 0)
		return false;
	name = strVal(llast(typeName->names));
	return strcmp(name, "serial") == 0 || strcmp(name, "serial4") == 0 ||
		strcmp(name, "bigserial") == 0 || strcmp(name, "serial8") == 0 ||
		strcmp(name, "smallserial") == 0 || strcmp(name, "serial2") == 0;
}

static Constraint *
column_constraint(ColumnDef *coldef, ConstrType type)
{
	ListCell   *lc;

	foreach(lc, coldef->constraints)
		if (((Constraint *) lfirst(lc))->contype == type)
			return (Constraint *) lfirst(lc);
	return NULL;
}

/* Why ADD COLUMN rewrites the table (ATExecAddColumn), or NULL. */
const char *
add_column_rewrite_reason(ColumnDef *coldef)
{
	Oid			typid;
	Constraint *gen = column_constraint(coldef, CONSTR_GENERATED);

	if (is_serial_type(coldef->typeName))
		return "A serial column's default, nextval(), is volatile: every existing row gets its own value, so the table is rewritten";
	if (coldef->identity || column_constraint(coldef, CONSTR_IDENTITY))
		return "An identity column gives every existing row its own value, so the table is rewritten";
	if ((gen && mg_generated_is_stored(gen)) ||
		coldef->generated == ATTRIBUTE_GENERATED_STORED)
		return "A stored generated column is computed for every existing row, so the table is rewritten";
	typid = LookupTypeNameOid(NULL, coldef->typeName, true);
	if (OidIsValid(typid) && get_typtype(typid) == TYPTYPE_DOMAIN &&
		DomainHasConstraints(typid))
		return "The column's type is a domain with constraints, which ALTER TABLE checks by rewriting the table";
	if (OidIsValid(typid) && column_default_is_volatile(coldef))
		return "The column's default is volatile, so it cannot be stored once as the value of every existing row: the table is rewritten";
	return NULL;
}

static PlanEffect *
effect(AlterState *st, PlanEffectKind kind, const char *rule, PlanRel *rel,
	   bool recurses, AlterTableCmd *cmd, char *what, const char *subject)
{
	PlanEffect *e = plan_add_effect(st->plan, kind, rule, rel ? rel : st->target,
									recurses, (Node *) cmd, what);

	e->subject = subject ? pstrdup(subject) : NULL;
	return e;
}

static ColumnDef *
added_here(AlterState *st, const char *colname)
{
	ListCell   *lc;

	foreach(lc, st->added)
		if (strcmp(((ColumnDef *) lfirst(lc))->colname, colname) == 0)
			return (ColumnDef *) lfirst(lc);
	return NULL;
}

/* Would SET NOT NULL on this existing column scan (ATExecSetNotNull)? */
static bool
not_null_needs_scan(Oid relid, const char *colname)
{
	HeapTuple	tup = SearchSysCacheAttName(relid, colname);
	AttrNumber	attnum;
	bool		already;

	if (!HeapTupleIsValid(tup))
		return false;
	attnum = ((Form_pg_attribute) GETSTRUCT(tup))->attnum;
	already = ((Form_pg_attribute) GETSTRUCT(tup))->attnotnull;
	ReleaseSysCache(tup);
	return !already && !not_null_implied_by_checks(relid, attnum);
}

/* The key columns of an existing index, by name. */
static List *
index_columns(Oid indexid)
{
	HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexid));
	Form_pg_index idx;
	List	   *cols = NIL;
	int			i;

	if (!HeapTupleIsValid(tup))
		return NIL;
	idx = (Form_pg_index) GETSTRUCT(tup);
	for (i = 0; i < idx->indnkeyatts; i++)
		if (idx->indkey.values[i] > 0)
			cols = lappend(cols, makeString(get_attname(idx->indrelid,
														idx->indkey.values[i], false)));
	ReleaseSysCache(tup);
	return cols;
}

/* A foreign key locks the table it references with SHARE ROW EXCLUSIVE. */
static void
lock_referenced(AlterState *st, Constraint *con)
{
	Oid			refid = RangeVarGetRelid(con->pktable, NoLock, true);

	if (OidIsValid(refid))
		plan_add_rel(st->plan, refid, ShareRowExclusiveLock, "referenced",
					 InvalidOid);
}

/* ADD COLUMN: ATExecAddColumn, and the constraints written inside it. */
static void
plan_add_column(AlterState *st, AlterTableCmd *cmd)
{
	ColumnDef  *coldef = (ColumnDef *) cmd->def;
	const char *reason = add_column_rewrite_reason(coldef);
	ListCell   *lc;

	st->added = lappend(st->added, coldef);
	if (reason)
		effect(st, EFFECT_REWRITE, "add_column_rewrite", NULL, st->recurse, cmd,
			   psprintf("ADD COLUMN %s: %s", quote_identifier(coldef->colname), reason),
			   coldef->colname);

	foreach(lc, coldef->constraints)
	{
		Constraint *con = (Constraint *) lfirst(lc);

		switch (con->contype)
		{
			case CONSTR_PRIMARY:
			case CONSTR_UNIQUE:
				effect(st, EFFECT_INDEX_BUILD, "inline_column_constraint", NULL,
					   st->relkind == RELKIND_PARTITIONED_TABLE, cmd,
					   psprintf("ADD COLUMN %s %s: a unique index is built",
								quote_identifier(coldef->colname),
								con->contype == CONSTR_PRIMARY ? "PRIMARY KEY" : "UNIQUE"),
					   coldef->colname);
				break;
			case CONSTR_CHECK:
				effect(st, EFFECT_SCAN, "inline_column_constraint", NULL,
					   st->recurse && !con->is_no_inherit, cmd,
					   psprintf("ADD COLUMN %s CHECK: every row is verified",
								quote_identifier(coldef->colname)),
					   coldef->colname);
				break;
			case CONSTR_FOREIGN:
				lock_referenced(st, con);
				effect(st, EFFECT_SCAN, "inline_column_constraint", NULL,
					   st->relkind == RELKIND_PARTITIONED_TABLE, cmd,
					   psprintf("ADD COLUMN %s REFERENCES: every row is validated against the referenced table",
								quote_identifier(coldef->colname)),
					   coldef->colname);
				break;
			default:
				break;
		}
	}
}

/* ALTER COLUMN TYPE: ATPrepAlterColumnType, then ATPostAlterTypeCleanup. */
static void
plan_alter_type(AlterState *st, AlterTableCmd *cmd)
{
	TypeChange	change;
	List	   *indexes;
	List	   *checks;
	ListCell   *lc;

	if (!column_type_change(st->relid, cmd, &change))
		return;					/* the server will refuse it */
	if (change.rewrites)
	{
		effect(st, EFFECT_REWRITE, "alter_type_rewrite", NULL, st->recurse, cmd,
			   psprintf("ALTER COLUMN %s TYPE: %s", quote_identifier(cmd->name),
						change.by_using ?
						"the USING expression is computed for every row" :
						"the conversion is not binary compatible"),
			   cmd->name);
		return;
	}

	/* no rewrite: indexes whose opclass or collation changes are rebuilt */
	indexes = indexes_rebuilt_by_type_change(st->relid, &change);
	foreach(lc, indexes)
		effect(st, EFFECT_INDEX_BUILD, "alter_type_rebuild", NULL, st->recurse, cmd,
			   psprintf("ALTER COLUMN %s TYPE: index %s rebuilt, its operator class or collation changes",
						quote_identifier(cmd->name),
						quote_identifier(get_rel_name(lfirst_oid(lc)))),
			   cmd->name)->objid = lfirst_oid(lc);
	/* ... and CHECK constraints naming the column are added again, verified */
	checks = validated_checks_on_column(st->relid, change.attnum);
	foreach(lc, checks)
		effect(st, EFFECT_SCAN, "alter_type_rebuild", NULL, st->recurse, cmd,
			   psprintf("ALTER COLUMN %s TYPE: CHECK constraint %s verified again",
						quote_identifier(cmd->name),
						quote_identifier((char *) lfirst(lc))),
			   cmd->name)->objid =
			get_relation_constraint_oid(st->relid, (char *) lfirst(lc), true);
}

static void
plan_set_not_null(AlterState *st, AlterTableCmd *cmd)
{
	ColumnDef  *added = added_here(st, cmd->name);

	if (added)
	{
		/* a default stored as the missing value is checked row by row */
		if (!column_has_default(added))
			return;				/* every row is NULL: fails at the first */
	}
	else if (!not_null_needs_scan(st->relid, cmd->name))
		return;
	effect(st, EFFECT_SCAN, "set_not_null_scan", NULL, st->recurse, cmd,
		   psprintf("SET NOT NULL on %s: every row is verified",
					quote_identifier(cmd->name)),
		   cmd->name);
}

static void
plan_add_constraint(AlterState *st, AlterTableCmd *cmd)
{
	Constraint *con = (Constraint *) cmd->def;
	bool		partitioned = st->relkind == RELKIND_PARTITIONED_TABLE;
	ListCell   *lc;
	List	   *keys;

	switch (con->contype)
	{
		case CONSTR_CHECK:
			if (!con->skip_validation)
				effect(st, EFFECT_SCAN, "constraint_validating", NULL,
					   st->recurse && !con->is_no_inherit, cmd,
					   pstrdup("ADD CHECK: every row is verified"), con->conname);
			break;
		case CONSTR_FOREIGN:
			{
				lock_referenced(st, con);
				if (!con->skip_validation)
					effect(st, EFFECT_SCAN, "constraint_validating", NULL,
						   partitioned, cmd,
						   pstrdup("ADD FOREIGN KEY: every row is validated against the referenced table"),
						   con->conname);
				break;
			}
		case CONSTR_PRIMARY:
		case CONSTR_UNIQUE:
			if (con->indexname == NULL)
				effect(st, EFFECT_INDEX_BUILD, "unique_without_index", NULL,
					   partitioned, cmd,
					   psprintf("ADD %s: a unique index is built",
								con->contype == CONSTR_PRIMARY ? "PRIMARY KEY" : "UNIQUE"),
					   con->conname);
			if (con->contype != CONSTR_PRIMARY)
				break;
			/* a primary key sets NOT NULL on its columns: each may scan */
			keys = con->indexname ?
				index_columns(get_relname_relid(con->indexname,
												get_rel_namespace(st->relid))) :
				con->keys;
			foreach(lc, keys)
			{
				char	   *col = strVal(lfirst(lc));

				if (added_here(st, col) || !not_null_needs_scan(st->relid, col))
					continue;
				effect(st, EFFECT_SCAN, "primary_key_nullable", NULL, st->recurse, cmd,
					   psprintf("ADD PRIMARY KEY: column %s is nullable, every row is verified NOT NULL",
								quote_identifier(col)),
					   col);
			}
			break;
		case CONSTR_EXCLUSION:
			effect(st, EFFECT_INDEX_BUILD, "exclusion_constraint", NULL,
				   partitioned, cmd, pstrdup("ADD EXCLUDE: its index is built"),
				   con->conname);
			break;
		default:
			break;
	}
}

/* Is index unique, and valid (usable)? */
static bool
index_flags(Oid indexid, bool *unique)
{
	HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexid));
	bool		valid;

	if (!HeapTupleIsValid(tup))
		return false;
	*unique = ((Form_pg_index) GETSTRUCT(tup))->indisunique;
	valid = ((Form_pg_index) GETSTRUCT(tup))->indisvalid;
	ReleaseSysCache(tup);
	return valid;
}

/*
 * An index on relid whose definition after "USING" reads like this one's
 * (CompareIndexInfo's question, asked of the deparsed definitions, which
 * name columns rather than number them).
 */
static bool
has_matching_index(Oid relid, const char *using_part, bool unique)
{
	ListCell   *lc;

	foreach(lc, relfacts_indexes(relid))
	{
		bool		its_unique;
		char	   *def;
		char	   *u;

		if (!index_flags(lfirst_oid(lc), &its_unique) || its_unique != unique)
			continue;
		def = index_definition(lfirst_oid(lc));
		u = def ? strstr(def, " USING ") : NULL;
		if (u && strcmp(u, using_part) == 0)
			return true;
	}
	return false;
}

/*
 * ATTACH PARTITION (ATExecAttachPartition): the partition is scanned unless
 * its constraints imply the bound, the default partition is scanned, and
 * the parent's indexes the partition lacks are built on it
 * (AttachPartitionEnsureIndexes).
 */
static void
plan_attach(AlterState *st, AlterTableCmd *cmd)
{
	PartitionCmd *pcmd = (PartitionCmd *) cmd->def;
	Oid			partid = RangeVarGetRelid(pcmd->name, NoLock, true);
	Oid			defaultid;
	PlanRel    *part;
	char	   *check = NULL;
	bool		subparted;
	ListCell   *lc;

	if (st->relkind != RELKIND_PARTITIONED_TABLE || !OidIsValid(partid) ||
		pcmd->bound == NULL)
		return;
	if (!plan_may_own(partid))
	{
		st->plan->skipped = true;
		st->plan->skip_reason = "must be owner of the partition";
		return;
	}
	subparted = get_rel_relkind(partid) == RELKIND_PARTITIONED_TABLE;
	part = plan_add_rel(st->plan, partid, AccessExclusiveLock, "attached partition",
						st->relid);
	if (!partition_bound_implied_by_checks(st->relid, partid, pcmd->bound, &check))
	{
		PlanEffect *e = effect(st, EFFECT_SCAN, "attach_partition_scan", part,
							   subparted, cmd,
							   pstrdup("ATTACH PARTITION: every row of the partition is checked against the bound"),
							   NULL);

		e->subject = check;
	}

	defaultid = get_default_partition_oid(st->relid);
	if (OidIsValid(defaultid) && defaultid != partid && !pcmd->bound->is_default)
	{
		PlanRel    *def = plan_add_rel(st->plan, defaultid, AccessExclusiveLock,
									   "default partition", st->relid);

		effect(st, EFFECT_SCAN, "attach_partition_scan", def,
			   get_rel_relkind(defaultid) == RELKIND_PARTITIONED_TABLE, cmd,
			   pstrdup("ATTACH PARTITION: every row of the default partition is checked: none may fall in the new bound"),
			   "default");
	}

	/* the parent's indexes the partition lacks are built on it */
	foreach(lc, relfacts_indexes(st->relid))
	{
		Oid			indexid = lfirst_oid(lc);
		bool		unique = false;
		char	   *def = index_definition(indexid);
		char	   *u = def ? strstr(def, " USING ") : NULL;

		index_flags(indexid, &unique);
		if (u != NULL && has_matching_index(partid, u, unique))
			continue;
		effect(st, EFFECT_INDEX_BUILD, "index_not_concurrent", part,
			   subparted, cmd,
			   psprintf("ATTACH PARTITION: the partition lacks index %s of the parent, which is built on it",
						quote_identifier(get_rel_name(indexid))),
			   u)->objid = indexid;
	}
}

/* SET TABLESPACE: ATExecSetTableSpace copies the files, unless it is a no-op. */
static void
plan_set_tablespace(AlterState *st, AlterTableCmd *cmd)
{
	Oid			spc = get_tablespace_oid(cmd->name, true);
	HeapTuple	tup;
	Oid			old;

	if (!OidIsValid(spc) || !RELKIND_HAS_STORAGE(st->relkind))
		return;
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(st->relid));
	if (!HeapTupleIsValid(tup))
		return;
	old = ((Form_pg_class) GETSTRUCT(tup))->reltablespace;
	ReleaseSysCache(tup);
	if (spc == old || (spc == MyDatabaseTableSpace && old == InvalidOid))
		return;
	effect(st, EFFECT_MOVE, "set_tablespace_move", NULL, false, cmd,
		   psprintf("SET TABLESPACE %s: every block is copied to the new tablespace",
					quote_identifier(cmd->name)),
		   cmd->name);
}

#ifdef MG_HAVE_SET_EXPRESSION
static char
column_generated(Oid relid, const char *colname)
{
	HeapTuple	tup = SearchSysCacheAttName(relid, colname);
	char		generated;

	if (!HeapTupleIsValid(tup))
		return '\0';
	generated = ((Form_pg_attribute) GETSTRUCT(tup))->attgenerated;
	ReleaseSysCache(tup);
	return generated;
}
#endif

static void
plan_cmd(AlterState *st, AlterTableCmd *cmd)
{
	CHECK_FOR_INTERRUPTS();
	switch (cmd->subtype)
	{
		case AT_AddColumn:
			plan_add_column(st, cmd);
			break;
		case AT_AlterColumnType:
			plan_alter_type(st, cmd);
			break;
		case AT_SetNotNull:
			plan_set_not_null(st, cmd);
			break;
		case AT_AddConstraint:
			plan_add_constraint(st, cmd);
			break;
		case AT_ValidateConstraint:
			effect(st, EFFECT_SCAN, "validate_in_locking_transaction", NULL,
				   st->recurse, cmd,
				   psprintf("VALIDATE CONSTRAINT %s: every row is verified (writes go on)",
							quote_identifier(cmd->name)),
				   cmd->name);
			break;
		case AT_SetLogged:
		case AT_SetUnLogged:
			if (get_rel_persistence(st->relid) !=
				(cmd->subtype == AT_SetLogged ? RELPERSISTENCE_PERMANENT : RELPERSISTENCE_UNLOGGED))
				effect(st, EFFECT_REWRITE, "set_persistence_rewrite", NULL, false, cmd,
					   psprintf("SET %s: the table is copied to new storage",
								cmd->subtype == AT_SetLogged ? "LOGGED" : "UNLOGGED"),
					   NULL);
			break;
		case AT_SetTableSpace:
			plan_set_tablespace(st, cmd);
			break;
#ifdef MG_HAVE_SET_ACCESS_METHOD
		case AT_SetAccessMethod:
			if (cmd->name == NULL ||
				get_table_am_oid(cmd->name, true) != relfacts_am(st->relid))
				effect(st, EFFECT_REWRITE, "set_access_method_rewrite", NULL, false, cmd,
					   psprintf("SET ACCESS METHOD %s: the table is rewritten",
								cmd->name ? quote_identifier(cmd->name) : "DEFAULT"),
					   cmd->name);
			break;
#endif
#ifdef MG_HAVE_SET_EXPRESSION
		case AT_SetExpression:
			if (column_generated(st->relid, cmd->name) == ATTRIBUTE_GENERATED_STORED)
				effect(st, EFFECT_REWRITE, "set_expression_rewrite", NULL, st->recurse, cmd,
					   psprintf("ALTER COLUMN %s SET EXPRESSION: the stored column is computed again for every row",
								quote_identifier(cmd->name)),
					   cmd->name);
			break;
#endif
		case AT_AttachPartition:
			plan_attach(st, cmd);
			break;
		case AT_DetachPartition:
			{
				PartitionCmd *pcmd = (PartitionCmd *) cmd->def;
				Oid			partid = RangeVarGetRelid(pcmd->name, NoLock, true);
				PlanRel    *part;

				if (!OidIsValid(partid))
					break;
				part = plan_add_rel(st->plan, partid,
									MG_DETACH_CONCURRENT(pcmd) ?
									ShareUpdateExclusiveLock : AccessExclusiveLock,
									"detached partition", st->relid);
				if (!MG_DETACH_CONCURRENT(pcmd))
					effect(st, EFFECT_NONE, "detach_partition_blocking", part, false, cmd,
						   pstrdup("DETACH PARTITION: ACCESS EXCLUSIVE on the parent"),
						   NULL);
				break;
			}
		default:
			break;
	}
}

/* Does any subcommand recurse to inheritors (ATSimpleRecursion & co.)? */
static bool
recursing_command(AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		switch (((AlterTableCmd *) lfirst(lc))->subtype)
		{
			case AT_AttachPartition:
			case AT_DetachPartition:
			case AT_SetTableSpace:
			case AT_SetLogged:
			case AT_SetUnLogged:
#ifdef MG_HAVE_SET_ACCESS_METHOD
			case AT_SetAccessMethod:
#endif
			case AT_ClusterOn:
			case AT_DropCluster:
			case AT_ReplicaIdentity:
			case AT_ChangeOwner:
				continue;
			default:
				return true;
		}
	}
	return false;
}

/* The inheritors ALTER reaches, listed for explain(). */
static void
list_inheritors(AlterState *st)
{
	List	   *members = find_all_inheritors(st->relid, NoLock, NULL);
	ListCell   *lc;

	foreach(lc, members)
		if (lfirst_oid(lc) != st->relid)
			plan_add_rel(st->plan, lfirst_oid(lc), st->target->lockmode,
						 st->relkind == RELKIND_PARTITIONED_TABLE ?
						 "partition" : "inheritance child", st->relid);
}

void
plan_alter_table(StmtPlan *plan, AlterTableStmt *stmt, Oid relid,
				 const PlanContext *pctx)
{
	AlterState	st;
	ListCell   *lc;
	List	   *rewritten = NIL;
	List	   *kept = NIL;

	if (mg_alter_table_objtype(stmt) != OBJECT_TABLE &&
		mg_alter_table_objtype(stmt) != OBJECT_MATVIEW &&
		mg_alter_table_objtype(stmt) != OBJECT_FOREIGN_TABLE &&
		mg_alter_table_objtype(stmt) != OBJECT_INDEX)
		return;					/* ALTER TYPE of a composite, ALTER VIEW, ... */

	memset(&st, 0, sizeof(st));
	st.plan = plan;
	st.stmt = stmt;
	st.relid = relid;
	st.relkind = get_rel_relkind(relid);
	st.target = plan_add_rel(plan, relid, AlterTableGetLockLevel(stmt->cmds),
							 "target", InvalidOid);
	st.recurse = stmt->relation->inh && has_subclass(relid);

	decisions_reset();
	foreach(lc, stmt->cmds)
		plan_cmd(&st, (AlterTableCmd *) lfirst(lc));
	if (decisions_refused())
	{
		plan->skipped = true;
		plan->skip_reason = "a subcommand PostgreSQL will refuse with its own error";
	}
	if (plan->skipped)
	{
		plan->rels = NIL;
		plan->effects = NIL;
		return;
	}

	/* a verification scan of a relation that is rewritten happens in the copy */
	foreach(lc, plan->effects)
	{
		PlanEffect *e = (PlanEffect *) lfirst(lc);

		if (e->kind == EFFECT_REWRITE)
			rewritten = list_append_unique_oid(rewritten, e->rel->relid);
	}
	foreach(lc, plan->effects)
	{
		PlanEffect *e = (PlanEffect *) lfirst(lc);

		if (e->kind == EFFECT_SCAN && list_member_oid(rewritten, e->rel->relid) &&
			e->rule && strcmp(e->rule, "validate_in_locking_transaction") != 0)
			continue;
		kept = lappend(kept, e);
	}
	plan->effects = kept;

	if (pctx->expand && st.recurse && recursing_command(stmt))
		list_inheritors(&st);
}
