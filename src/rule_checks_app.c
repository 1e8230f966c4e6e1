/*-------------------------------------------------------------------------
 *
 * rule_checks_app.c
 *		The rules about application compatibility: what breaks code still
 *		running against the old schema (renames, drops), what is a trap
 *		(json, TRUNCATE ... CASCADE, an invalid index IF NOT EXISTS skips).
 *
 * These read the statement itself, not the plan: they are about what the
 * change means to the application, not about what the server does while
 * it holds its lock.  They still see only statements the plan did not
 * skip, so PostgreSQL's own errors come first.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "plan.h"
#include "rules_int.h"

#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

/* The subcommands of an ALTER TABLE and its relation, from the plan. */
static List *
alter_table_cmds(Node *stmt, RuleContext *ctx, Oid *relid)
{
	PlanRel    *target;

	*relid = InvalidOid;
	if (!IsA(stmt, AlterTableStmt) || ctx->plan->rels == NIL)
		return NIL;
	target = (PlanRel *) linitial(ctx->plan->rels);
	*relid = target->relid;
	return ((AlterTableStmt *) stmt)->cmds;
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
check_add_column_json(Node *stmt, RuleContext *ctx)
{
	RelFacts	facts;
	Oid			relid;
	ListCell   *lc;

	foreach(lc, alter_table_cmds(stmt, ctx, &relid))
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
		ColumnDef  *coldef;

		if (cmd->subtype != AT_AddColumn)
			continue;
		coldef = (ColumnDef *) cmd->def;
		if (LookupTypeNameOid(NULL, coldef->typeName, true) != JSONOID ||
			!relfacts_identify(relid, &facts))
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

		if (!OidIsValid(relid) || !plan_may_own(relid) ||
			!relfacts_identify(relid, &facts) ||
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
			if (!OidIsValid(relid) || !plan_may_own(relid) ||
				!relfacts_get(relid, &facts) ||
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

	foreach(lc, alter_table_cmds(stmt, ctx, &relid))
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

		if (cmd->subtype != AT_DropColumn ||
			get_attnum(relid, cmd->name) == InvalidAttrNumber ||
			!relfacts_identify(relid, &facts) ||
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
