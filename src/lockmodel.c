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

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_tablespace.h"
#include "commands/defrem.h"
#include "commands/tablecmds.h"
#include "commands/tablespace.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

/*
 * Does the current user own every relation seen so far?  Reset by
 * guard_classify; relations beyond MG_MAX_GUARD_RELS count too.
 */
static bool all_owned;

/*
 * The statement locks relid in "mode".  Remember it, keep the strongest
 * mode, and note whether the current user owns it.
 */
static void
add_relid(GuardTarget *target, Oid relid, LOCKMODE mode)
{
	int			i;

	/* nobody else can wait for a temporary or new relation */
	if (!OidIsValid(relid) || relfacts_private(relid))
		return;
	if (!mg_relation_ownercheck(relid, GetUserId()))
		all_owned = false;
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

static Oid
rangevar_relid(RangeVar *rv)
{
	return relfacts_rangevar_relid(rv);
}

static void
add_rangevar(GuardTarget *target, RangeVar *rv, LOCKMODE mode)
{
	add_relid(target, rangevar_relid(rv), mode);
}

/*
 * relid and, when it has any, its partitions or inheritance children, as
 * the commands lock them with find_all_inheritors.  Reads pg_inherits only.
 */
static void
add_with_children(GuardTarget *target, Oid relid, LOCKMODE mode)
{
	ListCell   *lc;

	if (!OidIsValid(relid))
		return;
	add_relid(target, relid, mode);
	if (!get_rel_relkind(relid) || !has_subclass(relid))
		return;
	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
		add_relid(target, lfirst_oid(lc), mode);
}

/* The relation a trigger, rule or policy name ("schema.table.name") is on. */
static Oid
relobject_relid(List *object)
{
	List	   *relname;

	if (list_length(object) < 2)
		return InvalidOid;
	relname = list_truncate(list_copy(object), list_length(object) - 1);
	return RangeVarGetRelid(makeRangeVarFromNameList(relname), NoLock, true);
}

/*
 * The tables on the other side of relid's foreign keys, which attaching or
 * creating a partition of relid locks in SHARE ROW EXCLUSIVE mode to clone
 * them (CloneFkReferencing, CloneFkReferenced): the tables relid's foreign
 * keys reference, with their partitions, and the tables whose foreign keys
 * reference relid.
 */
static void
add_foreign_key_peers(GuardTarget *target, Oid relid)
{
	Relation	conrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;

	conrel = table_open(ConstraintRelationId, AccessShareLock);

	ScanKeyInit(&key, Anum_pg_constraint_conrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(conrel, ConstraintRelidTypidNameIndexId, true,
							  NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);

		if (con->contype == CONSTRAINT_FOREIGN)
			add_with_children(target, con->confrelid, ShareRowExclusiveLock);
	}
	systable_endscan(scan);

	/* no index leads from the referenced table to its foreign keys */
	ScanKeyInit(&key, Anum_pg_constraint_confrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(conrel, InvalidOid, false, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);

		if (con->contype == CONSTRAINT_FOREIGN)
			add_relid(target, con->conrelid, ShareRowExclusiveLock);
	}
	systable_endscan(scan);

	table_close(conrel, AccessShareLock);
}

/*
 * A new foreign key locks the table it references, and that table's
 * partitions, in SHARE ROW EXCLUSIVE mode (ATAddForeignKeyConstraint,
 * addFkRecurseReferenced).  "constraints" is a list of Constraint nodes or
 * of anything else, which is skipped.
 */
static void
add_referenced_tables(GuardTarget *target, List *constraints)
{
	ListCell   *lc;

	foreach(lc, constraints)
	{
		Constraint *con = (Constraint *) lfirst(lc);

		if (IsA(con, Constraint) && con->contype == CONSTR_FOREIGN)
			add_with_children(target, rangevar_relid(con->pktable),
							  ShareRowExclusiveLock);
	}
}

/* Foreign keys among the columns and constraints of a table's definition. */
static void
add_definition_references(GuardTarget *target, List *elements)
{
	ListCell   *lc;

	add_referenced_tables(target, elements);
	foreach(lc, elements)
		if (IsA(lfirst(lc), ColumnDef))
			add_referenced_tables(target, ((ColumnDef *) lfirst(lc))->constraints);
}

/*
 * The relations an ALTER TABLE locks besides the one it names: the
 * partition and the default partition of ATTACH / DETACH PARTITION, the
 * index of ALTER INDEX ... ATTACH PARTITION, the referenced table of a new
 * foreign key.
 */
static void
add_alter_table_others(GuardTarget *target, AlterTableStmt *stmt, Oid relid)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

		switch (cmd->subtype)
		{
			case AT_AttachPartition:
				{
					PartitionCmd *pc = (PartitionCmd *) cmd->def;
					Oid			partid = rangevar_relid(pc->name);

					if (mg_alter_table_objtype(stmt) == OBJECT_INDEX)
					{
						/* ATExecAttachPartitionIdx */
						add_relid(target, partid, AccessExclusiveLock);
						break;
					}
					/* ATExecAttachPartition, QueuePartitionConstraintValidation */
					if (OidIsValid(relid))
						add_with_children(target, get_default_partition_oid(relid),
										  AccessExclusiveLock);
					add_with_children(target, partid, AccessExclusiveLock);
					if (OidIsValid(partid) && OidIsValid(relid))
						add_foreign_key_peers(target, relid);
					break;
				}
			case AT_DetachPartition:
				{
					PartitionCmd *pc = (PartitionCmd *) cmd->def;

					/*
					 * ATExecDetachPartition; CONCURRENTLY refuses a parent
					 * with a default partition before it locks that
					 */
					if (OidIsValid(relid) && !MG_DETACH_CONCURRENT(pc))
						add_relid(target, get_default_partition_oid(relid),
								  AccessExclusiveLock);
					add_relid(target, rangevar_relid(pc->name),
							  MG_DETACH_CONCURRENT(pc) ? ShareUpdateExclusiveLock :
							  AccessExclusiveLock);
					break;
				}
			case AT_AddConstraint:
				add_referenced_tables(target, list_make1(cmd->def));
				break;
			case AT_AddColumn:
				if (cmd->def != NULL && IsA(cmd->def, ColumnDef))
					add_referenced_tables(target, ((ColumnDef *) cmd->def)->constraints);
				break;
			default:
				break;
		}
	}
}

/*
 * The relation CREATE OR REPLACE VIEW would replace: the one of that name
 * in the namespace the view would be created in (DefineVirtualRelation).
 */
static Oid
replaced_view(RangeVar *view)
{
	Oid			nspid;
	List	   *path;

	/* a temporary view replaces only a temporary one, never guarded */
	if (view->relpersistence == RELPERSISTENCE_TEMP)
		return InvalidOid;
	if (view->schemaname != NULL)
		nspid = get_namespace_oid(view->schemaname, true);
	else
	{
		path = fetch_search_path(false);
		nspid = path != NIL ? linitial_oid(path) : InvalidOid;
	}
	return OidIsValid(nspid) ? get_relname_relid(view->relname, nspid) : InvalidOid;
}

/*
 * The relations ALTER TABLE / INDEX / MATERIALIZED VIEW ALL IN TABLESPACE
 * moves, chosen as AlterTableMoveAll chooses them; each gets ACCESS
 * EXCLUSIVE.
 */
static void
add_tablespace_members(GuardTarget *target, AlterTableMoveAllStmt *stmt)
{
	Oid			orig = get_tablespace_oid(stmt->orig_tablespacename, true);
	Oid			dest = get_tablespace_oid(stmt->new_tablespacename, true);
	List	   *roles = NIL;
	ListCell   *lc;
	Relation	classrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;

	if (!OidIsValid(orig) || !OidIsValid(dest) ||
		orig == GLOBALTABLESPACE_OID || dest == GLOBALTABLESPACE_OID)
		return;
	if (orig == MyDatabaseTableSpace)
		orig = InvalidOid;
	if (dest == MyDatabaseTableSpace)
		dest = InvalidOid;
	if (orig == dest)
		return;
	foreach(lc, stmt->roles)
	{
		RoleSpec   *role = (RoleSpec *) lfirst(lc);

		/* PostgreSQL's own "role does not exist" comes first */
		if (role->roletype == ROLESPEC_PUBLIC)
			return;
		roles = lappend_oid(roles, get_rolespec_oid(role, true));
	}

	classrel = table_open(RelationRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_class_reltablespace, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(orig));
	scan = systable_beginscan(classrel, InvalidOid, false, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_class rel = (Form_pg_class) GETSTRUCT(tup);
		char		k = rel->relkind;

		CHECK_FOR_INTERRUPTS();
		if (IsCatalogNamespace(rel->relnamespace) || rel->relisshared ||
			isAnyTempNamespace(rel->relnamespace) ||
			IsToastNamespace(rel->relnamespace))
			continue;
		if ((stmt->objtype == OBJECT_TABLE &&
			 k != RELKIND_RELATION && k != RELKIND_PARTITIONED_TABLE) ||
			(stmt->objtype == OBJECT_INDEX &&
			 k != RELKIND_INDEX && k != RELKIND_PARTITIONED_INDEX) ||
			(stmt->objtype == OBJECT_MATVIEW && k != RELKIND_MATVIEW))
			continue;
		if (roles != NIL && !list_member_oid(roles, rel->relowner))
			continue;
		add_relid(target, rel->oid, AccessExclusiveLock);
	}
	systable_endscan(scan);
	table_close(classrel, AccessShareLock);
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
	all_owned = true;

	switch (nodeTag(parsetree))
	{
		case T_AlterTableStmt:
			{
				AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
				Oid			relid = rangevar_relid(stmt->relation);

				add_relid(target, relid, AlterTableGetLockLevel(stmt->cmds));
				add_alter_table_others(target, stmt, relid);
				break;
			}
		case T_AlterTableMoveAllStmt:
			add_tablespace_members(target, (AlterTableMoveAllStmt *) parsetree);
			break;
		case T_AlterSeqStmt:
			/* AlterSequence */
			add_rangevar(target, ((AlterSeqStmt *) parsetree)->sequence,
						 ShareRowExclusiveLock);
			break;
		case T_AlterObjectSchemaStmt:
			{
				AlterObjectSchemaStmt *stmt = (AlterObjectSchemaStmt *) parsetree;
				Oid			relid;

				/* AlterTableNamespace: the relation and its owned sequences */
				if (stmt->relation == NULL)
					break;
				relid = rangevar_relid(stmt->relation);
				add_relid(target, relid, AccessExclusiveLock);
				if (OidIsValid(relid))
					foreach(lc, getOwnedSequences(relid))
						add_relid(target, lfirst_oid(lc), AccessExclusiveLock);
				break;
			}
		case T_CreatePolicyStmt:
			add_rangevar(target, ((CreatePolicyStmt *) parsetree)->table,
						 AccessExclusiveLock);
			break;
		case T_AlterPolicyStmt:
			add_rangevar(target, ((AlterPolicyStmt *) parsetree)->table,
						 AccessExclusiveLock);
			break;
		case T_RuleStmt:
			/* DefineRule */
			add_rangevar(target, ((RuleStmt *) parsetree)->relation,
						 AccessExclusiveLock);
			break;
		case T_ViewStmt:
			{
				ViewStmt   *stmt = (ViewStmt *) parsetree;

				/* DefineVirtualRelation locks a view it replaces */
				if (stmt->replace)
					add_relid(target, replaced_view(stmt->view), AccessExclusiveLock);
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
					case OBJECT_TRIGGER:
					case OBJECT_RULE:
					case OBJECT_POLICY:

						/*
						 * RemoveTriggerById, RemoveRewriteRuleById,
						 * RemovePolicyById; a trigger on a partitioned table
						 * has clones on the partitions, dropped with it.
						 */
						foreach(lc, stmt->objects)
						{
							Oid			relid = relobject_relid((List *) lfirst(lc));

							if (stmt->removeType == OBJECT_TRIGGER)
								add_with_children(target, relid, AccessExclusiveLock);
							else
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

				/*
				 * DefineRelation: CREATE TABLE ... PARTITION OF locks the
				 * parent and its default partition, and clones the parent's
				 * foreign keys; INHERITS takes SHARE UPDATE EXCLUSIVE.  A
				 * foreign key of the new table locks the table it references
				 * (the ALTER TABLE it runs as a subcommand).
				 */
				if (stmt->partbound != NULL && stmt->inhRelations != NIL)
				{
					Oid			parent = rangevar_relid(linitial(stmt->inhRelations));

					add_relid(target, parent, AccessExclusiveLock);
					if (OidIsValid(parent))
					{
						add_relid(target, get_default_partition_oid(parent),
								  AccessExclusiveLock);
						add_foreign_key_peers(target, parent);
					}
				}
				else
					foreach(lc, stmt->inhRelations)
						add_rangevar(target, (RangeVar *) lfirst(lc),
									 ShareUpdateExclusiveLock);
				add_definition_references(target, stmt->tableElts);
				add_referenced_tables(target, stmt->constraints);
				break;
			}
		default:
			break;
	}

	/*
	 * PostgreSQL checks ownership only after it has the lock for some of
	 * these statements; the watcher acts on a statement's behalf only when
	 * its user owns everything it locks.
	 */
	target->owner_checked = all_owned || superuser();
	return target->nrels > 0 && target->lockmode > ShareUpdateExclusiveLock;
}

