/*-------------------------------------------------------------------------
 *
 * plan_explain.c
 *		migguard.explain(sql): the plan of each statement, per relation it
 *		reaches, and the rules that would fire, without executing anything.
 *
 * Like check() it parses its input and plans each statement against the
 * live catalog; it takes no lock on the relations named and runs no user
 * code.  Every relation the statement reaches is listed (partitions and
 * inheritance children included), so it may stat() many files.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "plan.h"
#include "rules_int.h"

#include "funcapi.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(migguard_explain);

#define EXPLAIN_COLS 14

/* Does effect e happen on relation r (itself, or by its recursion)? */
static bool
effect_on(PlanEffect *e, PlanRel *r)
{
	return e->rel->relid == r->relid ||
		(e->recurses && r->parent == e->rel->relid);
}

static void
append_item(StringInfo buf, const char *item)
{
	if (buf->len > 0)
		appendStringInfoString(buf, "; ");
	appendStringInfoString(buf, item);
}

static void
explain_rel(ReturnSetInfo *rsinfo, int stmtno, const char *stmt_text,
			StmtPlan *plan, PlanRel *r, List *violations)
{
	Datum		values[EXPLAIN_COLS];
	bool		nulls[EXPLAIN_COLS];
	StringInfoData scans;
	StringInfoData builds;
	StringInfoData rules;
	StringInfoData notes;
	bool		rewrite = false;
	RelFacts	facts;
	char	   *name = relfacts_relation_name(r->relid);
	ListCell   *lc;

	initStringInfo(&scans);
	initStringInfo(&builds);
	initStringInfo(&rules);
	initStringInfo(&notes);
	foreach(lc, plan->effects)
	{
		PlanEffect *e = (PlanEffect *) lfirst(lc);

		if (!effect_on(e, r))
			continue;
		switch (e->kind)
		{
			case EFFECT_REWRITE:
				rewrite = true;
				append_item(&notes, e->what);
				break;
			case EFFECT_SCAN:
				append_item(&scans, e->what);
				break;
			case EFFECT_INDEX_BUILD:
				append_item(&builds, e->what);
				break;
			case EFFECT_MOVE:
			case EFFECT_QUERY:
			case EFFECT_NONE:
				append_item(&notes, e->what);
				break;
		}
	}
	foreach(lc, violations)
	{
		RuleViolation *v = (RuleViolation *) lfirst(lc);

		if (v->relation && name && strcmp(v->relation, name) == 0 &&
			!strstr(rules.data, v->rule))
			append_item(&rules, v->rule);
	}

	memset(nulls, 0, sizeof(nulls));
	values[0] = Int32GetDatum(stmtno);
	values[1] = CStringGetTextDatum(stmt_text);
	values[2] = migguard_text_or_null(name, &nulls[2]);
	values[3] = CStringGetTextDatum(r->how);
	values[4] = CStringGetTextDatum(plan_lock_name(r->lockmode));
	values[5] = CStringGetTextDatum(plan_lock_blocks(r->lockmode));
	values[6] = BoolGetDatum(rewrite);
	values[7] = migguard_text_or_null(scans.len ? scans.data : NULL, &nulls[7]);
	values[8] = migguard_text_or_null(builds.len ? builds.data : NULL, &nulls[8]);
	if (relfacts_get(r->relid, &facts))
	{
		values[9] = Int64GetDatum(facts.size_bytes);
		values[10] = CStringGetTextDatum(relfacts_format_size(facts.size_bytes));
		values[11] = Float8GetDatum(facts.est_rows);
		nulls[11] = facts.est_rows < 0;
	}
	else
		nulls[9] = nulls[10] = nulls[11] = true;
	values[12] = migguard_text_or_null(rules.len ? rules.data : NULL, &nulls[12]);
	values[13] = migguard_text_or_null(notes.len ? notes.data : NULL, &nulls[13]);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* A statement that reaches no relation: one row, with why. */
static void
explain_empty(ReturnSetInfo *rsinfo, int stmtno, const char *stmt_text,
			  StmtPlan *plan, List *violations)
{
	Datum		values[EXPLAIN_COLS];
	bool		nulls[EXPLAIN_COLS];
	StringInfoData rules;
	ListCell   *lc;

	initStringInfo(&rules);
	foreach(lc, violations)
		append_item(&rules, ((RuleViolation *) lfirst(lc))->rule);
	memset(nulls, true, sizeof(nulls));
	values[0] = Int32GetDatum(stmtno);
	nulls[0] = false;
	values[1] = CStringGetTextDatum(stmt_text);
	nulls[1] = false;
	values[6] = BoolGetDatum(false);
	nulls[6] = false;
	values[12] = migguard_text_or_null(rules.len ? rules.data : NULL, &nulls[12]);
	values[13] = CStringGetTextDatum(plan->skipped ?
									 psprintf("not planned: PostgreSQL will refuse it (%s)",
											  plan->skip_reason) :
									 "no relation locked for long");
	nulls[13] = false;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

Datum
migguard_explain(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *sql;
	List	   *parsetrees;
	ListCell   *lc;
	int			stmtno = 0;

	migguard_require_preload();
	mg_init_materialized_srf(fcinfo);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	sql = text_to_cstring(PG_GETARG_TEXT_PP(0));

	/* a syntax error is the parser's own error */
	parsetrees = mg_raw_parser(sql);

	foreach(lc, parsetrees)
	{
		RawStmt    *raw = lfirst_node(RawStmt, lc);
		char	   *stmt_text = migguard_statement_text(sql, raw->stmt_location,
														raw->stmt_len);
		PlanContext pctx = {true, true, false};
		StmtPlan   *plan;
		List	   *violations;
		ListCell   *rc;

		CHECK_FOR_INTERRUPTS();
		stmtno++;
		relfacts_remember();
		plan = plan_statement(raw->stmt, stmt_text, &pctx);
		violations = rules_check_plan(plan);
		if (plan->rels == NIL)
			explain_empty(rsinfo, stmtno, stmt_text, plan, violations);
		foreach(rc, plan->rels)
			explain_rel(rsinfo, stmtno, stmt_text, plan, (PlanRel *) lfirst(rc),
						violations);
		relfacts_forget();
	}
	return (Datum) 0;
}
