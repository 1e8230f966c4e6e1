/*-------------------------------------------------------------------------
 *
 * relfacts.c
 *		Facts about a relation that rules decide on: its size on disk, its
 *		estimated rows, whether this transaction created it.
 *
 * Nothing here takes a lock on the relation.  The statement being checked
 * has not taken its own lock yet, and taking a weaker one first would queue
 * migguard itself, or set up a lock upgrade that can deadlock.  The size
 * is read from the files the catalog entry points to; a relation dropped
 * meanwhile simply measures zero.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_tablespace_d.h"
#include "common/relpath.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/relmapper.h"
#include "utils/syscache.h"

/* Bytes in every segment of every fork of one relation's storage. */
static int64
storage_bytes(Form_pg_class cls, Oid relid)
{
	MgRelFile	rf;
	Oid			filenode = cls->relfilenode;
	int64		total = 0;
	ForkNumber	fork;

	if (!RELKIND_HAS_STORAGE(cls->relkind))
		return 0;
	if (!OidIsValid(filenode))
		filenode = mg_relation_map_filenode(relid, cls->relisshared);
	if (!OidIsValid(filenode))
		return 0;

	MG_RELFILE_SET(rf,
				   OidIsValid(cls->reltablespace) ? cls->reltablespace :
				   (cls->relisshared ? GLOBALTABLESPACE_OID : MyDatabaseTableSpace),
				   cls->relisshared ? InvalidOid : MyDatabaseId,
				   filenode);

	for (fork = 0; fork <= MAX_FORKNUM; fork++)
	{
		char	   *path = mg_relpath(rf, fork);
		unsigned int segno;

		for (segno = 0;; segno++)
		{
			char		segpath[MAXPGPATH];
			struct stat st;

			CHECK_FOR_INTERRUPTS();
			if (segno == 0)
				snprintf(segpath, sizeof(segpath), "%s", path);
			else
				snprintf(segpath, sizeof(segpath), "%s.%u", path, segno);
			if (stat(segpath, &st) < 0)
				break;
			total += st.st_size;
		}
		pfree(path);
	}
	return total;
}

/* Size and row estimate of one relation with storage, plus its TOAST. */
static void
leaf_size(Oid relid, int64 *bytes, double *rows)
{
	HeapTuple	tup;
	Form_pg_class cls;
	Oid			toastrelid;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		return;
	cls = (Form_pg_class) GETSTRUCT(tup);
	*bytes += storage_bytes(cls, relid);
	if (cls->reltuples > 0)
		*rows += cls->reltuples;
	toastrelid = cls->reltoastrelid;
	ReleaseSysCache(tup);

	if (OidIsValid(toastrelid))
	{
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(toastrelid));
		if (HeapTupleIsValid(tup))
		{
			*bytes += storage_bytes((Form_pg_class) GETSTRUCT(tup), toastrelid);
			ReleaseSysCache(tup);
		}
	}
}

/*
 * Did the current transaction create this relation?  Only then can its
 * pg_class row carry our xmin without us holding a lock on it already, so
 * the relcache lookup below is safe.
 */
static bool
created_in_this_xact(HeapTuple classtup, Oid relid)
{
	Relation	rel;
	bool		created;

	if (!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(classtup->t_data)))
		return false;
	rel = RelationIdGetRelation(relid);
	if (!RelationIsValid(rel))
		return false;
	created = rel->rd_createSubid != InvalidSubTransactionId;
	RelationClose(rel);
	return created;
}

/*
 * Can no other session wait for a lock on relid?  So it is for a temporary
 * relation, and for one this transaction created, which no one else can
 * see yet.  A relation dropped in this transaction is not: others may wait
 * on it until the drop commits.
 */
bool
relfacts_private(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		private;

	if (!HeapTupleIsValid(tup))
		return false;
	private = ((Form_pg_class) GETSTRUCT(tup))->relpersistence == RELPERSISTENCE_TEMP ||
		created_in_this_xact(tup, relid);
	ReleaseSysCache(tup);
	return private;
}

/*
 * Facts gathered for the statement being checked: several rules ask about
 * the same relation, and its size costs a stat() per segment.  Kept only
 * between relfacts_remember() and relfacts_forget(), in the memory of the
 * statement being checked.
 */
static bool remembering = false;
static List *facts_memo = NIL;

void
relfacts_remember(void)
{
	remembering = true;
	facts_memo = NIL;
}

void
relfacts_forget(void)
{
	remembering = false;
	facts_memo = NIL;
}

static bool relfacts_gather(Oid relid, RelFacts *facts);
static bool relfacts_gather_what(Oid relid, RelFacts *facts, bool measure);

/*
 * The facts about relid.  Returns false when the relation does not exist
 * (any more).
 */
bool
relfacts_get(Oid relid, RelFacts *facts)
{
	ListCell   *lc;
	RelFacts   *copy;

	foreach(lc, facts_memo)
	{
		RelFacts   *known = (RelFacts *) lfirst(lc);

		if (known->relid == relid)
		{
			*facts = *known;
			return true;
		}
	}
	if (!relfacts_gather(relid, facts))
		return false;
	if (!remembering)
		return true;
	copy = palloc(sizeof(RelFacts));
	*copy = *facts;
	facts_memo = lappend(facts_memo, copy);
	return true;
}

/*
 * What a relation is, without its size: name, kind, temporary, created in
 * this transaction.  No stat(): for rules about names, not sizes.
 */
bool
relfacts_identify(Oid relid, RelFacts *facts)
{
	return relfacts_gather_what(relid, facts, false);
}

static bool
relfacts_gather(Oid relid, RelFacts *facts)
{
	return relfacts_gather_what(relid, facts, true);
}

static bool
relfacts_gather_what(Oid relid, RelFacts *facts, bool measure)
{
	HeapTuple	tup;
	Form_pg_class cls;
	char		relkind;

	memset(facts, 0, sizeof(*facts));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		return false;
	cls = (Form_pg_class) GETSTRUCT(tup);
	relkind = cls->relkind;
	facts->relid = relid;
	facts->relkind = relkind;
	facts->relname = pstrdup(NameStr(cls->relname));
	facts->nspname = get_namespace_name(cls->relnamespace);
	facts->is_temp = cls->relpersistence == RELPERSISTENCE_TEMP;
	facts->created_in_xact = created_in_this_xact(tup, relid);
	facts->est_rows = mg_reltuples(cls);
	ReleaseSysCache(tup);

	/* private to this session, or new: nobody to block, whatever the size */
	if (facts->is_temp || facts->created_in_xact || !measure)
		return true;

	if (relkind == RELKIND_PARTITIONED_TABLE ||
		relkind == RELKIND_PARTITIONED_INDEX)
	{
		List	   *members = find_all_inheritors(relid, NoLock, NULL);
		ListCell   *lc;

		facts->est_rows = 0;
		foreach(lc, members)
			leaf_size(lfirst_oid(lc), &facts->size_bytes, &facts->est_rows);
		list_free(members);
	}
	else
	{
		double		ignored = 0;

		leaf_size(relid, &facts->size_bytes, &ignored);
	}

	facts->is_large = facts->size_bytes > 0 &&
		facts->size_bytes >= (int64) migguard_large_table_size_kb * 1024;
	return true;
}

/*
 * Bytes and estimated rows of relid and every relation that inherits from
 * it (partitions, inheritance children, at every level): what an ALTER
 * that recurses processes.  A stat() per segment of each, so asked only
 * when a rule needs the size.
 */
void
relfacts_tree(Oid relid, int64 *bytes, double *rows)
{
	List	   *members = find_all_inheritors(relid, NoLock, NULL);
	ListCell   *lc;

	*bytes = 0;
	*rows = 0;
	foreach(lc, members)
	{
		CHECK_FOR_INTERRUPTS();
		leaf_size(lfirst_oid(lc), bytes, rows);
	}
	list_free(members);
}

/* The access method of a relation (pg_class.relam), or InvalidOid. */
Oid
relfacts_am(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			am;

	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	am = ((Form_pg_class) GETSTRUCT(tup))->relam;
	ReleaseSysCache(tup);
	return am;
}

/* The OIDs of relid's indexes, read from pg_index as it is, without a lock. */
List *
relfacts_indexes(Oid relid)
{
	Relation	indrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	List	   *indexes = NIL;

	indrel = table_open(IndexRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_index_indrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(indrel, IndexIndrelidIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		indexes = lappend_oid(indexes, ((Form_pg_index) GETSTRUCT(tup))->indexrelid);
	systable_endscan(scan);
	table_close(indrel, AccessShareLock);
	return indexes;
}

/*
 * Relations no rule about locks applies to: private ones, ones this
 * transaction created (nobody else can see them yet), and empty ones.
 */
bool
relfacts_exempt(const RelFacts *facts)
{
	return facts->is_temp || facts->created_in_xact || facts->size_bytes == 0;
}

/*
 * The relation a statement names, as PostgreSQL will look it up, without
 * a lock; InvalidOid if there is none.  The planner and the lock model ask
 * about the same names of one statement: the answers are kept until
 * relfacts_new_statement(), keyed by the node itself, which lives as long
 * as the statement.
 */
#define RANGEVAR_MEMO_SIZE 4

static struct
{
	const RangeVar *rv;
	Oid			relid;
}			rangevar_memo[RANGEVAR_MEMO_SIZE];
static int	rangevar_memo_next = 0;

void
relfacts_new_statement(void)
{
	memset(rangevar_memo, 0, sizeof(rangevar_memo));
	rangevar_memo_next = 0;
}

Oid
relfacts_rangevar_relid(RangeVar *rv)
{
	Oid			relid;
	int			i;

	if (rv == NULL)
		return InvalidOid;
	for (i = 0; i < RANGEVAR_MEMO_SIZE; i++)
		if (rangevar_memo[i].rv == rv)
			return rangevar_memo[i].relid;
	relid = RangeVarGetRelid(rv, NoLock, true);
	rangevar_memo[rangevar_memo_next].rv = rv;
	rangevar_memo[rangevar_memo_next].relid = relid;
	rangevar_memo_next = (rangevar_memo_next + 1) % RANGEVAR_MEMO_SIZE;
	return relid;
}

/*
 * The schema-qualified, quoted name of relid into buf, cut to size; false
 * if the relation is gone.  For the guard, which names every relation it
 * registers: no palloc'd copy, no format string.
 */
bool
relfacts_relation_name_into(Oid relid, char *buf, Size size)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class cls;
	char	   *nspname;

	if (!HeapTupleIsValid(tup))
		return false;
	cls = (Form_pg_class) GETSTRUCT(tup);
	nspname = get_namespace_name(cls->relnamespace);
	strlcpy(buf, nspname ? quote_identifier(nspname) : "?", size);
	strlcat(buf, ".", size);
	strlcat(buf, quote_identifier(NameStr(cls->relname)), size);
	ReleaseSysCache(tup);
	return true;
}

/* The schema-qualified, quoted name of relid, or NULL if it is gone. */
char *
relfacts_relation_name(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class cls;
	char	   *name;

	if (!HeapTupleIsValid(tup))
		return NULL;
	cls = (Form_pg_class) GETSTRUCT(tup);
	name = quote_qualified_identifier(get_namespace_name(cls->relnamespace),
									  NameStr(cls->relname));
	ReleaseSysCache(tup);
	return name;
}

/* "5.2 GB"-style rendering for messages. */
char *
relfacts_format_size(int64 bytes)
{
	return text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty,
															  Int64GetDatum(bytes))));
}
