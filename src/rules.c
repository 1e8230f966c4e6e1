/*-------------------------------------------------------------------------
 *
 * rules.c
 *		The rule catalog and the levels in force.
 *
 * Each rule is one entry of rule_catalog: its name, default level, what it
 * catches, the safe alternative, and a check (rule_checks.c) over the parse
 * tree and the facts about the relations it touches.  The bypass
 * (migguard.allow) lives in bypass.c.  A check appends
 * violations and never raises an error for what it finds: what a violation
 * becomes (error, warning, log line, bypass) is decided by the hook.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "plan.h"
#include "rules_int.h"

#include "catalog/pg_authid.h"
#include "commands/user.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/varlena.h"

static const RuleDef rule_catalog[] = {
	{"index_not_concurrent", RULE_LEVEL_ERROR,
		"CREATE INDEX without CONCURRENTLY on a large table (SHARE lock: writes blocked for the whole build), and an index ATTACH PARTITION would build on a large partition",
		"CREATE INDEX CONCURRENTLY; on a partitioned table, CREATE INDEX ON ONLY the parent, CONCURRENTLY on each partition, then ALTER INDEX ... ATTACH PARTITION",
	check_index_not_concurrent},
	{"invalid_index_skipped", RULE_LEVEL_ERROR,
		"CREATE INDEX ... IF NOT EXISTS naming an existing INVALID index (left by a failed concurrent build), which PostgreSQL would silently skip",
		"DROP INDEX CONCURRENTLY the invalid index, then build it again",
	check_invalid_index_skipped, true},
	{"drop_index_not_concurrent", RULE_LEVEL_ERROR,
		"DROP INDEX without CONCURRENTLY on an index of a large table (ACCESS EXCLUSIVE on the table)",
		"DROP INDEX CONCURRENTLY",
	check_drop_index_not_concurrent},
	{"reindex_not_concurrent", RULE_LEVEL_ERROR,
		"REINDEX without CONCURRENTLY reaching a large table: INDEX, TABLE, SCHEMA, DATABASE, SYSTEM (writes blocked; REINDEX INDEX blocks reads that use the index too)",
		"REINDEX ... CONCURRENTLY",
	check_reindex_not_concurrent},
	{"add_column_rewrite", RULE_LEVEL_ERROR,
		"ADD COLUMN with a volatile default, GENERATED ... STORED, identity, serial, or a domain with constraints, on a large table (table rewrite under ACCESS EXCLUSIVE)",
		"add the column without a default (or with a non-volatile one), then backfill in batches",
	check_add_column_rewrite},
	{"inline_column_constraint", RULE_LEVEL_ERROR,
		"a constraint written inside ADD COLUMN on a large table: UNIQUE or PRIMARY KEY (index build), CHECK (verification scan), REFERENCES (validation scan, and a lock on the referenced table), all under ACCESS EXCLUSIVE",
		"add the column alone, then the constraint the safe way (CREATE UNIQUE INDEX CONCURRENTLY + USING INDEX; NOT VALID + VALIDATE CONSTRAINT)",
	check_inline_column_constraint},
	{"alter_type_rewrite", RULE_LEVEL_ERROR,
		"ALTER COLUMN TYPE that rewrites a large table, decided as ALTER TABLE decides (varchar(n) to a longer varchar or text, numeric precision increases and other binary-coercible changes are safe)",
		"add a new column, backfill it in batches, switch the application, drop the old column",
	check_alter_type_rewrite},
	{"alter_type_rebuild", RULE_LEVEL_ERROR,
		"ALTER COLUMN TYPE without a rewrite that still rebuilds an index (its operator class or collation changes: text to citext, COLLATE) or verifies a CHECK constraint naming the column again, on a large table, under ACCESS EXCLUSIVE",
		"drop the index (CONCURRENTLY) or the CHECK first, change the type, then rebuild the index CONCURRENTLY or add the CHECK NOT VALID and validate it",
	check_alter_type_rebuild},
	{"set_not_null_scan", RULE_LEVEL_ERROR,
		"SET NOT NULL on a large table without a validated CHECK (col IS NOT NULL), also on a column added with a default in the same statement (full scan under ACCESS EXCLUSIVE)",
		"ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, then SET NOT NULL (PostgreSQL 18: NOT NULL ... NOT VALID, then VALIDATE)",
	check_set_not_null_scan},
	{"primary_key_nullable", RULE_LEVEL_ERROR,
		"ADD PRIMARY KEY (also USING INDEX) on a nullable column of a large table (NOT NULL scan under ACCESS EXCLUSIVE)",
		"make the columns NOT NULL first the safe way, then ADD PRIMARY KEY USING INDEX",
	check_primary_key_nullable},
	{"constraint_validating", RULE_LEVEL_ERROR,
		"ADD FOREIGN KEY or CHECK without NOT VALID on a large table (validation scan under a lock that blocks writes; a foreign key locks both tables)",
		"ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in its own transaction",
	check_constraint_validating},
	{"validate_in_locking_transaction", RULE_LEVEL_ERROR,
		"VALIDATE CONSTRAINT in the transaction that added the constraint, or that already holds a lock blocking writes on the large table",
		"commit first, then VALIDATE CONSTRAINT in its own transaction",
	check_validate_in_locking_transaction},
	{"unique_without_index", RULE_LEVEL_ERROR,
		"ADD PRIMARY KEY or UNIQUE without USING INDEX on a large table (index build under ACCESS EXCLUSIVE)",
		"CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX",
	check_unique_without_index},
	{"exclusion_constraint", RULE_LEVEL_ERROR,
		"ADD EXCLUDE on a large table (index build under ACCESS EXCLUSIVE)",
		"there is no non-blocking way: add it while the table is small, or in a maintenance window",
	check_exclusion_constraint_rule},
	{"vacuum_full", RULE_LEVEL_ERROR,
		"VACUUM FULL of a large table, or of a database with one (rewrite under ACCESS EXCLUSIVE)",
		"plain VACUUM, or an online rebuild tool such as pg_repack",
	check_vacuum_full},
	{"cluster", RULE_LEVEL_ERROR,
		"CLUSTER of a large table, or a bare CLUSTER reaching one (rewrite under ACCESS EXCLUSIVE)",
		"an online rebuild tool such as pg_repack",
	check_cluster},
	{"refresh_matview_blocking", RULE_LEVEL_ERROR,
		"REFRESH MATERIALIZED VIEW without CONCURRENTLY whose view and the tables its query reads are large together (reads blocked for the whole refresh)",
		"REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index)",
	check_refresh_matview_blocking},
	{"set_persistence_rewrite", RULE_LEVEL_ERROR,
		"SET LOGGED or SET UNLOGGED on a large table (rewrite under ACCESS EXCLUSIVE)",
		"create the table with the wanted persistence and copy the data in batches",
	check_set_persistence_rewrite},
	{"set_tablespace_move", RULE_LEVEL_ERROR,
		"SET TABLESPACE of a large table (every block copied under ACCESS EXCLUSIVE)",
		"an online rebuild tool (pg_repack --tablespace), or a copy into a new table",
	check_set_tablespace_move},
	{"set_access_method_rewrite", RULE_LEVEL_ERROR,
		"SET ACCESS METHOD on a large table (rewrite under ACCESS EXCLUSIVE)",
		"create the table with the access method and copy the data in batches",
	check_set_access_method_rewrite},
	{"set_expression_rewrite", RULE_LEVEL_ERROR,
		"ALTER COLUMN ... SET EXPRESSION of a stored generated column on a large table (PostgreSQL 17; rewrite under ACCESS EXCLUSIVE)",
		"a new column (PostgreSQL 18: a virtual generated one), switch, drop the old one",
	check_set_expression_rewrite},
	{"attach_partition_scan", RULE_LEVEL_ERROR,
		"ATTACH PARTITION of a large table without a validated CHECK constraint that implies the partition bound, or with a large default partition (scan under ACCESS EXCLUSIVE)",
		"ADD CONSTRAINT ... CHECK (bound) NOT VALID, VALIDATE CONSTRAINT, ATTACH PARTITION, then drop the CHECK",
	check_attach_partition_scan},
	{"detach_partition_blocking", RULE_LEVEL_ERROR,
		"DETACH PARTITION without CONCURRENTLY of a large partition (ACCESS EXCLUSIVE on the parent)",
		"DETACH PARTITION ... CONCURRENTLY (outside a transaction block)",
	check_detach_partition_blocking},
	{"domain_check_validating", RULE_LEVEL_ERROR,
		"ALTER DOMAIN ADD CONSTRAINT CHECK without NOT VALID when a large table uses the domain (validation scan of every such table)",
		"ADD CONSTRAINT ... NOT VALID, then ALTER DOMAIN ... VALIDATE CONSTRAINT",
	check_domain_check_validating},
	{"domain_not_null_scan", RULE_LEVEL_ERROR,
		"ALTER DOMAIN ... SET NOT NULL when a large table uses the domain (scan of every such table under SHARE)",
		"ADD CONSTRAINT ... CHECK (VALUE IS NOT NULL) NOT VALID, then VALIDATE CONSTRAINT",
	check_domain_not_null_scan},
	{"table_rewrite", RULE_LEVEL_ERROR,
		"any other rewrite of a large table, caught by the safety net after the lock was taken (the plan did not foresee it)",
		"see what rewrites the table (migguard.explain()), and do it in steps that do not",
	NULL},
	{"index_build", RULE_LEVEL_ERROR,
		"any other index build over a large table, caught by the safety net after the lock was taken (the plan did not foresee it)",
		"build the index first with CREATE INDEX CONCURRENTLY",
	NULL},
	{"add_column_json", RULE_LEVEL_WARNING,
		"ADD COLUMN of type json (no equality operator: breaks DISTINCT, GROUP BY, UNION, and is reparsed on every access)",
		"jsonb",
	check_add_column_json, true},
	{"rename_incompatible", RULE_LEVEL_WARNING,
		"RENAME of a table, view, column, schema or enum value (breaks application code still running with the old name)",
		"add the new name alongside (a view, a new column kept in sync), switch the application, then drop the old name",
	check_rename_incompatible, true},
	{"drop_incompatible", RULE_LEVEL_WARNING,
		"DROP COLUMN or DROP TABLE (breaks application code still using them)",
		"stop using the column or table in the application first, deploy, then drop it",
	check_drop_incompatible, true},
	{"truncate_cascade", RULE_LEVEL_WARNING,
		"TRUNCATE ... CASCADE (also empties every table that references it, recursively)",
		"TRUNCATE the tables you mean, by name",
	check_truncate_cascade, true},
	{"drop_database", RULE_LEVEL_WARNING,
		"DROP DATABASE",
		"make sure it is the database you mean; take a backup first",
	check_drop_database, true},
};

#define NUM_RULES ((int) lengthof(rule_catalog))

/* settings */
static char *rule_levels_string = NULL;

/* parsed forms, published by the assign hooks */
static RuleLevel *levels_in_force = NULL;	/* NUM_RULES entries, or NULL */

const char *
rule_level_name(RuleLevel level)
{
	switch (level)
	{
		case RULE_LEVEL_OFF:
			return "off";
		case RULE_LEVEL_LOG:
			return "log";
		case RULE_LEVEL_WARNING:
			return "warning";
		case RULE_LEVEL_ERROR:
			return "error";
	}
	return "unknown";
}

static bool
parse_level(const char *name, RuleLevel *level)
{
	if (pg_strcasecmp(name, "off") == 0)
		*level = RULE_LEVEL_OFF;
	else if (pg_strcasecmp(name, "log") == 0)
		*level = RULE_LEVEL_LOG;
	else if (pg_strcasecmp(name, "warning") == 0)
		*level = RULE_LEVEL_WARNING;
	else if (pg_strcasecmp(name, "error") == 0)
		*level = RULE_LEVEL_ERROR;
	else
		return false;
	return true;
}

int
rules_index(const char *name)
{
	int			i;

	for (i = 0; i < NUM_RULES; i++)
		if (strcmp(rule_catalog[i].name, name) == 0)
			return i;
	return -1;
}

int
rules_count(void)
{
	return NUM_RULES;
}

void
rules_describe(int i, const char **name, RuleLevel *level,
			   RuleLevel *default_level, const char **catches,
			   const char **alternative)
{
	const RuleDef *rule = &rule_catalog[i];

	*name = rule->name;
	*default_level = rule->default_level;
	*level = levels_in_force ? levels_in_force[i] : rule->default_level;
	*catches = rule->catches;
	*alternative = rule->alternative;
}

/* "index_not_concurrent:warning, rename_incompatible:off" */
static bool
check_rule_levels(char **newval, void **extra, GucSource source)
{
	char	   *raw = pstrdup(*newval);
	List	   *items;
	ListCell   *lc;
	RuleLevel  *levels;
	int			i;

	if (!SplitIdentifierString(raw, ',', &items))
	{
		GUC_check_errdetail("List syntax is invalid.");
		return false;
	}
	levels = (RuleLevel *) mg_guc_malloc(NUM_RULES * sizeof(RuleLevel));
	if (levels == NULL)
		return false;
	for (i = 0; i < NUM_RULES; i++)
		levels[i] = rule_catalog[i].default_level;

	foreach(lc, items)
	{
		char	   *item = (char *) lfirst(lc);
		char	   *colon = strchr(item, ':');
		RuleLevel	level;

		if (colon == NULL)
		{
			GUC_check_errdetail("Entry \"%s\" is not of the form rule:level.", item);
			mg_guc_free(levels);
			return false;
		}
		*colon = '\0';
		i = rules_index(item);
		if (i < 0)
		{
			GUC_check_errdetail("Unknown rule \"%s\".", item);
			GUC_check_errhint("SELECT name FROM migguard.rules() lists the rules.");
			mg_guc_free(levels);
			return false;
		}
		if (!parse_level(colon + 1, &level))
		{
			GUC_check_errdetail("Unknown level \"%s\" for rule \"%s\".", colon + 1, item);
			GUC_check_errhint("The levels are error, warning, log and off.");
			mg_guc_free(levels);
			return false;
		}
		levels[i] = level;
	}
	*extra = levels;
	return true;
}

static void
assign_rule_levels(const char *newval, void *extra)
{
	levels_in_force = (RuleLevel *) extra;
}

void
rules_define_settings(void)
{
	DefineCustomStringVariable("migguard.rule_levels",
							   "Levels of individual rules, overriding their defaults.",
							   "A comma-separated list of rule:level, where level "
							   "is error, warning, log or off.",
							   &rule_levels_string,
							   "",
							   PGC_SUSET,
							   GUC_LIST_INPUT,
							   check_rule_levels, assign_rule_levels, NULL);

	bypass_define_settings();
}

/* ---- helpers for the checks ---- */

char *
qualified_relname(const RelFacts *facts)
{
	return quote_qualified_identifier(facts->nspname, facts->relname);
}

/* "about 40 million rows", or "never analyzed" */
char *
rows_phrase(const RelFacts *facts)
{
	if (facts->est_rows < 0)
		return pstrdup("never analyzed");
	if (facts->est_rows >= 1e9)
		return psprintf("about %.1f billion rows", facts->est_rows / 1e9);
	if (facts->est_rows >= 1e6)
		return psprintf("about %.0f million rows", facts->est_rows / 1e6);
	return psprintf("about %.0f rows", facts->est_rows);
}

/* The errdetail: the relation's facts, what the statement does, the rule. */
char *
rule_detail(RuleContext *ctx, const RelFacts *facts, const char *what_happens)
{
	if (facts == NULL)
		return psprintf("%s Rule: %s.", what_happens, ctx->current->name);
	return psprintf("\"%s\" is %s (%s). %s Rule: %s.",
					facts->relname, relfacts_format_size(facts->size_bytes),
					rows_phrase(facts), what_happens, ctx->current->name);
}

/* The errhint: the safe way, then the bypass. */
char *
rule_hint(RuleContext *ctx, const char *safe_way)
{
	return psprintf("%s To go ahead anyway: SET LOCAL migguard.allow = '%s';",
					safe_way, ctx->current->name);
}

void
rule_violation(RuleContext *ctx, const RelFacts *facts,
			   char *message, char *detail, char *hint)
{
	RuleViolation *v = palloc0(sizeof(RuleViolation));

	v->rule = ctx->current->name;
	v->level = ctx->level;
	v->relation = facts ? qualified_relname(facts) : NULL;
	v->message = message;
	v->detail = detail;
	v->hint = hint;
	ctx->violations = lappend(ctx->violations, v);
}

RuleLevel
rules_level_in_force(const char *name)
{
	int			i = rules_index(name);

	if (i < 0)
		return RULE_LEVEL_OFF;
	return levels_in_force ? levels_in_force[i] : rule_catalog[i].default_level;
}

/*
 * A violation of one rule decided outside the checks (the safety net),
 * with that rule's level in force; NULL when the rule is off.
 */
RuleViolation *
rules_violation_for(const char *rule, const RelFacts *facts, char *message,
					char *detail_text, const char *safe_way)
{
	RuleContext ctx;
	int			i = rules_index(rule);

	memset(&ctx, 0, sizeof(ctx));
	ctx.current = &rule_catalog[i];
	ctx.level = rules_level_in_force(rule);
	if (ctx.level == RULE_LEVEL_OFF)
		return NULL;
	rule_violation(&ctx, facts, message, rule_detail(&ctx, facts, detail_text),
				   rule_hint(&ctx, safe_way));
	return (RuleViolation *) linitial(ctx.violations);
}

/*
 * Plan one statement as the hook does and run every rule over it (the
 * interface before the plan existed; check() and explain() plan with their
 * own context).
 */
List *
rules_check_statement(Node *parsetree, const char *stmt_text)
{
	PlanContext pctx = {false, false, true};
	List	   *volatile violations = NIL;

	relfacts_remember();
	PG_TRY();
	{
		violations = rules_check_plan(plan_statement(parsetree, stmt_text, &pctx));
	}
	PG_FINALLY();
	{
		relfacts_forget();
	}
	PG_END_TRY();
	return violations;
}

/*
 * Run every rule over one statement's plan.  Returns a list of
 * RuleViolation, in catalog order, leaving out rules whose level in force
 * is off.  A statement PostgreSQL will refuse first is judged by no rule.
 */
/* Did the plan find anything for this rule to judge? */
static bool
plan_has_effect_of(StmtPlan *plan, const char *rule)
{
	ListCell   *lc;

	foreach(lc, plan->effects)
	{
		PlanEffect *e = (PlanEffect *) lfirst(lc);

		if (e->rule != NULL && strcmp(e->rule, rule) == 0)
			return true;
	}
	return false;
}

List *
rules_check_plan(StmtPlan *plan)
{
	RuleContext ctx;
	int			i;

	ctx.stmt_text = plan->stmt_text;
	ctx.plan = plan;
	ctx.violations = NIL;
	if (plan->skipped)
		return NIL;
	for (i = 0; i < NUM_RULES; i++)
	{
		ctx.current = &rule_catalog[i];
		if (ctx.current->check == NULL ||
			(!ctx.current->reads_statement &&
			 (plan->effects == NIL ||
			  !plan_has_effect_of(plan, ctx.current->name))))
			continue;
		ctx.level = levels_in_force ? levels_in_force[i] :
			ctx.current->default_level;
		if (ctx.level == RULE_LEVEL_OFF)
			continue;
		ctx.current->check(plan->stmt, &ctx);
	}
	return ctx.violations;
}
