/*-------------------------------------------------------------------------
 *
 * plan.h
 *		The statement plan: what one DDL statement will do, per relation it
 *		reaches, computed once before the statement takes its lock.
 *
 * The plan mirrors the decisions of tablecmds.c (ATPrepCmd, ATExecCmd,
 * ATRewriteTables), indexcmds.c, cluster.c, vacuum.c and matview.c in the
 * running server's version: the lock mode of each relation, whether it is
 * rewritten, which verification scans run, which indexes are built or
 * rebuilt, and the relations reached by recursion.  The rules read it; so
 * does migguard.explain().  A hazard modelled here once is seen by every
 * rule and by the dry run.
 *
 * Building a plan takes no lock and executes no user code: expressions are
 * judged by their shape and the catalog, never evaluated or planned.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGGUARD_PLAN_H
#define MIGGUARD_PLAN_H

#include "migguard.h"

typedef enum PlanEffectKind
{
	EFFECT_REWRITE,				/* every row copied to new storage */
	EFFECT_SCAN,				/* every row read to verify something */
	EFFECT_INDEX_BUILD,			/* an index built, new or rebuilt */
	EFFECT_MOVE,				/* the files copied to another tablespace */
	EFFECT_QUERY,				/* a query runs while the lock is held */
	EFFECT_NONE					/* a lock, nothing long (DROP, DETACH, ...) */
} PlanEffectKind;

/* One relation the statement locks. */
typedef struct PlanRel
{
	Oid			relid;
	LOCKMODE	lockmode;
	const char *how;			/* "target", "partition", "referenced", ... */
	Oid			parent;			/* reached by recursion from, or InvalidOid */
} PlanRel;

/* Something long the statement does to one relation (and maybe its tree). */
typedef struct PlanEffect
{
	PlanEffectKind kind;
	const char *rule;			/* the rule that judges it */
	PlanRel    *rel;			/* where it happens */
	bool		recurses;		/* also on every inheritor of rel */
	List	   *also_reads;		/* OIDs of other relations it reads */
	Node	   *cmd;			/* the subcommand (or statement) causing it */
	char	   *what;			/* "rewrite: ADD COLUMN \"c\" with a volatile default" */
	char	   *subject;		/* column, constraint or index name, or NULL */
	Oid			objid;			/* the index or constraint, if one */

	/* measured on demand (plan_measure) */
	bool		measured;
	bool		exempt;			/* temporary, created here, or empty */
	bool		large;
	int64		bytes;
	double		rows;
	RelFacts	facts;			/* of rel itself */
} PlanEffect;

typedef struct StmtPlan
{
	Node	   *stmt;
	const char *stmt_text;
	List	   *rels;			/* PlanRel */
	List	   *effects;		/* PlanEffect */
	bool		skipped;		/* the server refuses it first: not planned */
	const char *skip_reason;
	bool		everything;		/* reaches every table it may (VACUUM FULL; ...) */
} StmtPlan;

/* How the plan is being built: live (the hook) or as a dry run. */
typedef struct PlanContext
{
	bool		dry_run;		/* check() / explain(): no transaction-block test */
	bool		expand;			/* list every relation reached (explain) */
	bool		top_level;		/* hook: run as a top-level statement */
} PlanContext;

/* plan.c */
extern StmtPlan *plan_statement(Node *stmt, const char *stmt_text,
								const PlanContext *pctx);
extern PlanRel *plan_add_rel(StmtPlan *plan, Oid relid, LOCKMODE lockmode,
							 const char *how, Oid parent);
extern PlanEffect *plan_add_effect(StmtPlan *plan, PlanEffectKind kind,
								   const char *rule, PlanRel *rel,
								   bool recurses, Node *cmd, char *what);
extern void plan_measure(PlanEffect *effect);
extern bool plan_effect_hazardous(PlanEffect *effect);
extern PlanEffect *plan_first_hazard(StmtPlan *plan, const char *rule);
extern PlanEffect *plan_largest_hazard(StmtPlan *plan, const char *rule);
extern bool plan_may_own(Oid relid);
extern const char *plan_lock_name(LOCKMODE mode);
extern const char *plan_lock_blocks(LOCKMODE mode);
extern const char *plan_effect_kind_name(PlanEffectKind kind);

/* plan_alter.c: ALTER TABLE, mirrored from tablecmds.c */
extern void plan_alter_table(StmtPlan *plan, AlterTableStmt *stmt, Oid relid,
							 const PlanContext *pctx);

/* ddl_hook.c */
extern void enforce_violations(List *violations, const char *stmt_text);

/* safety_net.c: the statement the hook is running, watched after its lock */
extern void safety_net_install(void);
extern void safety_net_push(StmtPlan *plan, const char *stmt_text, void **saved);
extern void safety_net_pop(void *saved);

#endif							/* MIGGUARD_PLAN_H */
