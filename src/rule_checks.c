/*-------------------------------------------------------------------------
 *
 * rule_checks.c
 *		One check per rule of the catalog in rules.c.
 *
 * A check looks at one raw statement and the facts about the relations it
 * names, and reports a violation when the statement would do what the rule
 * is about.  Rules about lock duration fire only on large relations, never
 * on ones created in this transaction, temporary or empty.  Hints are SQL
 * built from the statement itself where that can be done exactly.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "rules_int.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

/* ---- helpers ---- */

/* Facts about relid, if it is a relation the lock-duration rules care about. */
static bool
large_relation(Oid relid, RelFacts *facts)
{
	if (!OidIsValid(relid) || !relfacts_get(relid, facts))
		return false;
	return !relfacts_exempt(facts) && facts->is_large;
}

static bool
large_rangevar(RangeVar *rv, RelFacts *facts, Oid *relid)
{
	Oid			oid = rv ? RangeVarGetRelid(rv, NoLock, true) : InvalidOid;

	if (relid)
		*relid = oid;
	return large_relation(oid, facts);
}

/* Position just after the first standalone keyword in text, or NULL. */
static const char *
after_keyword(const char *text, const char *keyword)
{
	size_t		len = strlen(keyword);
	const char *p;

	for (p = text; *p; p++)
	{
		if (pg_strncasecmp(p, keyword, len) == 0 &&
			(p == text || !(isalnum((unsigned char) p[-1]) || p[-1] == '_')) &&
			!(isalnum((unsigned char) p[len]) || p[len] == '_'))
			return p + len;
	}
	return NULL;
}

/* The statement with " CONCURRENTLY" inserted after its first keyword. */
static char *
insert_after_keyword(const char *text, const char *keyword, const char *words)
{
	const char *pos = after_keyword(text, keyword);

	if (pos == NULL)
		return NULL;
	return psprintf("%.*s %s%s", (int) (pos - text), text, words, pos);
}

/*
 * The subcommands of an ALTER TABLE and the relation's OID.  Every ALTER
 * TABLE rule asks, so the name is looked up once per statement; the facts
 * are gathered (relfacts_get remembers them) only by a rule whose
 * subcommand is there.
 */
static Node *resolved_stmt = NULL;
static Oid	resolved_relid = InvalidOid;

void
rule_checks_reset(void)
{
	resolved_stmt = NULL;
}

static List *
alter_table_cmds(Node *stmt, Oid *relid)
{
	AlterTableStmt *astmt;

	*relid = InvalidOid;
	if (!IsA(stmt, AlterTableStmt))
		return NIL;
	astmt = (AlterTableStmt *) stmt;
	if (resolved_stmt != stmt)
	{
		resolved_relid = RangeVarGetRelid(astmt->relation, NoLock, true);
		resolved_stmt = stmt;
	}
	*relid = resolved_relid;
	if (!OidIsValid(*relid))
		return NIL;
	return astmt->cmds;
}

/* ---- CREATE INDEX, DROP INDEX, REINDEX ---- */

static char *
partitioned_index_hint(IndexStmt *istmt, const RelFacts *facts,
					   const char *stmt_text)
{
	const char *on = after_keyword(stmt_text, "on");
	const char *cols = on ? strchr(on, '(') : NULL;
	const char *idxname = istmt->idxname ? istmt->idxname : "parent_idx";
	List	   *parts = find_inheritance_children(facts->relid, NoLock);
	StringInfoData buf;
	ListCell   *lc;
	int			shown = 0;

	if (on == NULL || cols == NULL)
		return NULL;
	initStringInfo(&buf);
	appendStringInfo(&buf, "Build the index without blocking writes, one partition at a time: "
					 "CREATE %sINDEX %s ON ONLY %s %s;",
					 istmt->unique ? "UNIQUE " : "", quote_identifier(idxname),
					 qualified_relname(facts), cols);
	foreach(lc, parts)
	{
		Oid			part = lfirst_oid(lc);
		char	   *partidx = psprintf("%s_%s", get_rel_name(part), idxname);

		if (shown++ == 2)
		{
			appendStringInfoString(&buf, " ... and the same for every other partition;");
			break;
		}
		appendStringInfo(&buf, " CREATE %sINDEX CONCURRENTLY %s ON %s %s;"
						 " ALTER INDEX %s ATTACH PARTITION %s;",
						 istmt->unique ? "UNIQUE " : "",
						 quote_identifier(partidx), relfacts_relation_name(part), cols,
						 quote_identifier(idxname), quote_identifier(partidx));
	}
	return buf.data;
}

void
check_index_not_concurrent(Node *stmt, RuleContext *ctx)
{
	IndexStmt  *istmt;
	RelFacts	facts;
	char	   *hint;

	if (!IsA(stmt, IndexStmt) || ((IndexStmt *) stmt)->concurrent)
		return;
	istmt = (IndexStmt *) stmt;
	if (!large_rangevar(istmt->relation, &facts, NULL))
		return;

	if (facts.relkind == RELKIND_PARTITIONED_TABLE)
		hint = partitioned_index_hint(istmt, &facts, ctx->stmt_text);
	else
	{
		char	   *safe = insert_after_keyword(ctx->stmt_text, "index", "CONCURRENTLY");

		hint = safe ? psprintf("Build it without blocking writes: %s;", safe) : NULL;
	}
	rule_violation(ctx, &facts,
				   psprintf("CREATE INDEX on large table \"%s\" would block writes until the build ends",
							facts.relname),
				   rule_detail(ctx, &facts,
							   "CREATE INDEX holds a SHARE lock for the whole build."),
				   rule_hint(ctx, hint ? hint : "Use CREATE INDEX CONCURRENTLY."));
}

void
check_invalid_index_skipped(Node *stmt, RuleContext *ctx)
{
	IndexStmt  *istmt;
	Oid			tableid;
	Oid			indexid;
	HeapTuple	tup;
	bool		invalid;
	char	   *qualified;

	if (!IsA(stmt, IndexStmt) || !((IndexStmt *) stmt)->if_not_exists ||
		((IndexStmt *) stmt)->idxname == NULL)
		return;
	istmt = (IndexStmt *) stmt;
	tableid = RangeVarGetRelid(istmt->relation, NoLock, true);
	if (!OidIsValid(tableid))
		return;
	/* an index lives in its table's schema */
	indexid = get_relname_relid(istmt->idxname, get_rel_namespace(tableid));
	if (!OidIsValid(indexid))
		return;
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexid));
	if (!HeapTupleIsValid(tup))
		return;
	invalid = !((Form_pg_index) GETSTRUCT(tup))->indisvalid;
	ReleaseSysCache(tup);
	if (!invalid)
		return;

	qualified = relfacts_relation_name(indexid);
	rule_violation(ctx, NULL,
				   psprintf("index \"%s\" exists but is invalid, so CREATE INDEX IF NOT EXISTS would skip it",
							istmt->idxname),
				   rule_detail(ctx, NULL,
							   "An invalid index is left by a failed concurrent build: it is not used by queries, yet every write still updates it."),
				   rule_hint(ctx, psprintf("Drop it and build it again: DROP INDEX CONCURRENTLY %s; then run this statement again.",
										   qualified)));
}

void
check_drop_index_not_concurrent(Node *stmt, RuleContext *ctx)
{
	DropStmt   *dstmt;
	ListCell   *lc;

	if (!IsA(stmt, DropStmt))
		return;
	dstmt = (DropStmt *) stmt;
	if (dstmt->removeType != OBJECT_INDEX || dstmt->concurrent)
		return;
	foreach(lc, dstmt->objects)
	{
		RangeVar   *rv = makeRangeVarFromNameList((List *) lfirst(lc));
		Oid			indexid = RangeVarGetRelid(rv, NoLock, true);
		RelFacts	facts;

		if (!OidIsValid(indexid) ||
			!large_relation(IndexGetRelation(indexid, true), &facts))
			continue;
		rule_violation(ctx, &facts,
					   psprintf("DROP INDEX on large table \"%s\" would block reads and writes while it waits and runs",
								facts.relname),
					   rule_detail(ctx, &facts,
								   "DROP INDEX takes an ACCESS EXCLUSIVE lock on the table."),
					   rule_hint(ctx, psprintf("Drop it without blocking: DROP INDEX CONCURRENTLY %s; (one index per statement, outside a transaction block).",
											   relfacts_relation_name(indexid))));
		return;
	}
}

void
check_reindex_not_concurrent(Node *stmt, RuleContext *ctx)
{
	ReindexStmt *rstmt;
	RelFacts	facts;
	Oid			relid;
	const char *keyword;
	char	   *safe;

	if (!IsA(stmt, ReindexStmt))
		return;
	rstmt = (ReindexStmt *) stmt;
	if (mg_reindex_concurrent(rstmt))
		return;

	switch (rstmt->kind)
	{
		case REINDEX_OBJECT_INDEX:
			relid = RangeVarGetRelid(rstmt->relation, NoLock, true);
			if (!OidIsValid(relid) ||
				!large_relation(IndexGetRelation(relid, true), &facts))
				return;
			keyword = "index";
			break;
		case REINDEX_OBJECT_TABLE:
			if (!large_rangevar(rstmt->relation, &facts, NULL))
				return;
			keyword = "table";
			break;
		case REINDEX_OBJECT_SCHEMA:
		case REINDEX_OBJECT_DATABASE:
			safe = insert_after_keyword(ctx->stmt_text,
										rstmt->kind == REINDEX_OBJECT_SCHEMA ?
										"schema" : "database", "CONCURRENTLY");
			rule_violation(ctx, NULL,
						   pstrdup("REINDEX without CONCURRENTLY would block writes on every table it reaches"),
						   rule_detail(ctx, NULL,
									   "REINDEX SCHEMA and REINDEX DATABASE lock each table with SHARE while rebuilding its indexes."),
						   rule_hint(ctx, safe ? psprintf("Rebuild without blocking writes: %s;", safe) :
									 "Use REINDEX ... CONCURRENTLY."));
			return;
		default:
			return;
	}

	safe = insert_after_keyword(ctx->stmt_text, keyword, "CONCURRENTLY");
	rule_violation(ctx, &facts,
				   psprintf("REINDEX on large table \"%s\" would block writes until it ends",
							facts.relname),
				   rule_detail(ctx, &facts,
							   rstmt->kind == REINDEX_OBJECT_INDEX ?
							   "REINDEX INDEX locks the table with SHARE and the index with ACCESS EXCLUSIVE, so queries that would use the index wait too." :
							   "REINDEX TABLE holds a SHARE lock on the table while it rebuilds every index."),
				   rule_hint(ctx, safe ? psprintf("Rebuild without blocking writes: %s;", safe) :
							 "Use REINDEX ... CONCURRENTLY."));
}

/* ---- ALTER TABLE ---- */

/* A type name as format_type prints it, or as written if it does not exist. */
static char *
type_display(TypeName *typeName)
{
	Oid			typid;
	int32		typmod;
	Type		tup = LookupTypeName(NULL, typeName, &typmod, true);

	if (tup == NULL)
		return TypeNameToString(typeName);
	typid = typeTypeId(tup);
	ReleaseSysCache(tup);
	return format_type_with_typemod(typid, typmod);
}

static bool
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

static bool
has_constraint(ColumnDef *coldef, ConstrType type)
{
	ListCell   *lc;

	foreach(lc, coldef->constraints)
		if (((Constraint *) lfirst(lc))->contype == type)
			return true;
	return false;
}

/* Why ADD COLUMN would rewrite the table, or NULL when it would not. */
static const char *
add_column_rewrite_reason(ColumnDef *coldef)
{
	Oid			typid;

	if (is_serial_type(coldef->typeName))
		return "A serial column's default, nextval(), is volatile: every existing row gets its own value, so the table is rewritten";
	if (coldef->identity || has_constraint(coldef, CONSTR_IDENTITY))
		return "An identity column gives every existing row its own value, so the table is rewritten";
	if (coldef->generated == ATTRIBUTE_GENERATED_STORED ||
		has_constraint(coldef, CONSTR_GENERATED))
		return "A stored generated column is computed for every existing row, so the table is rewritten";
	typid = LookupTypeNameOid(NULL, coldef->typeName, true);
	if (OidIsValid(typid) && get_typtype(typid) == TYPTYPE_DOMAIN &&
		DomainHasConstraints(typid))
		return "The column's type is a domain with constraints, which ALTER TABLE checks by rewriting the table";
	if (OidIsValid(typid) && column_default_is_volatile(coldef))
		return "The column's default is volatile, so it cannot be stored once as the value of every existing row: the table is rewritten";
	return NULL;
}

void
check_add_column_rewrite(Node *stmt, RuleContext *ctx)
{
	RelFacts	facts;
	Oid			relid;
	ListCell   *lc;

	foreach(lc, alter_table_cmds(stmt, &relid))
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
		ColumnDef  *coldef;
		const char *reason;

		if (cmd->subtype != AT_AddColumn ||
			!large_relation(relid, &facts))
			continue;
		coldef = (ColumnDef *) cmd->def;
		reason = add_column_rewrite_reason(coldef);
		if (reason == NULL)
			continue;
		rule_violation(ctx, &facts,
					   psprintf("ADD COLUMN \"%s\" would rewrite large table \"%s\" under an ACCESS EXCLUSIVE lock",
								coldef->colname, facts.relname),
					   rule_detail(ctx, &facts, psprintf("%s.", reason)),
					   rule_hint(ctx, psprintf("Add the column without blocking: ALTER TABLE %s ADD COLUMN %s %s; then ALTER TABLE %s ALTER COLUMN %s SET DEFAULT ... for new rows, and fill existing rows in batches of UPDATE.",
											   qualified_relname(&facts),
											   quote_identifier(coldef->colname),
											   is_serial_type(coldef->typeName) ?
											   TypeNameToString(coldef->typeName) :
											   type_display(coldef->typeName),
											   qualified_relname(&facts),
											   quote_identifier(coldef->colname))));
		return;
	}
}

void
check_add_column_json(Node *stmt, RuleContext *ctx)
{
	RelFacts	facts;
	Oid			relid;
	ListCell   *lc;

	foreach(lc, alter_table_cmds(stmt, &relid))
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
		ColumnDef  *coldef;

		if (cmd->subtype != AT_AddColumn)
			continue;
		coldef = (ColumnDef *) cmd->def;
		if (LookupTypeNameOid(NULL, coldef->typeName, true) != JSONOID ||
			!relfacts_get(relid, &facts))
			continue;
		rule_violation(ctx, &facts,
					   psprintf("column \"%s\" of type json has no equality operator and is reparsed on every access",
								coldef->colname),
					   rule_detail(ctx, NULL,
								   "A json column breaks DISTINCT, GROUP BY and UNION on it, and cannot be indexed."),
					   rule_hint(ctx, psprintf("Use jsonb: ALTER TABLE %s ADD COLUMN %s jsonb;",
											   qualified_relname(&facts),
											   quote_identifier(coldef->colname))));
	}
}

void
check_alter_type_rewrite(Node *stmt, RuleContext *ctx)
{
	RelFacts	facts;
	Oid			relid;
	ListCell   *lc;

	foreach(lc, alter_table_cmds(stmt, &relid))
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
		ColumnDef  *def;
		bool		known;

		if (cmd->subtype != AT_AlterColumnType ||
			!large_relation(relid, &facts))
			continue;
		if (!column_type_change_rewrites(relid, cmd, &known) || !known)
			continue;
		def = (ColumnDef *) cmd->def;
		rule_violation(ctx, &facts,
					   psprintf("changing the type of column \"%s\" would rewrite large table \"%s\" under an ACCESS EXCLUSIVE lock",
								cmd->name, facts.relname),
					   rule_detail(ctx, &facts,
								   psprintf("The conversion to %s is not binary compatible, so every row is rewritten and every index rebuilt; reads and writes wait until it ends.",
											type_display(def->typeName))),
					   rule_hint(ctx, psprintf("Change it without a long lock: ALTER TABLE %s ADD COLUMN %s %s; fill it in batches and keep it in sync (a trigger), switch the application, then drop the old column and rename the new one in one short transaction.",
											   qualified_relname(&facts),
											   quote_identifier(psprintf("%s_new", cmd->name)),
											   type_display(def->typeName))));
		return;
	}
}

void
check_set_not_null_scan(Node *stmt, RuleContext *ctx)
{
	RelFacts	facts;
	Oid			relid;
	ListCell   *lc;

	foreach(lc, alter_table_cmds(stmt, &relid))
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
		AttrNumber	attnum;
		HeapTuple	tup;
		bool		already;
		char	   *con;
		char	   *rel;

		if (cmd->subtype != AT_SetNotNull ||
			!large_relation(relid, &facts))
			continue;
		tup = SearchSysCacheAttName(relid, cmd->name);
		if (!HeapTupleIsValid(tup))
			continue;
		attnum = ((Form_pg_attribute) GETSTRUCT(tup))->attnum;
		already = ((Form_pg_attribute) GETSTRUCT(tup))->attnotnull;
		ReleaseSysCache(tup);
		if (already || not_null_implied_by_checks(relid, attnum))
			continue;

		rel = qualified_relname(&facts);
		con = (char *) quote_identifier(psprintf("%s_%s_not_null", facts.relname, cmd->name));
		rule_violation(ctx, &facts,
					   psprintf("SET NOT NULL on column \"%s\" would scan large table \"%s\" under an ACCESS EXCLUSIVE lock",
								cmd->name, facts.relname),
					   rule_detail(ctx, &facts,
								   "No validated CHECK constraint proves the column NOT NULL, so every row is read while reads and writes wait."),
					   rule_hint(ctx, psprintf("Prove it first without blocking: ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID; ALTER TABLE %s VALIDATE CONSTRAINT %s; then SET NOT NULL is instant, and the CHECK can be dropped.",
											   rel, con, quote_identifier(cmd->name),
											   rel, con)));
		return;
	}
}

/* The first column a raw CHECK expression mentions, as the name chooser uses. */
static bool
first_column_walker(Node *node, char **colname)
{
	if (node == NULL || *colname != NULL)
		return false;
	if (IsA(node, ColumnRef))
	{
		ColumnRef  *ref = (ColumnRef *) node;

		if (IsA(llast(ref->fields), String))
			*colname = strVal(llast(ref->fields));
		return false;
	}
	return raw_expression_tree_walker(node, first_column_walker, (void *) colname);
}

/* The constraint's name, as the server would choose it if none is given. */
static char *
constraint_name(Constraint *con, const RelFacts *facts, Oid relid)
{
	char	   *colname = NULL;
	const char *label = "check";

	if (con->conname)
		return con->conname;
	if (con->contype == CONSTR_FOREIGN)
	{
		colname = strVal(linitial(con->fk_attrs));
		label = "fkey";
	}
	else
		first_column_walker(con->raw_expr, &colname);
	return ChooseConstraintName(facts->relname, colname, label,
								get_rel_namespace(relid), NIL);
}

void
check_constraint_validating(Node *stmt, RuleContext *ctx)
{
	RelFacts	facts;
	Oid			relid;
	List	   *cmds;
	ListCell   *lc;

	cmds = alter_table_cmds(stmt, &relid);
	foreach(lc, cmds)
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
		Constraint *con;
		char	   *name;
		char	   *rel;
		char	   *safe = NULL;
		const char *add;

		if (cmd->subtype != AT_AddConstraint ||
			!large_relation(relid, &facts))
			continue;
		con = (Constraint *) cmd->def;
		if ((con->contype != CONSTR_FOREIGN && con->contype != CONSTR_CHECK) ||
			con->skip_validation || !large_relation(relid, &facts))
			continue;

		name = constraint_name(con, &facts, relid);
		rel = qualified_relname(&facts);
		add = after_keyword(ctx->stmt_text, "add");
		if (list_length(cmds) == 1 && add != NULL)
		{
			/* the statement itself, named and NOT VALID */
			safe = con->conname ?
				psprintf("%s NOT VALID;", ctx->stmt_text) :
				psprintf("%.*s CONSTRAINT %s%s NOT VALID;",
						 (int) (add - ctx->stmt_text), ctx->stmt_text,
						 quote_identifier(name), add);
		}
		rule_violation(ctx, &facts,
					   psprintf("adding %s constraint \"%s\" would scan large table \"%s\" while blocking writes",
								con->contype == CONSTR_FOREIGN ? "foreign key" : "check",
								name, facts.relname),
					   rule_detail(ctx, &facts,
								   con->contype == CONSTR_FOREIGN ?
								   "Validating a foreign key reads every row under a SHARE ROW EXCLUSIVE lock on this table and the referenced one." :
								   "Validating a CHECK constraint reads every row under an ACCESS EXCLUSIVE lock."),
					   rule_hint(ctx, psprintf("Add it without validation, then validate it without blocking writes: %s ALTER TABLE %s VALIDATE CONSTRAINT %s;",
											   safe ? safe : psprintf("ALTER TABLE %s ADD CONSTRAINT %s ... NOT VALID;",
																	  rel, quote_identifier(name)),
											   rel, quote_identifier(name))));
		return;
	}
}

void
check_validate_in_locking_transaction(Node *stmt, RuleContext *ctx)
{
	RelFacts	facts;
	Oid			relid;
	ListCell   *lc;

	foreach(lc, alter_table_cmds(stmt, &relid))
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
		Oid			conid;
		HeapTuple	tup;
		bool		added_here;
		const char *why;

		if (cmd->subtype != AT_ValidateConstraint ||
			!large_relation(relid, &facts))
			continue;
		conid = get_relation_constraint_oid(relid, cmd->name, true);
		if (!OidIsValid(conid))
			continue;
		tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conid));
		if (!HeapTupleIsValid(tup))
			continue;
		added_here = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data));
		ReleaseSysCache(tup);

		if (added_here)
			why = "The constraint was added in this transaction, whose ACCESS EXCLUSIVE lock is still held: the validation scan runs under it.";
		else if (relation_write_locked_by_me(relid))
			why = "This transaction already holds a lock on the table that blocks writes: the validation scan runs under it.";
		else
			continue;

		rule_violation(ctx, &facts,
					   psprintf("VALIDATE CONSTRAINT \"%s\" would scan large table \"%s\" while writes are blocked",
								cmd->name, facts.relname),
					   rule_detail(ctx, &facts, why),
					   rule_hint(ctx, psprintf("COMMIT first, then run ALTER TABLE %s VALIDATE CONSTRAINT %s; in its own transaction (it takes only SHARE UPDATE EXCLUSIVE).",
											   qualified_relname(&facts),
											   quote_identifier(cmd->name))));
		return;
	}
}

static char *
key_columns(List *keys)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, keys)
	{
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, quote_identifier(strVal(lfirst(lc))));
	}
	return buf.data;
}

void
check_unique_without_index(Node *stmt, RuleContext *ctx)
{
	RelFacts	facts;
	Oid			relid;
	ListCell   *lc;

	foreach(lc, alter_table_cmds(stmt, &relid))
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
		Constraint *con;
		char	   *name;
		char	   *rel;
		const char *kind;

		if (cmd->subtype != AT_AddConstraint ||
			!large_relation(relid, &facts))
			continue;
		con = (Constraint *) cmd->def;
		if ((con->contype != CONSTR_PRIMARY && con->contype != CONSTR_UNIQUE) ||
			con->indexname != NULL || !large_relation(relid, &facts))
			continue;

		kind = con->contype == CONSTR_PRIMARY ? "PRIMARY KEY" : "UNIQUE";
		name = con->conname ? con->conname :
			con->contype == CONSTR_PRIMARY ?
			psprintf("%s_pkey", facts.relname) :
			psprintf("%s_%s_key", facts.relname,
					 strVal(linitial(con->keys)));
		rel = qualified_relname(&facts);
		rule_violation(ctx, &facts,
					   psprintf("adding %s \"%s\" would build its index on large table \"%s\" under an ACCESS EXCLUSIVE lock",
								kind, name, facts.relname),
					   rule_detail(ctx, &facts,
								   "ADD PRIMARY KEY and ADD UNIQUE build a unique index while reads and writes wait."),
					   rule_hint(ctx, psprintf("Build the index first without blocking: CREATE UNIQUE INDEX CONCURRENTLY %s ON %s (%s); then ALTER TABLE %s ADD CONSTRAINT %s %s USING INDEX %s;",
											   quote_identifier(name), rel,
											   key_columns(con->keys), rel,
											   quote_identifier(name), kind,
											   quote_identifier(name))));
		return;
	}
}

void
check_exclusion_constraint_rule(Node *stmt, RuleContext *ctx)
{
	RelFacts	facts;
	Oid			relid;
	ListCell   *lc;

	foreach(lc, alter_table_cmds(stmt, &relid))
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

		if (cmd->subtype != AT_AddConstraint ||
			((Constraint *) cmd->def)->contype != CONSTR_EXCLUSION ||
			!large_relation(relid, &facts))
			continue;
		rule_violation(ctx, &facts,
					   psprintf("adding an exclusion constraint would build its index on large table \"%s\" under an ACCESS EXCLUSIVE lock",
								facts.relname),
					   rule_detail(ctx, &facts,
								   "An exclusion constraint cannot use an index built CONCURRENTLY, so its index is built while reads and writes wait."),
					   rule_hint(ctx, "There is no non-blocking way: add it while the table is small, or in a maintenance window."));
		return;
	}
}

void
check_set_persistence_rewrite(Node *stmt, RuleContext *ctx)
{
	RelFacts	facts;
	Oid			relid;
	ListCell   *lc;

	foreach(lc, alter_table_cmds(stmt, &relid))
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

		if ((cmd->subtype != AT_SetLogged && cmd->subtype != AT_SetUnLogged) ||
			!large_relation(relid, &facts))
			continue;
		rule_violation(ctx, &facts,
					   psprintf("SET %s would rewrite large table \"%s\" under an ACCESS EXCLUSIVE lock",
								cmd->subtype == AT_SetLogged ? "LOGGED" : "UNLOGGED",
								facts.relname),
					   rule_detail(ctx, &facts,
								   "Changing a table's persistence copies every row to new storage while reads and writes wait."),
					   rule_hint(ctx, "Create a new table with the persistence you want, copy the rows in batches, and swap the names in one short transaction."));
		return;
	}
}

void
check_attach_partition_scan(Node *stmt, RuleContext *ctx)
{
	RelFacts	facts;
	Oid			parentid;
	ListCell   *lc;

	foreach(lc, alter_table_cmds(stmt, &parentid))
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
		PartitionCmd *pcmd;
		Oid			partid;
		char	   *check = NULL;
		char	   *rel;
		char	   *con;

		if (cmd->subtype != AT_AttachPartition)
			continue;
		pcmd = (PartitionCmd *) cmd->def;
		if (get_rel_relkind(parentid) != RELKIND_PARTITIONED_TABLE ||
			!large_rangevar(pcmd->name, &facts, &partid) ||
			pcmd->bound == NULL)
			continue;
		if (partition_bound_implied_by_checks(parentid, partid, pcmd->bound, &check))
			continue;

		rel = qualified_relname(&facts);
		con = (char *) quote_identifier(psprintf("%s_partition_bound", facts.relname));
		rule_violation(ctx, &facts,
					   psprintf("ATTACH PARTITION would scan large table \"%s\" to check its rows against the partition bound",
								facts.relname),
					   rule_detail(ctx, &facts,
								   "No validated CHECK constraint on it implies the bound, so every row is read under an ACCESS EXCLUSIVE lock on the partition."),
					   rule_hint(ctx, psprintf("Prove the bound first without blocking: ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s) NOT VALID; ALTER TABLE %s VALIDATE CONSTRAINT %s; then ATTACH PARTITION skips the scan, and the CHECK can be dropped.",
											   rel, con, check, rel, con)));
		return;
	}
}

void
check_detach_partition_blocking(Node *stmt, RuleContext *ctx)
{
	RelFacts	facts;
	Oid			parentid;
	ListCell   *lc;

	foreach(lc, alter_table_cmds(stmt, &parentid))
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
		PartitionCmd *pcmd;

		if (cmd->subtype != AT_DetachPartition)
			continue;
		pcmd = (PartitionCmd *) cmd->def;
		if (MG_DETACH_CONCURRENT(pcmd) || !large_rangevar(pcmd->name, &facts, NULL))
			continue;
		rule_violation(ctx, &facts,
					   psprintf("DETACH PARTITION of large partition \"%s\" would block reads and writes on the whole partitioned table",
								facts.relname),
					   rule_detail(ctx, &facts,
								   "DETACH PARTITION without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the parent."),
					   rule_hint(ctx, psprintf("Detach it without blocking: %s CONCURRENTLY; (outside a transaction block).",
											   ctx->stmt_text)));
		return;
	}
}

/* ---- other statements ---- */

void
check_vacuum_full(Node *stmt, RuleContext *ctx)
{
	VacuumStmt *vstmt;
	ListCell   *lc;

	if (!IsA(stmt, VacuumStmt) || !((VacuumStmt *) stmt)->is_vacuumcmd ||
		!statement_option_on(((VacuumStmt *) stmt)->options, "full"))
		return;
	vstmt = (VacuumStmt *) stmt;

	if (vstmt->rels == NIL)
	{
		rule_violation(ctx, NULL,
					   pstrdup("VACUUM FULL of the whole database would rewrite every table under an ACCESS EXCLUSIVE lock"),
					   rule_detail(ctx, NULL, "Each table is blocked for reads and writes while it is copied."),
					   rule_hint(ctx, "Run plain VACUUM, or rebuild bloated tables online with a tool such as pg_repack."));
		return;
	}
	foreach(lc, vstmt->rels)
	{
		RelFacts	facts;

		if (!large_rangevar(((VacuumRelation *) lfirst(lc))->relation, &facts, NULL))
			continue;
		rule_violation(ctx, &facts,
					   psprintf("VACUUM FULL would rewrite large table \"%s\" under an ACCESS EXCLUSIVE lock",
								facts.relname),
					   rule_detail(ctx, &facts, "Reads and writes wait until the copy ends."),
					   rule_hint(ctx, "Run plain VACUUM, or rebuild the table online with a tool such as pg_repack."));
		return;
	}
}

void
check_cluster(Node *stmt, RuleContext *ctx)
{
	ClusterStmt *cstmt;
	RelFacts	facts;

	if (!IsA(stmt, ClusterStmt))
		return;
	cstmt = (ClusterStmt *) stmt;
	if (cstmt->relation == NULL)
	{
		rule_violation(ctx, NULL,
					   pstrdup("CLUSTER would rewrite every clustered table under an ACCESS EXCLUSIVE lock"),
					   rule_detail(ctx, NULL, "Each table is blocked for reads and writes while it is copied."),
					   rule_hint(ctx, "Reorder tables online with a tool such as pg_repack."));
		return;
	}
	if (!large_rangevar(cstmt->relation, &facts, NULL))
		return;
	rule_violation(ctx, &facts,
				   psprintf("CLUSTER would rewrite large table \"%s\" under an ACCESS EXCLUSIVE lock",
						    facts.relname),
				   rule_detail(ctx, &facts, "Reads and writes wait until the copy ends."),
				   rule_hint(ctx, "Reorder the table online with a tool such as pg_repack."));
}

void
check_refresh_matview_blocking(Node *stmt, RuleContext *ctx)
{
	RefreshMatViewStmt *rstmt;
	RelFacts	facts;
	char	   *safe;

	if (!IsA(stmt, RefreshMatViewStmt))
		return;
	rstmt = (RefreshMatViewStmt *) stmt;
	if (rstmt->concurrent || rstmt->skipData ||
		!large_rangevar(rstmt->relation, &facts, NULL))
		return;
	safe = insert_after_keyword(ctx->stmt_text, "view", "CONCURRENTLY");
	rule_violation(ctx, &facts,
				   psprintf("REFRESH MATERIALIZED VIEW would block reads of large materialized view \"%s\" until it ends",
						    facts.relname),
				   rule_detail(ctx, &facts,
							   "Without CONCURRENTLY the refresh holds an ACCESS EXCLUSIVE lock."),
				   rule_hint(ctx, safe ?
							 psprintf("Refresh without blocking reads: %s; (it needs a unique index on the materialized view).", safe) :
							 "Use REFRESH MATERIALIZED VIEW CONCURRENTLY."));
}

/* The largest non-exempt table with a column of this domain, if large. */
static bool
largest_table_using_type(Oid typid, RelFacts *largest)
{
	Relation	deprel;
	SysScanDesc scan;
	ScanKeyData key[2];
	HeapTuple	tup;
	bool		found = false;

	deprel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(TypeRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(typid));
	scan = systable_beginscan(deprel, DependReferenceIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);
		RelFacts	facts;

		if (dep->classid != RelationRelationId || dep->objsubid <= 0)
			continue;
		if (!large_relation(dep->objid, &facts))
			continue;
		if (!found || facts.size_bytes > largest->size_bytes)
			*largest = facts;
		found = true;
	}
	systable_endscan(scan);
	table_close(deprel, AccessShareLock);
	return found;
}

void
check_domain_check_validating(Node *stmt, RuleContext *ctx)
{
	AlterDomainStmt *dstmt;
	Constraint *con;
	Oid			typid;
	RelFacts	facts;
	char	   *domain;

	if (!IsA(stmt, AlterDomainStmt))
		return;
	dstmt = (AlterDomainStmt *) stmt;
	if (dstmt->subtype != 'C' || !IsA(dstmt->def, Constraint))
		return;
	con = (Constraint *) dstmt->def;
	if (con->contype != CONSTR_CHECK || con->skip_validation)
		return;
	typid = LookupTypeNameOid(NULL, makeTypeNameFromNameList(dstmt->typeName), true);
	if (!OidIsValid(typid) || !largest_table_using_type(typid, &facts))
		return;

	domain = NameListToQuotedString(dstmt->typeName);
	rule_violation(ctx, &facts,
				   psprintf("adding a CHECK constraint to domain %s would scan large table \"%s\" while blocking writes",
						    domain, facts.relname),
				   rule_detail(ctx, &facts,
							   "ALTER DOMAIN checks every row of every table using the domain, under a SHARE lock on each."),
				   rule_hint(ctx, psprintf("Add it without validation, then validate it: %s NOT VALID; ALTER DOMAIN %s VALIDATE CONSTRAINT %s;",
										   ctx->stmt_text, domain,
										   con->conname ? quote_identifier(con->conname) : "<name>")));
}

void
check_rename_incompatible(Node *stmt, RuleContext *ctx)
{
	RelFacts	facts;

	if (IsA(stmt, AlterEnumStmt) && ((AlterEnumStmt *) stmt)->oldVal != NULL)
	{
		AlterEnumStmt *estmt = (AlterEnumStmt *) stmt;

		rule_violation(ctx, NULL,
					   psprintf("renaming value \"%s\" of enum %s breaks application code that still uses the old value",
								estmt->oldVal, NameListToQuotedString(estmt->typeName)),
					   rule_detail(ctx, NULL,
								   "Queries and clients still sending the old value fail at once."),
					   rule_hint(ctx, "Add the new value, move rows and application code to it, then stop using the old one."));
		return;
	}
	if (!IsA(stmt, RenameStmt))
		return;

	switch (((RenameStmt *) stmt)->renameType)
	{
		case OBJECT_SCHEMA:
			rule_violation(ctx, NULL,
						   psprintf("renaming schema \"%s\" breaks application code that still uses the old name",
									((RenameStmt *) stmt)->subname),
						   rule_detail(ctx, NULL,
									   "Queries naming the old schema fail at once."),
						   rule_hint(ctx, "Switch the application to the new name first (search_path, or qualified names), then rename."));
			return;
		case OBJECT_TABLE:
		case OBJECT_VIEW:
		case OBJECT_MATVIEW:
		case OBJECT_FOREIGN_TABLE:
		case OBJECT_COLUMN:
			break;
		default:
			return;
	}
	{
		RenameStmt *rstmt = (RenameStmt *) stmt;
		Oid			relid = RangeVarGetRelid(rstmt->relation, NoLock, true);

		if (!OidIsValid(relid) || !relfacts_get(relid, &facts) ||
			facts.is_temp || facts.created_in_xact)
			return;
		rule_violation(ctx, &facts,
					   rstmt->renameType == OBJECT_COLUMN ?
					   psprintf("renaming column \"%s\" of \"%s\" breaks application code that still uses the old name",
								rstmt->subname, facts.relname) :
					   psprintf("renaming \"%s\" breaks application code that still uses the old name",
								facts.relname),
					   rule_detail(ctx, NULL,
								   "Queries still using the old name fail as soon as this commits."),
					   rule_hint(ctx, rstmt->renameType == OBJECT_COLUMN ?
								 "Add a new column kept in sync with the old one, switch the application, then drop the old column." :
								 "Rename, then create a view with the old name for the application still running, and drop it once nothing uses it."));
	}
}

void
check_drop_incompatible(Node *stmt, RuleContext *ctx)
{
	RelFacts	facts;
	Oid			relid;
	ListCell   *lc;

	if (IsA(stmt, DropStmt) && ((DropStmt *) stmt)->removeType == OBJECT_TABLE)
	{
		foreach(lc, ((DropStmt *) stmt)->objects)
		{
			RangeVar   *rv = makeRangeVarFromNameList((List *) lfirst(lc));

			relid = RangeVarGetRelid(rv, NoLock, true);
			if (!OidIsValid(relid) || !relfacts_get(relid, &facts) ||
				facts.is_temp || facts.created_in_xact)
				continue;
			rule_violation(ctx, &facts,
						   psprintf("dropping table \"%s\" breaks application code that still uses it",
									facts.relname),
						   rule_detail(ctx, &facts, "Its data is gone when this commits."),
						   rule_hint(ctx, "Stop using the table in the application, deploy, and drop it afterwards; rename it first to find stragglers safely."));
			return;
		}
		return;
	}

	foreach(lc, alter_table_cmds(stmt, &relid))
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

		if (cmd->subtype != AT_DropColumn || !relfacts_get(relid, &facts) ||
			facts.is_temp || facts.created_in_xact)
			continue;
		rule_violation(ctx, &facts,
					   psprintf("dropping column \"%s\" of \"%s\" breaks application code that still uses it",
								cmd->name, facts.relname),
					   rule_detail(ctx, NULL,
								   "Queries naming the column, and INSERTs listing it, fail as soon as this commits."),
					   rule_hint(ctx, "Stop using the column in the application (and in ORMs' cached column lists), deploy, then drop it."));
		return;
	}
}

void
check_truncate_cascade(Node *stmt, RuleContext *ctx)
{
	if (!IsA(stmt, TruncateStmt) || ((TruncateStmt *) stmt)->behavior != DROP_CASCADE)
		return;
	rule_violation(ctx, NULL,
				   pstrdup("TRUNCATE ... CASCADE also empties every table that references these, recursively"),
				   rule_detail(ctx, NULL,
							   "Tables that merely reference the truncated ones by foreign key lose all their rows too."),
				   rule_hint(ctx, "TRUNCATE exactly the tables you mean, by name, without CASCADE."));
}

void
check_drop_database(Node *stmt, RuleContext *ctx)
{
	if (!IsA(stmt, DropdbStmt))
		return;
	rule_violation(ctx, NULL,
				   psprintf("DROP DATABASE \"%s\" destroys it and everything in it",
							((DropdbStmt *) stmt)->dbname),
				   rule_detail(ctx, NULL, "It cannot be undone or rolled back."),
				   rule_hint(ctx, "Make sure it is the database you mean, and take a backup first."));
}
