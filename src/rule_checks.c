/*-------------------------------------------------------------------------
 *
 * rule_checks.c
 *		The rules about what a statement does while it holds its lock: thin
 *		readers of the statement plan (plan.h), one function per rule.
 *		Index builds and ALTER TABLE's column and constraint work live here;
 *		whole-table work in rule_checks_table.c.
 *
 * A rule finds the plan's first hazardous effect it judges (large, not
 * temporary, not created in this transaction, not empty; sizes summed over
 * every relation the effect really processes) and words the violation:
 * what would happen, the facts, and a hint that is SQL built from the
 * statement itself where that can be done exactly.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "plan.h"
#include "rules_int.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"

/* ---- helpers ---- */

/* Position just after the first standalone keyword in text, or NULL. */
const char *
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

/* The statement with words inserted after its first keyword. */
char *
insert_after_keyword(const char *text, const char *keyword, const char *words)
{
	const char *pos = after_keyword(text, keyword);

	if (pos == NULL)
		return NULL;
	return psprintf("%.*s %s%s", (int) (pos - text), text, words, pos);
}

/* A type name as format_type prints it, or as written if it does not exist. */
char *
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

static AlterTableStmt *
alter_stmt(RuleContext *ctx)
{
	return IsA(ctx->plan->stmt, AlterTableStmt) ?
		(AlterTableStmt *) ctx->plan->stmt : NULL;
}

/* Text of a parenthesized expression after keyword in the statement. */
static char *
parenthesized_after(const char *text, const char *keyword)
{
	const char *p = after_keyword(text, keyword);
	const char *start;
	int			depth = 0;

	if (p == NULL)
		return NULL;
	while (*p && *p != '(')
		p++;
	for (start = p; *p; p++)
	{
		if (*p == '(')
			depth++;
		else if (*p == ')' && --depth == 0)
			return pnstrdup(start, p - start + 1);
	}
	return NULL;
}

/* "ALTER TABLE t ADD COLUMN c int DEFAULT 0" without the constraint after it */
static char *
column_alone(RuleContext *ctx, const RelFacts *facts, ColumnDef *coldef)
{
	static const char *const cut[] = {"constraint", "unique", "primary", "check", "references"};
	const char *add = after_keyword(ctx->stmt_text, "add");
	const char *end = NULL;
	int			i;

	if (add && list_length(alter_stmt(ctx)->cmds) == 1)
	{
		for (i = 0; i < (int) lengthof(cut); i++)
		{
			const char *k = after_keyword(add, cut[i]);

			if (k && (end == NULL || k - strlen(cut[i]) < end))
				end = k - strlen(cut[i]);
		}
		if (end)
		{
			while (end > add && end[-1] == ' ')
				end--;
			return psprintf("ALTER TABLE %s ADD%.*s;", qualified_relname(facts),
							(int) (end - add), add);
		}
	}
	return psprintf("ALTER TABLE %s ADD COLUMN %s %s;", qualified_relname(facts),
					quote_identifier(coldef->colname), type_display(coldef->typeName));
}

/* The NOT VALID + VALIDATE pair, or PG18's NOT NULL NOT VALID, for a column. */
static char *
not_null_steps(const RelFacts *facts, const char *col)
{
	char	   *rel = qualified_relname(facts);
	char	   *con = (char *) quote_identifier(psprintf("%s_%s_not_null", facts->relname, col));

#ifdef MG_HAVE_NOT_NULL_NOT_VALID
	return psprintf("ALTER TABLE %s ADD CONSTRAINT %s NOT NULL %s NOT VALID; ALTER TABLE %s VALIDATE CONSTRAINT %s;",
					rel, con, quote_identifier(col), rel, con);
#else
	return psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID; ALTER TABLE %s VALIDATE CONSTRAINT %s; ALTER TABLE %s ALTER COLUMN %s SET NOT NULL;",
					rel, con, quote_identifier(col), rel, con, rel, quote_identifier(col));
#endif
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
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);
	char	   *hint;

	if (e == NULL)
		return;
	if (!IsA(e->cmd, IndexStmt))
	{
		/* ATTACH PARTITION building an index the partition lacks */
		bool		unique = false;
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(e->objid));

		if (HeapTupleIsValid(tup))
		{
			unique = ((Form_pg_index) GETSTRUCT(tup))->indisunique;
			ReleaseSysCache(tup);
		}

		rule_violation(ctx, &e->facts,
					   psprintf("ATTACH PARTITION would build an index on large table \"%s\" under an ACCESS EXCLUSIVE lock",
								e->facts.relname),
					   rule_detail(ctx, &e->facts, psprintf("%s.", e->what)),
					   rule_hint(ctx, e->subject ?
								 psprintf("Build it on the partition first without blocking writes: CREATE %sINDEX CONCURRENTLY ON %s%s; then ATTACH PARTITION uses it.",
										  unique ? "UNIQUE " : "",
										  qualified_relname(&e->facts), e->subject) :
								 psprintf("Build the index of the parent on the partition first with CREATE INDEX CONCURRENTLY; then ATTACH PARTITION uses it.")));
		return;
	}
	if (e->facts.relkind == RELKIND_PARTITIONED_TABLE)
		hint = partitioned_index_hint((IndexStmt *) e->cmd, &e->facts, ctx->stmt_text);
	else
	{
		char	   *safe = insert_after_keyword(ctx->stmt_text, "index", "CONCURRENTLY");

		hint = safe ? psprintf("Build it without blocking writes: %s;", safe) : NULL;
	}
	rule_violation(ctx, &e->facts,
				   psprintf("CREATE INDEX on large table \"%s\" would block writes until the build ends",
							e->facts.relname),
				   rule_detail(ctx, &e->facts,
							   "CREATE INDEX holds a SHARE lock for the whole build."),
				   rule_hint(ctx, hint ? hint : "Use CREATE INDEX CONCURRENTLY."));
}

void
check_drop_index_not_concurrent(Node *stmt, RuleContext *ctx)
{
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);

	if (e == NULL)
		return;
	rule_violation(ctx, &e->facts,
				   psprintf("DROP INDEX on large table \"%s\" would block reads and writes while it waits and runs",
							e->facts.relname),
				   rule_detail(ctx, &e->facts,
							   "DROP INDEX takes an ACCESS EXCLUSIVE lock on the table."),
				   rule_hint(ctx, psprintf("Drop it without blocking: DROP INDEX CONCURRENTLY %s; (one index per statement, outside a transaction block).",
										   e->subject)));
}

void
check_reindex_not_concurrent(Node *stmt, RuleContext *ctx)
{
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);
	ReindexStmt *rstmt = (ReindexStmt *) stmt;
	const char *keyword;
	char	   *safe;

	if (e == NULL)
		return;
	keyword = rstmt->kind == REINDEX_OBJECT_INDEX ? "index" :
		rstmt->kind == REINDEX_OBJECT_TABLE ? "table" :
		rstmt->kind == REINDEX_OBJECT_SCHEMA ? "schema" :
		rstmt->kind == REINDEX_OBJECT_DATABASE ? "database" : "system";
	safe = rstmt->kind == REINDEX_OBJECT_SYSTEM ? NULL :
		insert_after_keyword(ctx->stmt_text, keyword, "CONCURRENTLY");
	rule_violation(ctx, &e->facts,
				   ctx->plan->everything ?
				   psprintf("REINDEX would block writes on large table \"%s\", one of the tables it reaches, while it rebuilds its indexes",
							e->facts.relname) :
				   psprintf("REINDEX on large table \"%s\" would block writes until it ends",
							e->facts.relname),
				   rule_detail(ctx, &e->facts,
							   rstmt->kind == REINDEX_OBJECT_INDEX ?
							   "REINDEX INDEX locks the table with SHARE and the index with ACCESS EXCLUSIVE, so queries that would use the index wait too." :
							   "REINDEX holds a SHARE lock on each table while it rebuilds its indexes."),
				   rule_hint(ctx, safe ? psprintf("Rebuild without blocking writes: %s;", safe) :
							 "Use REINDEX ... CONCURRENTLY, table by table."));
}

/* ---- ALTER TABLE ---- */

void
check_add_column_rewrite(Node *stmt, RuleContext *ctx)
{
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);
	ColumnDef  *coldef;

	if (e == NULL)
		return;
	coldef = (ColumnDef *) ((AlterTableCmd *) e->cmd)->def;
	rule_violation(ctx, &e->facts,
				   psprintf("ADD COLUMN \"%s\" would rewrite large table \"%s\" under an ACCESS EXCLUSIVE lock",
							coldef->colname, e->facts.relname),
				   rule_detail(ctx, &e->facts,
							   psprintf("%s.", add_column_rewrite_reason(coldef))),
				   rule_hint(ctx, psprintf("Add the column without blocking: ALTER TABLE %s ADD COLUMN %s %s; then ALTER TABLE %s ALTER COLUMN %s SET DEFAULT ... for new rows, and fill existing rows in batches of UPDATE.",
										   qualified_relname(&e->facts),
										   quote_identifier(coldef->colname),
										   is_serial_type(coldef->typeName) ?
										   TypeNameToString(coldef->typeName) :
										   type_display(coldef->typeName),
										   qualified_relname(&e->facts),
										   quote_identifier(coldef->colname))));
}

void
check_inline_column_constraint(Node *stmt, RuleContext *ctx)
{
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);
	ColumnDef  *coldef;
	char	   *rel;
	char	   *col;
	char	   *then;
	ListCell   *lc;
	Constraint *con = NULL;

	if (e == NULL)
		return;
	coldef = (ColumnDef *) ((AlterTableCmd *) e->cmd)->def;
	rel = qualified_relname(&e->facts);
	col = (char *) quote_identifier(coldef->colname);
	foreach(lc, coldef->constraints)
	{
		Constraint *c = (Constraint *) lfirst(lc);

		if ((e->kind == EFFECT_INDEX_BUILD &&
			 (c->contype == CONSTR_PRIMARY || c->contype == CONSTR_UNIQUE)) ||
			(e->kind == EFFECT_SCAN &&
			 (c->contype == CONSTR_CHECK || c->contype == CONSTR_FOREIGN) &&
			 strstr(e->what, c->contype == CONSTR_CHECK ? "CHECK" : "REFERENCES")))
		{
			con = c;
			break;
		}
	}
	if (con == NULL)
		return;

	if (con->contype == CONSTR_PRIMARY || con->contype == CONSTR_UNIQUE)
	{
		char	   *name = (char *) quote_identifier(con->conname ? con->conname :
													 psprintf("%s_%s_%s", e->facts.relname, coldef->colname,
															  con->contype == CONSTR_PRIMARY ? "pkey" : "key"));

		then = psprintf("CREATE UNIQUE INDEX CONCURRENTLY %s ON %s (%s); ALTER TABLE %s ADD CONSTRAINT %s %s USING INDEX %s;",
						name, rel, col, rel, name,
						con->contype == CONSTR_PRIMARY ? "PRIMARY KEY" : "UNIQUE", name);
	}
	else if (con->contype == CONSTR_CHECK)
	{
		char	   *name = (char *) quote_identifier(con->conname ? con->conname :
													 psprintf("%s_%s_check", e->facts.relname, coldef->colname));
		char	   *expr = parenthesized_after(ctx->stmt_text, "check");

		then = psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK %s NOT VALID; ALTER TABLE %s VALIDATE CONSTRAINT %s;",
						rel, name, expr ? expr : "(...)", rel, name);
	}
	else
	{
		char	   *name = (char *) quote_identifier(con->conname ? con->conname :
													 psprintf("%s_%s_fkey", e->facts.relname, coldef->colname));
		StringInfoData refs;

		initStringInfo(&refs);
		appendStringInfoString(&refs, quote_qualified_identifier(con->pktable->schemaname,
																 con->pktable->relname));
		foreach(lc, con->pk_attrs)
			appendStringInfo(&refs, "%s%s", foreach_current_index(lc) == 0 ? " (" : ", ",
							 quote_identifier(strVal(lfirst(lc))));
		if (con->pk_attrs != NIL)
			appendStringInfoChar(&refs, ')');
		then = psprintf("ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s NOT VALID; ALTER TABLE %s VALIDATE CONSTRAINT %s;",
						rel, name, col, refs.data, rel, name);
	}
	rule_violation(ctx, &e->facts,
				   psprintf("a constraint written inside ADD COLUMN \"%s\" would %s large table \"%s\" under an ACCESS EXCLUSIVE lock",
							coldef->colname,
							e->kind == EFFECT_INDEX_BUILD ? "build a unique index on" : "scan",
							e->facts.relname),
				   rule_detail(ctx, &e->facts, psprintf("%s.", e->what)),
				   rule_hint(ctx, psprintf("Add the column alone, then the constraint without a long lock: %s %s",
										   column_alone(ctx, &e->facts, coldef), then)));
}

void
check_alter_type_rewrite(Node *stmt, RuleContext *ctx)
{
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);
	AlterTableCmd *cmd;
	ColumnDef  *def;

	if (e == NULL)
		return;
	cmd = (AlterTableCmd *) e->cmd;
	def = (ColumnDef *) cmd->def;
	rule_violation(ctx, &e->facts,
				   psprintf("changing the type of column \"%s\" would rewrite large table \"%s\" under an ACCESS EXCLUSIVE lock",
							cmd->name, e->facts.relname),
				   rule_detail(ctx, &e->facts,
							   psprintf("The conversion to %s is not binary compatible (or computed by USING), so every row is rewritten and every index rebuilt; reads and writes wait until it ends.",
										type_display(def->typeName))),
				   rule_hint(ctx, psprintf("Change it without a long lock: ALTER TABLE %s ADD COLUMN %s %s; fill it in batches and keep it in sync (a trigger), switch the application, then drop the old column and rename the new one in one short transaction.",
										   qualified_relname(&e->facts),
										   quote_identifier(psprintf("%s_new", cmd->name)),
										   type_display(def->typeName))));
}

void
check_alter_type_rebuild(Node *stmt, RuleContext *ctx)
{
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);
	AlterTableCmd *cmd;
	char	   *rel;
	char	   *hint;

	if (e == NULL)
		return;
	cmd = (AlterTableCmd *) e->cmd;
	rel = qualified_relname(&e->facts);
	if (e->kind == EFFECT_INDEX_BUILD)
	{
		char	   *def = index_definition(e->objid);
		char	   *safe = def ? insert_after_keyword(def, "index", "CONCURRENTLY") : NULL;

		hint = psprintf("Drop the index first, change the type, then build the index again without blocking writes: DROP INDEX CONCURRENTLY %s; %s; %s;",
						relfacts_relation_name(e->objid), ctx->stmt_text,
						safe ? safe : "CREATE INDEX CONCURRENTLY ... (the same definition)");
	}
	else
	{
		char	   *name = (char *) quote_identifier(get_constraint_name(e->objid));
		char	   *def = constraint_definition(e->objid);

		hint = psprintf("Drop the constraint first, change the type, then add it again and validate it without blocking writes: ALTER TABLE %s DROP CONSTRAINT %s; %s; ALTER TABLE %s ADD CONSTRAINT %s %s NOT VALID; ALTER TABLE %s VALIDATE CONSTRAINT %s;",
						rel, name, ctx->stmt_text, rel, name,
						def ? def : "CHECK (...)", rel, name);
	}
	rule_violation(ctx, &e->facts,
				   psprintf("changing the type of column \"%s\" would %s on large table \"%s\" under an ACCESS EXCLUSIVE lock",
							cmd->name,
							e->kind == EFFECT_INDEX_BUILD ? "rebuild an index" : "verify a CHECK constraint again",
							e->facts.relname),
				   rule_detail(ctx, &e->facts,
							   psprintf("The type change itself is binary compatible, but %s.",
										e->what + strlen("ALTER COLUMN ") + strlen(quote_identifier(cmd->name)) + strlen(" TYPE: "))),
				   rule_hint(ctx, hint));
}

void
check_set_not_null_scan(Node *stmt, RuleContext *ctx)
{
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);
	AlterTableCmd *cmd;
	bool		added;

	if (e == NULL)
		return;
	cmd = (AlterTableCmd *) e->cmd;
	added = get_attnum(e->rel->relid, cmd->name) == InvalidAttrNumber;
	rule_violation(ctx, &e->facts,
				   psprintf("SET NOT NULL on column \"%s\" would scan large table \"%s\" under an ACCESS EXCLUSIVE lock",
							cmd->name, e->facts.relname),
				   rule_detail(ctx, &e->facts,
							   added ?
							   "The column is added by the same statement with a default, and ALTER TABLE reads every row to verify it is not null while reads and writes wait." :
							   "No validated CHECK constraint proves the column NOT NULL, so every row is read while reads and writes wait."),
				   rule_hint(ctx, psprintf("%sProve it first without blocking: %s",
										   added ? "Add the column in a statement of its own, then. " : "",
										   not_null_steps(&e->facts, cmd->name))));
}

void
check_primary_key_nullable(Node *stmt, RuleContext *ctx)
{
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);

	if (e == NULL)
		return;
	rule_violation(ctx, &e->facts,
				   psprintf("ADD PRIMARY KEY would scan large table \"%s\" under an ACCESS EXCLUSIVE lock to verify column \"%s\" is not null",
							e->facts.relname, e->subject),
				   rule_detail(ctx, &e->facts,
							   "A primary key sets NOT NULL on its columns; no validated CHECK constraint proves this one NOT NULL, so every row is read while reads and writes wait."),
				   rule_hint(ctx, psprintf("Make the column NOT NULL first without blocking: %s then add the primary key.",
										   not_null_steps(&e->facts, e->subject))));
}

/* The constraint's name, as the server would choose it if none is given. */
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
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);
	Constraint *con;
	char	   *name;
	char	   *rel;
	char	   *safe = NULL;
	const char *add;

	if (e == NULL)
		return;
	con = (Constraint *) ((AlterTableCmd *) e->cmd)->def;
	name = constraint_name(con, &e->facts, e->rel->relid);
	rel = qualified_relname(&e->facts);
	add = after_keyword(ctx->stmt_text, "add");
	if (list_length(alter_stmt(ctx)->cmds) == 1 && add != NULL)
	{
		/* the statement itself, named and NOT VALID */
		safe = con->conname ?
			psprintf("%s NOT VALID;", ctx->stmt_text) :
			psprintf("%.*s CONSTRAINT %s%s NOT VALID;",
					 (int) (add - ctx->stmt_text), ctx->stmt_text,
					 quote_identifier(name), add);
	}
	rule_violation(ctx, &e->facts,
				   psprintf("adding %s constraint \"%s\" would scan large table \"%s\" while blocking writes",
							con->contype == CONSTR_FOREIGN ? "foreign key" : "check",
							name, e->facts.relname),
				   rule_detail(ctx, &e->facts,
							   con->contype == CONSTR_FOREIGN ?
							   "Validating a foreign key reads every row under a SHARE ROW EXCLUSIVE lock on this table and the referenced one." :
							   "Validating a CHECK constraint reads every row under an ACCESS EXCLUSIVE lock."),
				   rule_hint(ctx, psprintf("Add it without validation, then validate it without blocking writes: %s ALTER TABLE %s VALIDATE CONSTRAINT %s;",
										   safe ? safe : psprintf("ALTER TABLE %s ADD CONSTRAINT %s ... NOT VALID;",
																  rel, quote_identifier(name)),
										   rel, quote_identifier(name))));
}

void
check_validate_in_locking_transaction(Node *stmt, RuleContext *ctx)
{
	ListCell   *lc;

	foreach(lc, ctx->plan->effects)
	{
		PlanEffect *e = (PlanEffect *) lfirst(lc);
		Oid			conid;
		HeapTuple	tup;
		bool		added_here;
		const char *why;

		if (e->rule == NULL || strcmp(e->rule, ctx->current->name) != 0 ||
			!plan_effect_hazardous(e))
			continue;
		conid = get_relation_constraint_oid(e->rel->relid, e->subject, true);
		if (!OidIsValid(conid))
			continue;
		tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conid));
		if (!HeapTupleIsValid(tup))
			continue;
		added_here = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data));
		ReleaseSysCache(tup);

		if (added_here)
			why = "The constraint was added in this transaction, whose ACCESS EXCLUSIVE lock is still held: the validation scan runs under it.";
		else if (xact_guard_holds_strong_lock(e->rel->relid))
			why = "This transaction already holds a lock on the table that blocks writes: the validation scan runs under it.";
		else
			continue;

		rule_violation(ctx, &e->facts,
					   psprintf("VALIDATE CONSTRAINT \"%s\" would scan large table \"%s\" while writes are blocked",
								e->subject, e->facts.relname),
					   rule_detail(ctx, &e->facts, why),
					   rule_hint(ctx, psprintf("COMMIT first, then run ALTER TABLE %s VALIDATE CONSTRAINT %s; in its own transaction (it takes only SHARE UPDATE EXCLUSIVE).",
											   qualified_relname(&e->facts),
											   quote_identifier(e->subject))));
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
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);
	Constraint *con;
	char	   *name;
	char	   *rel;
	const char *kind;

	if (e == NULL)
		return;
	con = (Constraint *) ((AlterTableCmd *) e->cmd)->def;
	kind = con->contype == CONSTR_PRIMARY ? "PRIMARY KEY" : "UNIQUE";
	name = con->conname ? con->conname :
		con->contype == CONSTR_PRIMARY ?
		psprintf("%s_pkey", e->facts.relname) :
		psprintf("%s_%s_key", e->facts.relname, strVal(linitial(con->keys)));
	rel = qualified_relname(&e->facts);
	rule_violation(ctx, &e->facts,
				   psprintf("adding %s \"%s\" would build its index on large table \"%s\" under an ACCESS EXCLUSIVE lock",
							kind, name, e->facts.relname),
				   rule_detail(ctx, &e->facts,
							   "ADD PRIMARY KEY and ADD UNIQUE build a unique index while reads and writes wait."),
				   rule_hint(ctx, psprintf("Build the index first without blocking: CREATE UNIQUE INDEX CONCURRENTLY %s ON %s (%s); then ALTER TABLE %s ADD CONSTRAINT %s %s USING INDEX %s;",
										   quote_identifier(name), rel,
										   key_columns(con->keys), rel,
										   quote_identifier(name), kind,
										   quote_identifier(name))));
}

void
check_exclusion_constraint_rule(Node *stmt, RuleContext *ctx)
{
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);

	if (e == NULL)
		return;
	rule_violation(ctx, &e->facts,
				   psprintf("adding an exclusion constraint would build its index on large table \"%s\" under an ACCESS EXCLUSIVE lock",
							e->facts.relname),
				   rule_detail(ctx, &e->facts,
							   "An exclusion constraint cannot use an index built CONCURRENTLY, so its index is built while reads and writes wait."),
				   rule_hint(ctx, "There is no non-blocking way: add it while the table is small, or in a maintenance window."));
}

