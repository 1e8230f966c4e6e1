/*-------------------------------------------------------------------------
 *
 * check.c
 *		migguard.check(sql): the rules as a dry run; migguard.rules(): the
 *		catalog with the levels in force.
 *
 * check() parses its input and asks the rules about each statement against
 * the live catalog, exactly as the hook would, but executes nothing: it
 * builds each statement's plan and runs the rules over it.  It takes no
 * lock on the relations named (the plan reads the catalog as it is) and
 * runs no user code.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"
#include "plan.h"

#include "funcapi.h"
#include "parser/parser.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(migguard_check);
PG_FUNCTION_INFO_V1(migguard_rules);

Datum
migguard_check(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	List	   *parsetrees;
	ListCell   *lc;
	int			stmtno = 0;

	migguard_require_preload();
	mg_init_materialized_srf(fcinfo);

	/* a syntax error is the parser's own error */
	parsetrees = mg_raw_parser(sql);

	foreach(lc, parsetrees)
	{
		RawStmt    *raw = lfirst_node(RawStmt, lc);
		char	   *stmt_text = migguard_statement_text(sql, raw->stmt_location,
														raw->stmt_len);
		ListCell   *vc;

		PlanContext pctx = {true, false, false};
		List	   *violations;

		CHECK_FOR_INTERRUPTS();
		stmtno++;
		relfacts_remember();
		violations = rules_check_plan(plan_statement(raw->stmt, stmt_text, &pctx));
		relfacts_forget();
		foreach(vc, violations)
		{
			RuleViolation *v = (RuleViolation *) lfirst(vc);
			Datum		values[8];
			bool		nulls[8];

			memset(nulls, 0, sizeof(nulls));
			values[0] = Int32GetDatum(stmtno);
			values[1] = CStringGetTextDatum(stmt_text);
			values[2] = CStringGetTextDatum(v->rule);
			values[3] = CStringGetTextDatum(rule_level_name(v->level));
			values[4] = migguard_text_or_null(v->relation, &nulls[4]);
			values[5] = migguard_text_or_null(v->message, &nulls[5]);
			values[6] = migguard_text_or_null(v->detail, &nulls[6]);
			values[7] = migguard_text_or_null(v->hint, &nulls[7]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

Datum
migguard_rules(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	migguard_require_preload();
	mg_init_materialized_srf(fcinfo);

	for (i = 0; i < rules_count(); i++)
	{
		const char *name;
		const char *catches;
		const char *alternative;
		RuleLevel	level;
		RuleLevel	default_level;
		Datum		values[5];
		bool		nulls[5];

		rules_describe(i, &name, &level, &default_level, &catches, &alternative);
		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(name);
		values[1] = CStringGetTextDatum(rule_level_name(level));
		values[2] = CStringGetTextDatum(rule_level_name(default_level));
		values[3] = CStringGetTextDatum(catches);
		values[4] = CStringGetTextDatum(alternative);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
