/*-------------------------------------------------------------------------
 *
 * rule_checks_table.c
 *		The rules about whole-table work, read from the statement plan:
 *		rewrites and moves of a table (persistence, tablespace, access
 *		method, generated expression, VACUUM FULL, CLUSTER, REFRESH),
 *		partitions attached and detached, domains whose tables are scanned.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "plan.h"
#include "rules_int.h"

#include "catalog/namespace.h"
#include "utils/builtins.h"

static const char *
online_rebuild_tool(void)
{
#ifdef MG_HAVE_REPACK
	return "REPACK ... CONCURRENTLY, or an online rebuild tool such as pg_repack";
#else
	return "an online rebuild tool such as pg_repack";
#endif
}

/* A rewrite or move the plan found, worded from the effect itself. */
static void
simple_rewrite(RuleContext *ctx, const char *what_msg, const char *detail,
			   const char *safe)
{
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);

	if (e == NULL)
		return;
	rule_violation(ctx, &e->facts,
				   psprintf("%s would %s large table \"%s\" under an ACCESS EXCLUSIVE lock",
							what_msg, e->kind == EFFECT_MOVE ? "copy" : "rewrite",
							e->facts.relname),
				   rule_detail(ctx, &e->facts, detail ? detail : psprintf("%s.", e->what)),
				   rule_hint(ctx, safe));
}

void
check_set_persistence_rewrite(Node *stmt, RuleContext *ctx)
{
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);

	if (e == NULL)
		return;
	simple_rewrite(ctx, ((AlterTableCmd *) e->cmd)->subtype == AT_SetLogged ?
				   "SET LOGGED" : "SET UNLOGGED",
				   "Changing a table's persistence copies every row to new storage while reads and writes wait.",
				   "Create a new table with the persistence you want, copy the rows in batches, and swap the names in one short transaction.");
}

void
check_set_tablespace_move(Node *stmt, RuleContext *ctx)
{
	/* the hint is put together only for a statement the rule is about */
	if (plan_first_hazard(ctx->plan, ctx->current->name) == NULL)
		return;
	simple_rewrite(ctx, "SET TABLESPACE",
				   "SET TABLESPACE copies every block of the table (not its indexes) to the new tablespace while reads and writes wait.",
				   psprintf("Move it online with %s (for example pg_repack --tablespace), or copy the rows into a new table created in the new tablespace and swap the names in one short transaction.",
							online_rebuild_tool()));
}

void
check_set_access_method_rewrite(Node *stmt, RuleContext *ctx)
{
	simple_rewrite(ctx, "SET ACCESS METHOD",
				   "Changing a table's access method rewrites every row while reads and writes wait.",
				   "Create a new table with the access method you want, copy the rows in batches, and swap the names in one short transaction.");
}

void
check_set_expression_rewrite(Node *stmt, RuleContext *ctx)
{
	simple_rewrite(ctx, "SET EXPRESSION",
				   "A stored generated column is computed again for every row while reads and writes wait.",
#ifdef MG_HAVE_VIRTUAL_GENERATED
				   "Add a new VIRTUAL generated column with the new expression (computed on read: no rewrite), switch the application to it, then drop the old column."
#else
				   "Add a new plain column, fill it in batches (and keep it in sync with a trigger), switch the application, then drop the old generated column."
#endif
		);
}

void
check_attach_partition_scan(Node *stmt, RuleContext *ctx)
{
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);
	char	   *rel;
	char	   *con;

	if (e == NULL)
		return;
	rel = qualified_relname(&e->facts);
	if (e->subject && strcmp(e->subject, "default") == 0)
	{
		rule_violation(ctx, &e->facts,
					   psprintf("ATTACH PARTITION would scan large default partition \"%s\" under an ACCESS EXCLUSIVE lock",
								e->facts.relname),
					   rule_detail(ctx, &e->facts,
								   "Every row of the default partition is read to prove that none belongs in the new partition."),
					   rule_hint(ctx, psprintf("Prove it first without blocking: ALTER TABLE %s ADD CONSTRAINT ... CHECK (NOT (<the new bound>)) NOT VALID; ALTER TABLE %s VALIDATE CONSTRAINT ...; or detach the default partition CONCURRENTLY first.",
											   rel, rel)));
		return;
	}
	con = (char *) quote_identifier(psprintf("%s_partition_bound", e->facts.relname));
	rule_violation(ctx, &e->facts,
				   psprintf("ATTACH PARTITION would scan large table \"%s\" to check its rows against the partition bound",
							e->facts.relname),
				   rule_detail(ctx, &e->facts,
							   "No validated CHECK constraint on it implies the bound, so every row is read under an ACCESS EXCLUSIVE lock on the partition."),
				   rule_hint(ctx, e->subject ?
							 psprintf("Prove the bound first without blocking: ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s) NOT VALID; ALTER TABLE %s VALIDATE CONSTRAINT %s; then ATTACH PARTITION skips the scan, and the CHECK can be dropped.",
									  rel, con, e->subject, rel, con) :
							 "Add a validated CHECK constraint that implies the partition bound (ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT), then attach."));
}

void
check_detach_partition_blocking(Node *stmt, RuleContext *ctx)
{
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);

	if (e == NULL)
		return;
	rule_violation(ctx, &e->facts,
				   psprintf("DETACH PARTITION of large partition \"%s\" would block reads and writes on the whole partitioned table",
							e->facts.relname),
				   rule_detail(ctx, &e->facts,
							   "DETACH PARTITION without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the parent."),
				   rule_hint(ctx, psprintf("Detach it without blocking: %s CONCURRENTLY; (outside a transaction block).",
										   ctx->stmt_text)));
}

/* ---- other statements ---- */

void
check_vacuum_full(Node *stmt, RuleContext *ctx)
{
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);

	if (e == NULL)
		return;
	rule_violation(ctx, &e->facts,
				   ctx->plan->everything ?
				   psprintf("VACUUM FULL of the whole database would rewrite large table \"%s\" (among others) under an ACCESS EXCLUSIVE lock",
							e->facts.relname) :
				   psprintf("VACUUM FULL would rewrite large table \"%s\" under an ACCESS EXCLUSIVE lock",
							e->facts.relname),
				   rule_detail(ctx, &e->facts, "Reads and writes wait until the copy ends."),
				   rule_hint(ctx, psprintf("Run plain VACUUM, or rebuild the table online with %s.",
										   online_rebuild_tool())));
}

void
check_cluster(Node *stmt, RuleContext *ctx)
{
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);

	if (e == NULL)
		return;
	rule_violation(ctx, &e->facts,
				   ctx->plan->everything ?
				   psprintf("CLUSTER would rewrite large table \"%s\" (among the clustered tables) under an ACCESS EXCLUSIVE lock",
							e->facts.relname) :
				   psprintf("CLUSTER would rewrite large table \"%s\" under an ACCESS EXCLUSIVE lock",
							e->facts.relname),
				   rule_detail(ctx, &e->facts, "Reads and writes wait until the copy ends."),
				   rule_hint(ctx, psprintf("Reorder the table online with %s.",
										   online_rebuild_tool())));
}

void
check_refresh_matview_blocking(Node *stmt, RuleContext *ctx)
{
	PlanEffect *e = plan_first_hazard(ctx->plan, ctx->current->name);
	char	   *safe;

	if (e == NULL)
		return;
	safe = insert_after_keyword(ctx->stmt_text, "view", "CONCURRENTLY");
	rule_violation(ctx, &e->facts,
				   psprintf("REFRESH MATERIALIZED VIEW would block reads of materialized view \"%s\" while its query reads %s",
							e->facts.relname, relfacts_format_size(e->bytes)),
				   rule_detail(ctx, &e->facts,
							   e->also_reads ?
							   "Without CONCURRENTLY the refresh holds an ACCESS EXCLUSIVE lock while its query reads the tables it is built from (sizes summed)." :
							   "Without CONCURRENTLY the refresh holds an ACCESS EXCLUSIVE lock."),
				   rule_hint(ctx, safe ?
							 psprintf("Refresh without blocking reads: %s; (it needs a unique index on the materialized view).", safe) :
							 "Use REFRESH MATERIALIZED VIEW CONCURRENTLY."));
}

void
check_domain_check_validating(Node *stmt, RuleContext *ctx)
{
	PlanEffect *e = plan_largest_hazard(ctx->plan, ctx->current->name);
	AlterDomainStmt *dstmt = (AlterDomainStmt *) stmt;
	Constraint *con;
	char	   *domain;

	if (e == NULL)
		return;
	con = (Constraint *) dstmt->def;
	domain = NameListToQuotedString(dstmt->typeName);
	rule_violation(ctx, &e->facts,
				   psprintf("adding a CHECK constraint to domain %s would scan large table \"%s\" while blocking writes",
							domain, e->facts.relname),
				   rule_detail(ctx, &e->facts,
							   "ALTER DOMAIN checks every row of every table using the domain, under a SHARE lock on each."),
				   rule_hint(ctx, psprintf("Add it without validation, then validate it: %s NOT VALID; ALTER DOMAIN %s VALIDATE CONSTRAINT %s;",
										   ctx->stmt_text, domain,
										   con->conname ? quote_identifier(con->conname) : "<name>")));
}

void
check_domain_not_null_scan(Node *stmt, RuleContext *ctx)
{
	PlanEffect *e = plan_largest_hazard(ctx->plan, ctx->current->name);
	AlterDomainStmt *dstmt = (AlterDomainStmt *) stmt;
	char	   *domain;

	if (e == NULL)
		return;
	domain = NameListToQuotedString(dstmt->typeName);
	rule_violation(ctx, &e->facts,
				   psprintf("ALTER DOMAIN %s SET NOT NULL would scan large table \"%s\" while blocking writes",
							domain, e->facts.relname),
				   rule_detail(ctx, &e->facts,
							   "ALTER DOMAIN ... SET NOT NULL reads every row of every table using the domain, under a SHARE lock on each."),
				   rule_hint(ctx, psprintf("Add it as a CHECK without validation (new rows are checked at once), then validate it when writes may wait: ALTER DOMAIN %s ADD CONSTRAINT %s CHECK (VALUE IS NOT NULL) NOT VALID; ALTER DOMAIN %s VALIDATE CONSTRAINT %s;",
										   domain,
										   quote_identifier(psprintf("%s_not_null", strVal(llast(dstmt->typeName)))),
										   domain,
										   quote_identifier(psprintf("%s_not_null", strVal(llast(dstmt->typeName)))))));
}
