/*-------------------------------------------------------------------------
 *
 * rules.c
 *		The rule catalog: one entry per rule, each a check over the parse
 *		tree and the facts about the relations it touches.
 *
 * A check appends violations to its context and never raises an error for
 * what it finds: deciding what a violation becomes (error, warning, log
 * line, bypass) is the hook's business.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "catalog/namespace.h"
#include "lib/stringinfo.h"
#include "nodes/nodes.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

typedef struct RuleContext
{
	const char *stmt_text;
	List	   *violations;
	const struct RuleDef *current;
} RuleContext;

typedef void (*RuleCheck) (Node *stmt, RuleContext *ctx);

typedef struct RuleDef
{
	const char *name;
	RuleLevel	default_level;
	const char *catches;		/* what it fires on */
	const char *alternative;	/* the safe way */
	RuleCheck	check;
} RuleDef;

static void check_index_not_concurrent(Node *stmt, RuleContext *ctx);

static const RuleDef rule_catalog[] = {
	{
		"index_not_concurrent", RULE_LEVEL_ERROR,
		"CREATE INDEX without CONCURRENTLY on a large table",
		"CREATE INDEX CONCURRENTLY",
		check_index_not_concurrent
	},
};

#define NUM_RULES lengthof(rule_catalog)

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

static char *
qualified_name(const RelFacts *facts)
{
	return quote_qualified_identifier(facts->nspname, facts->relname);
}

/* "about 40 million rows", or nothing when the table was never analyzed */
static char *
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

static void
add_violation(RuleContext *ctx, const RelFacts *facts,
			  char *message, char *detail, char *hint)
{
	RuleViolation *v = palloc0(sizeof(RuleViolation));

	v->rule = ctx->current->name;
	v->level = ctx->current->default_level;
	v->relation = facts ? qualified_name(facts) : NULL;
	v->message = message;
	v->detail = detail;
	v->hint = hint;
	ctx->violations = lappend(ctx->violations, v);
}

/* The statement with CONCURRENTLY inserted after its first INDEX keyword. */
static char *
with_concurrently(const char *stmt_text)
{
	const char *p;

	for (p = stmt_text; *p; p++)
	{
		if (pg_strncasecmp(p, "index", 5) == 0 &&
			(p == stmt_text || !isalnum((unsigned char) p[-1])) &&
			!isalnum((unsigned char) p[5]) && p[5] != '_')
			return psprintf("%.*s CONCURRENTLY%s", (int) (p - stmt_text + 5),
							stmt_text, p + 5);
	}
	return NULL;
}

static void
check_index_not_concurrent(Node *stmt, RuleContext *ctx)
{
	IndexStmt  *istmt;
	Oid			relid;
	RelFacts	facts;
	char	   *safe;

	if (!IsA(stmt, IndexStmt))
		return;
	istmt = (IndexStmt *) stmt;
	if (istmt->concurrent)
		return;
	relid = RangeVarGetRelid(istmt->relation, NoLock, true);
	if (!OidIsValid(relid) || !relfacts_get(relid, &facts))
		return;
	if (relfacts_exempt(&facts) || !facts.is_large)
		return;

	safe = with_concurrently(ctx->stmt_text);
	add_violation(ctx, &facts,
				  psprintf("CREATE INDEX on large table \"%s\" would block writes until the build ends",
						   facts.relname),
				  psprintf("\"%s\" is %s (%s). CREATE INDEX holds a SHARE lock for the whole build. Rule: %s.",
						   facts.relname, relfacts_format_size(facts.size_bytes),
						   rows_phrase(&facts), ctx->current->name),
				  safe ?
				  psprintf("Build it without blocking writes: %s; or SET LOCAL migguard.allow = '%s' if you accept the lock.",
						   safe, ctx->current->name) :
				  psprintf("Use CREATE INDEX CONCURRENTLY, or SET LOCAL migguard.allow = '%s' if you accept the lock.",
						   ctx->current->name));
}

/*
 * Run every rule over one statement.  Returns a list of RuleViolation, in
 * catalog order, leaving out rules whose level is off.
 */
List *
rules_check_statement(Node *parsetree, const char *stmt_text)
{
	RuleContext ctx;
	int			i;

	ctx.stmt_text = stmt_text;
	ctx.violations = NIL;
	for (i = 0; i < NUM_RULES; i++)
	{
		ctx.current = &rule_catalog[i];
		if (ctx.current->default_level == RULE_LEVEL_OFF)
			continue;
		ctx.current->check(parsetree, &ctx);
	}
	return ctx.violations;
}
