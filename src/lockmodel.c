/*-------------------------------------------------------------------------
 *
 * lockmodel.c
 *		Which existing relations a utility statement locks, and how strongly.
 *
 * The guard asks this before a statement runs: a statement that takes a
 * lock stronger than SHARE UPDATE EXCLUSIVE on an existing relation is a
 * guarded DDL.  The answers come from the facts the commands themselves use
 * (AlterTableGetLockLevel for ALTER TABLE, and so on); nothing here takes a
 * lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "catalog/index.h"
#include "catalog/namespace.h"
#include "commands/defrem.h"
#include "commands/tablecmds.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/lsyscache.h"

static void
add_relid(GuardTarget *target, Oid relid, LOCKMODE mode)
{
	int			i;

	if (!OidIsValid(relid) || get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		return;
	for (i = 0; i < target->nrels; i++)
		if (target->relids[i] == relid)
			break;
	if (i == target->nrels)
	{
		if (target->nrels == MG_MAX_GUARD_RELS)
			return;
		target->relids[i] = relid;
		target->relmodes[i] = NoLock;
		target->nrels++;
	}
	if (mode > target->relmodes[i])
		target->relmodes[i] = mode;
	if (mode > target->lockmode)
		target->lockmode = mode;
}

static void
add_rangevar(GuardTarget *target, RangeVar *rv, LOCKMODE mode)
{
	if (rv != NULL)
		add_relid(target, RangeVarGetRelid(rv, NoLock, true), mode);
}

/* Does the current user own every relation of the target? */
static bool
owns_all(const GuardTarget *target)
{
	int			i;

	if (superuser())
		return true;
	for (i = 0; i < target->nrels; i++)
		if (!mg_relation_ownercheck(target->relids[i], GetUserId()))
			return false;
	return true;
}

/* Is the boolean option "name" of a utility statement on? */
bool
statement_option_on(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *opt = (DefElem *) lfirst(lc);

		if (strcmp(opt->defname, name) == 0)
			return defGetBoolean(opt);
	}
	return false;
}

/*
 * Find the existing relations a statement locks and the strongest lock it
 * takes, from the same facts the commands themselves use.  Returns true when
 * the statement is guarded.  Only looks names up; takes no lock.
 */
bool
guard_classify(Node *parsetree, GuardTarget *target)
{
	ListCell   *lc;

	memset(target, 0, sizeof(GuardTarget));
	target->lockmode = NoLock;
	target->retryable = true;

	switch (nodeTag(parsetree))
	{
		case T_AlterTableStmt:
			{
				AlterTableStmt *stmt = (AlterTableStmt *) parsetree;

				add_rangevar(target, stmt->relation,
							 AlterTableGetLockLevel(stmt->cmds));
				break;
			}
		case T_IndexStmt:
			{
				IndexStmt  *stmt = (IndexStmt *) parsetree;

				if (!stmt->concurrent)
					add_rangevar(target, stmt->relation, ShareLock);
				break;
			}
		case T_DropStmt:
			{
				DropStmt   *stmt = (DropStmt *) parsetree;

				if (stmt->concurrent)
					break;
				switch (stmt->removeType)
				{
					case OBJECT_TABLE:
					case OBJECT_MATVIEW:
					case OBJECT_VIEW:
					case OBJECT_FOREIGN_TABLE:
					case OBJECT_SEQUENCE:
					case OBJECT_INDEX:
						foreach(lc, stmt->objects)
						{
							RangeVar   *rv = makeRangeVarFromNameList((List *) lfirst(lc));
							Oid			relid = RangeVarGetRelid(rv, NoLock, true);

							/* dropping an index locks its table too */
							if (stmt->removeType == OBJECT_INDEX && OidIsValid(relid))
								add_relid(target, IndexGetRelation(relid, true),
										  AccessExclusiveLock);
							add_relid(target, relid, AccessExclusiveLock);
						}
						break;
					default:
						break;
				}
				break;
			}
		case T_RenameStmt:
			{
				RenameStmt *stmt = (RenameStmt *) parsetree;

				/* renaming an index takes SHARE UPDATE EXCLUSIVE only */
				if (stmt->relation != NULL && stmt->renameType != OBJECT_INDEX)
					add_rangevar(target, stmt->relation, AccessExclusiveLock);
				break;
			}
		case T_TruncateStmt:
			foreach(lc, ((TruncateStmt *) parsetree)->relations)
				add_rangevar(target, (RangeVar *) lfirst(lc), AccessExclusiveLock);
			break;
		case T_VacuumStmt:
			{
				VacuumStmt *stmt = (VacuumStmt *) parsetree;

				/*
				 * VACUUM refuses to run inside a subtransaction, and commits
				 * a transaction per table
				 */
				target->retryable = false;
				target->own_transactions = true;
				if (stmt->is_vacuumcmd && statement_option_on(stmt->options, "full"))
					foreach(lc, stmt->rels)
						add_rangevar(target, ((VacuumRelation *) lfirst(lc))->relation,
									 AccessExclusiveLock);
				break;
			}
		case T_ClusterStmt:
			target->retryable = false;
			add_rangevar(target, ((ClusterStmt *) parsetree)->relation,
						 AccessExclusiveLock);
			break;
		case T_RefreshMatViewStmt:
			{
				RefreshMatViewStmt *stmt = (RefreshMatViewStmt *) parsetree;

				add_rangevar(target, stmt->relation,
							 stmt->concurrent ? ExclusiveLock : AccessExclusiveLock);
				break;
			}
		case T_ReindexStmt:
			{
				ReindexStmt *stmt = (ReindexStmt *) parsetree;

				/*
				 * A partitioned REINDEX refuses subtransactions and commits a
				 * transaction per partition.
				 */
				target->retryable = false;
				target->own_transactions = true;
				if (mg_reindex_concurrent(stmt) || stmt->relation == NULL)
					break;
				if (stmt->kind == REINDEX_OBJECT_INDEX)
				{
					Oid			indexid = RangeVarGetRelid(stmt->relation, NoLock, true);

					add_relid(target, indexid, AccessExclusiveLock);
					if (OidIsValid(indexid))
						add_relid(target, IndexGetRelation(indexid, true), ShareLock);
				}
				else if (stmt->kind == REINDEX_OBJECT_TABLE)
					add_rangevar(target, stmt->relation, ShareLock);
				break;
			}
		case T_LockStmt:
			{
				LockStmt   *stmt = (LockStmt *) parsetree;

				/* in a subtransaction it would escape "only in transaction blocks" */
				target->retryable = false;
				foreach(lc, stmt->relations)
					add_rangevar(target, (RangeVar *) lfirst(lc), stmt->mode);
				break;
			}
		case T_CreateTrigStmt:
			add_rangevar(target, ((CreateTrigStmt *) parsetree)->relation,
						 ShareRowExclusiveLock);
			break;
		case T_CreateStmt:
			{
				CreateStmt *stmt = (CreateStmt *) parsetree;

				/* CREATE TABLE ... PARTITION OF locks the parent */
				if (stmt->partbound != NULL && stmt->inhRelations != NIL)
					add_rangevar(target, linitial(stmt->inhRelations),
								 AccessExclusiveLock);
				break;
			}
		default:
			break;
	}

	target->owner_checked = owns_all(target);
	return target->nrels > 0 && target->lockmode > ShareUpdateExclusiveLock;
}

