/*-------------------------------------------------------------------------
 *
 * rules_int.h
 *		What the rule catalog (rules.c) shares with the rule checks
 *		(rule_checks.c) and the server-side decisions they use
 *		(server_decisions.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGGUARD_RULES_INT_H
#define MIGGUARD_RULES_INT_H

#include "migguard.h"

typedef struct RuleDef RuleDef;
struct StmtPlan;

typedef struct RuleContext
{
	const char *stmt_text;		/* the statement as the user wrote it */
	struct StmtPlan *plan;		/* what the statement will do */
	List	   *violations;
	const RuleDef *current;
	RuleLevel	level;			/* level in force for the current rule */
} RuleContext;

typedef void (*RuleCheck) (Node *stmt, RuleContext *ctx);

struct RuleDef
{
	const char *name;
	RuleLevel	default_level;
	const char *catches;		/* what it fires on */
	const char *alternative;	/* the safe way */
	RuleCheck	check;

	/*
	 * The check reads the statement itself.  Otherwise it judges only the
	 * plan's effects that name the rule, and is not called without one.
	 */
	bool		reads_statement;
};

/* rules.c */
extern int	rules_index(const char *name);
extern RuleLevel rules_level_in_force(const char *name);
extern void rule_violation(RuleContext *ctx, const RelFacts *facts,
						   char *message, char *detail, char *hint);
extern char *rule_detail(RuleContext *ctx, const RelFacts *facts,
						 const char *what_happens);
extern char *rule_hint(RuleContext *ctx, const char *safe_way);
extern char *rows_phrase(const RelFacts *facts);
extern char *qualified_relname(const RelFacts *facts);

/* bypass.c */
extern void bypass_define_settings(void);

/* rule_checks.c: the rules about what the statement does (plan readers) */
extern void check_index_not_concurrent(Node *stmt, RuleContext *ctx);
extern void check_drop_index_not_concurrent(Node *stmt, RuleContext *ctx);
extern void check_reindex_not_concurrent(Node *stmt, RuleContext *ctx);
extern void check_add_column_rewrite(Node *stmt, RuleContext *ctx);
extern void check_inline_column_constraint(Node *stmt, RuleContext *ctx);
extern void check_alter_type_rewrite(Node *stmt, RuleContext *ctx);
extern void check_alter_type_rebuild(Node *stmt, RuleContext *ctx);
extern void check_set_not_null_scan(Node *stmt, RuleContext *ctx);
extern void check_primary_key_nullable(Node *stmt, RuleContext *ctx);
extern void check_constraint_validating(Node *stmt, RuleContext *ctx);
extern void check_validate_in_locking_transaction(Node *stmt, RuleContext *ctx);
extern void check_unique_without_index(Node *stmt, RuleContext *ctx);
extern void check_exclusion_constraint_rule(Node *stmt, RuleContext *ctx);
extern void check_vacuum_full(Node *stmt, RuleContext *ctx);
extern void check_cluster(Node *stmt, RuleContext *ctx);
extern void check_refresh_matview_blocking(Node *stmt, RuleContext *ctx);
extern void check_set_persistence_rewrite(Node *stmt, RuleContext *ctx);
extern void check_set_tablespace_move(Node *stmt, RuleContext *ctx);
extern void check_set_access_method_rewrite(Node *stmt, RuleContext *ctx);
extern void check_set_expression_rewrite(Node *stmt, RuleContext *ctx);
extern void check_attach_partition_scan(Node *stmt, RuleContext *ctx);
extern void check_detach_partition_blocking(Node *stmt, RuleContext *ctx);
extern void check_domain_check_validating(Node *stmt, RuleContext *ctx);
extern void check_domain_not_null_scan(Node *stmt, RuleContext *ctx);

/* rule_checks_table.c: whole-table work (plan readers) */
/* (declared above with the other plan readers) */

/* rule_checks_app.c: the rules about application compatibility */
extern void check_invalid_index_skipped(Node *stmt, RuleContext *ctx);
extern void check_add_column_json(Node *stmt, RuleContext *ctx);
extern void check_rename_incompatible(Node *stmt, RuleContext *ctx);
extern void check_drop_incompatible(Node *stmt, RuleContext *ctx);
extern void check_truncate_cascade(Node *stmt, RuleContext *ctx);
extern void check_drop_database(Node *stmt, RuleContext *ctx);

/* helpers shared by the checks (rule_checks.c) */
extern const char *after_keyword(const char *text, const char *keyword);
extern char *insert_after_keyword(const char *text, const char *keyword,
								  const char *words);
extern char *type_display(TypeName *typeName);

/* plan_alter.c */
extern bool is_serial_type(TypeName *typeName);
extern const char *add_column_rewrite_reason(ColumnDef *coldef);

/* server_decisions.c: what the server will do, decided as it decides */
typedef struct TypeChange
{
	AttrNumber	attnum;
	Oid			oldtype;
	int32		oldtypmod;
	Oid			oldcoll;
	Oid			newtype;
	int32		newtypmod;
	Oid			newcoll;
	bool		rewrites;
	bool		by_using;		/* because of a USING expression */
} TypeChange;

extern void decisions_reset(void);
extern bool decisions_refused(void);
extern bool column_has_default(ColumnDef *coldef);
extern bool column_default_is_volatile(ColumnDef *coldef);
extern bool column_type_change(Oid relid, AlterTableCmd *cmd, TypeChange *change);
extern List *indexes_rebuilt_by_type_change(Oid relid, const TypeChange *change);
extern List *validated_checks_on_column(Oid relid, AttrNumber attnum);
extern bool not_null_implied_by_checks(Oid relid, AttrNumber attnum);
extern bool partition_bound_implied_by_checks(Oid parentid, Oid partid,
											  PartitionBoundSpec *bound,
											  char **constraint_sql);
extern char *index_definition(Oid indexid);
extern char *constraint_definition(Oid conid);

#endif							/* MIGGUARD_RULES_INT_H */
