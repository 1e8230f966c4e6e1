/*-------------------------------------------------------------------------
 *
 * ddl_hook.c
 *		The ProcessUtility hook: ask the rules about every DDL statement and
 *		turn what they find into errors, warnings or log lines.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"
#include "plan.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "parser/scansup.h"
#include "tcop/utility.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * The text of one statement out of a possibly multi-statement query string,
 * as pg_stat_statements cuts it.
 */
char *
migguard_statement_text(const char *queryString, int location, int len)
{
	if (queryString == NULL)
		return pstrdup("");
	/*
	 * The parser's location and length lie within the string: measuring the
	 * whole string for each of its statements would make a string of n
	 * statements cost n squared.
	 */
	if (location >= 0 && len > 0)
		queryString += location;
	else if (location >= 0 && location <= (int) strlen(queryString))
	{
		queryString += location;
		if (len <= 0)
			len = strlen(queryString);
	}
	else
		len = strlen(queryString);

	while (len > 0 && scanner_isspace(*queryString))
	{
		queryString++;
		len--;
	}
	while (len > 0 && (scanner_isspace(queryString[len - 1]) ||
					   queryString[len - 1] == ';'))
		len--;
	return pnstrdup(queryString, len);
}

/*
 * Statements no rule is about: transaction control, settings, cursors,
 * prepared statements and the like.  Cheap to test, and it keeps the
 * counters honest.
 */
static bool
is_checked_statement(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_TransactionStmt:
		case T_VariableSetStmt:
		case T_VariableShowStmt:
		case T_DiscardStmt:
		case T_NotifyStmt:
		case T_ListenStmt:
		case T_UnlistenStmt:
		case T_PrepareStmt:
		case T_ExecuteStmt:
		case T_DeallocateStmt:
		case T_DeclareCursorStmt:
		case T_FetchStmt:
		case T_ClosePortalStmt:
		case T_CopyStmt:
		case T_ExplainStmt:
		case T_CheckPointStmt:
		case T_LoadStmt:
		case T_CallStmt:
		case T_DoStmt:
		case T_ConstraintsSetStmt:
		case T_LockStmt:
			return false;
		default:
			return true;
	}
}

static int
elevel_for(RuleLevel level)
{
	RuleLevel	effective = level;

	if (migguard_mode == MIGGUARD_MODE_WARN && effective > RULE_LEVEL_WARNING)
		effective = RULE_LEVEL_WARNING;
	else if (migguard_mode == MIGGUARD_MODE_LOG && effective > RULE_LEVEL_LOG)
		effective = RULE_LEVEL_LOG;

	switch (effective)
	{
		case RULE_LEVEL_ERROR:
			return ERROR;
		case RULE_LEVEL_WARNING:
			return WARNING;
		case RULE_LEVEL_LOG:
			return LOG;
		default:
			return 0;
	}
}

static void run_supervised(Node *parsetree, char *stmt_text,
						   MG_PROCESS_UTILITY_ARGS);

/*
 * Turn violations into messages.  A violation of a rule in migguard.allow
 * is logged as a bypass (or refused, for users who may not bypass).
 * Warnings and log lines go out first; the first violation that is an error
 * ends the statement, after its event is recorded, so the decision survives
 * the error.
 */
void
enforce_violations(List *violations, const char *stmt_text)
{
	ListCell   *lc;
	RuleViolation *rejection = NULL;

	foreach(lc, violations)
	{
		RuleViolation *v = (RuleViolation *) lfirst(lc);
		int			elevel = elevel_for(v->level);

		if ((elevel == ERROR || elevel == WARNING) && rules_bypassed(v->rule))
		{
			registry_count(MG_COUNTER_BYPASSED);
			registry_add_event("bypass", v->rule, v->relation, stmt_text, v->message);
			ereport(LOG,
					(errmsg("migguard rule %s bypassed by migguard.allow", v->rule),
					 errdetail_internal("%s", v->message)));
			continue;
		}
		if (elevel == ERROR)
		{
			if (rejection == NULL)
				rejection = v;
			continue;
		}
		if (elevel == 0)
			continue;
		if (elevel == WARNING)
		{
			registry_count(MG_COUNTER_WARNED);
			registry_add_event("warn", v->rule, v->relation, stmt_text, v->message);
		}
		ereport(elevel,
				(errcode(ERRCODE_MIGGUARD_REJECTED),
				 errmsg_internal("%s", v->message),
				 errdetail_internal("%s", v->detail),
				 v->hint ? errhint("%s", v->hint) : 0));
	}

	if (rejection != NULL)
	{
		registry_count(MG_COUNTER_REJECTED);
		registry_add_event("reject", rejection->rule, rejection->relation,
						   stmt_text, rejection->message);
		ereport(ERROR,
				(errcode(ERRCODE_MIGGUARD_REJECTED),
				 errmsg_internal("%s", rejection->message),
				 errdetail_internal("%s", rejection->detail),
				 rejection->hint ? errhint("%s", rejection->hint) : 0));
	}
}

/*
 * Plan the statement and ask the rules, then enforce what they found.  One
 * PG_TRY a function, so that nothing the compiler keeps in registers can be
 * clobbered by its longjmp.
 */
static StmtPlan *
plan_and_check(Node *parsetree, const char *stmt_text, bool top_level)
{
	PlanContext pctx;
	StmtPlan   *volatile plan = NULL;
	List	   *volatile violations = NIL;

	memset(&pctx, 0, sizeof(pctx));
	pctx.top_level = top_level;
	relfacts_remember();
	PG_TRY();
	{
		plan = plan_statement(parsetree, stmt_text, &pctx);
		violations = rules_check_plan(plan);
	}
	PG_FINALLY();
	{
		/* the remembered facts live in this statement's memory */
		relfacts_forget();
	}
	PG_END_TRY();
	enforce_violations(violations, stmt_text);
	return plan;
}

/*
 * From here on the statement runs: the safety net watches for a rewrite or
 * an index build the plan did not foresee.
 */
static void
run_under_net(StmtPlan *plan, Node *parsetree, char *stmt_text,
			  MG_PROCESS_UTILITY_ARGS)
{
	void	   *saved_net;

	safety_net_push(plan, stmt_text, &saved_net);
	PG_TRY();
	{
		run_supervised(parsetree, stmt_text, MG_PROCESS_UTILITY_PASS);
	}
	PG_FINALLY();
	{
		safety_net_pop(saved_net);
	}
	PG_END_TRY();
}

static void
migguard_ProcessUtility(MG_PROCESS_UTILITY_ARGS)
{
	Node	   *parsetree = pstmt->utilityStmt;

	relfacts_new_statement();

	/*
	 * Statements PostgreSQL generates itself are covered by the statement
	 * that caused them.  In an aborted transaction the statement will fail
	 * anyway, and catalog access is not allowed.  On a hot standby every
	 * decision is PostgreSQL's: its read-only error comes first, and no
	 * DDL can run there to be guarded.
	 */
	if (migguard_mode != MIGGUARD_MODE_OFF &&
		context != PROCESS_UTILITY_SUBCOMMAND &&
		!RecoveryInProgress() &&
		registry_attached() &&
		IsTransactionState() &&
		!IsAbortedTransactionBlockState())
	{
		char	   *stmt_text = NULL;
		StmtPlan   *plan = NULL;

		if (is_checked_statement(parsetree))
		{
			stmt_text = migguard_statement_text(queryString,
												pstmt->stmt_location,
												pstmt->stmt_len);
			registry_count(MG_COUNTER_CHECKED);
			plan = plan_and_check(parsetree, stmt_text,
								  context == PROCESS_UTILITY_TOPLEVEL &&
								  !IsSubTransaction());
		}
		run_under_net(plan, parsetree, stmt_text, MG_PROCESS_UTILITY_PASS);
		return;
	}

	migguard_next_utility(MG_PROCESS_UTILITY_PASS);
}

/*
 * Run the statement, handing those that need supervision while they run to
 * their supervisor, which calls migguard_next_utility() itself.
 */
static void
run_supervised(Node *parsetree, char *stmt_text, MG_PROCESS_UTILITY_ARGS)
{
	GuardTarget target;
	Oid			tableid;
	Oid			indexid;

	if (guard_classify(parsetree, &target))
	{
		if (stmt_text == NULL)	/* LOCK TABLE: guarded, not checked */
			stmt_text = migguard_statement_text(queryString,
												pstmt->stmt_location,
												pstmt->stmt_len);
		guard_process_utility(&target, stmt_text, MG_PROCESS_UTILITY_PASS);
		return;
	}
	if (cic_classify(parsetree, &tableid, &indexid))
	{
		cic_process_utility(tableid, indexid, stmt_text,
							MG_PROCESS_UTILITY_PASS);
		return;
	}
	migguard_next_utility(MG_PROCESS_UTILITY_PASS);
}

/* Run a utility statement through the rest of the hook chain. */
void
migguard_next_utility(MG_PROCESS_UTILITY_ARGS)
{
	if (prev_ProcessUtility)
		prev_ProcessUtility(MG_PROCESS_UTILITY_PASS);
	else
		standard_ProcessUtility(MG_PROCESS_UTILITY_PASS);
}

void
ddl_hook_install(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = migguard_ProcessUtility;
	safety_net_install();
}
