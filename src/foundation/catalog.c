/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Which relations are protected: a per-backend cache over the
 *	  extension's catalog table tombstone.tables, and the OIDs and names of
 *	  the extension's own relations.
 *
 * The planner hook asks, for every relation a query touches, whether it is
 * protected.  That question must cost a hash lookup, not a catalog scan, so
 * answers (positive and negative) are cached in a backend-local hash table
 * and dropped on relcache invalidation (foundation/inval.c):
 *
 *	- an invalidation of one relation drops that relation's entry (protect()
 *	  and every ALTER TABLE invalidate the relation they change);
 *	- an invalidation of the catalog table itself, or of all relations, drops
 *	  everything (the extension was dropped or re-created).
 *
 * The catalog records partitions and inheritance children too (with the
 * ancestor they are protected through), so a lookup never has to walk
 * pg_inherits.
 *
 * Whether a relation holds any tuple at all is answered here too
 * (TombstoneRelationIsEmpty()): a TRUNCATE of an empty table loses nothing.
 *
 * This is the lowest layer that knows what protection is: every other
 * subsystem asks here, and nothing here calls up.
 *
 * src/foundation/catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "executor/tuptable.h"
#include "storage/bufmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "foundation/catalog.h"
#include "foundation/inval.h"
#include "foundation/names.h"

/* Column numbers of tombstone.tables; they follow the extension script. */
#define Anum_tables_relid			1
#define Anum_tables_tenant_column	2
#define Anum_tables_retention		3
#define Anum_tables_parent			5
#define Anum_tables_protected_at	6
#define Anum_tables_history_table	7

static HTAB *rel_cache = NULL;

/* OIDs of tombstone.tables, the ledger and its sequence, once found */
static Oid	catalog_relid = InvalidOid;
static Oid	ledger_relid = InvalidOid;
static Oid	ledger_seq_relid = InvalidOid;

/* the last relation TombstoneQualifiedName() was asked for, and its name */
static Oid	qualname_relid = InvalidOid;
static char *qualname = NULL;

/* A schema was renamed (or changed): qualified names may have changed. */
static void
namespace_cache_callback(uint32 hashvalue)
{
	qualname_relid = InvalidOid;
}

/*
 * A relation was invalidated: forget what it was, or everything when the
 * catalog itself (or every relation) is invalidated.
 */
static void
rel_cache_callback(Oid relid)
{
	HASH_SEQ_STATUS status;
	TombstoneRel *entry;

	/* dropped or recreated with the extension: look them up again */
	if (!OidIsValid(relid) || relid == ledger_relid || relid == ledger_seq_relid)
		ledger_relid = ledger_seq_relid = InvalidOid;
	if (!OidIsValid(relid) || relid == qualname_relid)
		qualname_relid = InvalidOid;

	if (OidIsValid(relid) && relid != catalog_relid)
	{
		if (rel_cache != NULL)
			hash_search(rel_cache, &relid, HASH_REMOVE, NULL);
		return;
	}

	catalog_relid = InvalidOid;
	if (rel_cache == NULL)
		return;
	hash_seq_init(&status, rel_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		hash_search(rel_cache, &entry->relid, HASH_REMOVE, NULL);
}

/*
 * Follow invalidations; from _PG_init, and at the first use of a cache in a
 * backend that loaded the library on demand.
 */
void
TombstoneCatalogInit(void)
{
	TombstoneOnRelcacheInval(rel_cache_callback);
	TombstoneOnSyscacheInval(NAMESPACEOID, namespace_cache_callback);
}

/*
 * The OID of relation "name" in the extension's schema, kept in *cache once
 * found (the relcache callback forgets it); InvalidOid when the extension is
 * not installed in this database.  Two syscache probes when not yet known.
 */
static Oid
extension_relid(Oid *cache, const char *name)
{
	Oid			nspid;

	if (OidIsValid(*cache))
		return *cache;
	TombstoneCatalogInit();
	nspid = get_namespace_oid(TOMBSTONE_SCHEMA, true);
	if (!OidIsValid(nspid))
		return InvalidOid;
	*cache = get_relname_relid(name, nspid);
	return *cache;
}

/* The OID of tombstone.tables, or InvalidOid. */
Oid
TombstoneCatalogRelid(void)
{
	return extension_relid(&catalog_relid, TOMBSTONE_CATALOG);
}

/*
 * Read the catalog row of one relation into entry; false when there is none.
 */
static bool
load_entry(Oid catrelid, Oid relid, TombstoneRel *entry)
{
	Relation	catrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	Snapshot	snapshot;
	bool		found = false;

	catrel = table_open(catrelid, AccessShareLock);
	ScanKeyInit(&key, Anum_tables_relid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(catrel, InvalidOid, false, snapshot, 1, &key);

	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d;

		d = heap_getattr(tup, Anum_tables_tenant_column,
						 RelationGetDescr(catrel), &isnull);
		if (isnull)
			elog(ERROR, "tombstone.tables has no tenant column for relation %u",
				 relid);
		namestrcpy(&entry->tenant_column, NameStr(*DatumGetName(d)));
		d = heap_getattr(tup, Anum_tables_parent,
						 RelationGetDescr(catrel), &isnull);
		entry->parent = isnull ? InvalidOid : DatumGetObjectId(d);
		entry->root = isnull ? relid : entry->parent;
		d = heap_getattr(tup, Anum_tables_retention,
						 RelationGetDescr(catrel), &isnull);
		if (!isnull)
			entry->retention = *DatumGetIntervalP(d);
		d = heap_getattr(tup, Anum_tables_history_table,
						 RelationGetDescr(catrel), &isnull);
		entry->history_relid = isnull ? InvalidOid : DatumGetObjectId(d);
		d = heap_getattr(tup, Anum_tables_protected_at,
						 RelationGetDescr(catrel), &isnull);
		entry->history_since = isnull ? DT_NOBEGIN : DatumGetTimestampTz(d);
		found = true;
	}

	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(catrel, AccessShareLock);
	return found;
}

/*
 * Whether relid is protected, and how.  Returns NULL for a relation that is
 * not protected (or when the extension is not installed).  The result points
 * into the cache and is valid until the next invalidation is processed.
 */
const TombstoneRel *
TombstoneRelLookup(Oid relid)
{
	TombstoneRel *entry;
	TombstoneRel tmp;
	bool		found;
	Oid			catrelid;

	if (rel_cache == NULL)
	{
		HASHCTL		ctl;

		TombstoneCatalogInit();
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(TombstoneRel);
		ctl.hcxt = CacheMemoryContext;
		rel_cache = hash_create("pg_tombstone protected relations", 64, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	entry = hash_search(rel_cache, &relid, HASH_FIND, NULL);
	if (entry != NULL)
		return entry->is_protected ? entry : NULL;

	catrelid = TombstoneCatalogRelid();
	if (!OidIsValid(catrelid) || relid == catrelid)
		return NULL;

	/*
	 * Build the entry in a local variable first: reading the catalog may
	 * process invalidations that modify the hash table.
	 */
	memset(&tmp, 0, sizeof(tmp));
	tmp.relid = relid;
	tmp.is_protected = load_entry(catrelid, relid, &tmp);
	if (tmp.is_protected && OidIsValid(tmp.parent))
	{
		TombstoneRel root;

		/* history and retention are the root's */
		memset(&root, 0, sizeof(root));
		if (load_entry(catrelid, tmp.parent, &root))
		{
			tmp.history_relid = root.history_relid;
			tmp.retention = root.retention;
			tmp.history_since = root.history_since;
		}
	}
	if (tmp.is_protected)
	{
		tmp.deleted_at_attno = get_attnum(relid, TOMBSTONE_DELETED_AT);
		tmp.deleted_change_attno = get_attnum(relid, TOMBSTONE_DELETED_CHANGE);
		tmp.tenant_attno = get_attnum(relid, NameStr(tmp.tenant_column));
		if (OidIsValid(tmp.history_relid))
		{
			tmp.valid_from_attno = get_attnum(relid, TOMBSTONE_VALID_FROM);
			if (tmp.valid_from_attno == InvalidAttrNumber)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("protected table \"%s\" has no column \"%s\"",
								get_rel_name(relid), TOMBSTONE_VALID_FROM)));
		}

		/*
		 * The DDL guard keeps these columns in place; if one is missing
		 * anyway, refuse to guess rather than treat the table as unprotected.
		 */
		if (tmp.deleted_at_attno == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("protected table \"%s\" has no column \"%s\"",
							get_rel_name(relid), TOMBSTONE_DELETED_AT)));
	}

	entry = hash_search(rel_cache, &relid, HASH_ENTER, &found);
	memcpy(entry, &tmp, sizeof(tmp));
	return entry->is_protected ? entry : NULL;
}

/*
 * The first protected relation for which match(relid, arg) holds (any, when
 * match is NULL), or InvalidOid.  Reads the whole catalog: for DDL paths
 * only.
 */
Oid
TombstoneFindProtected(bool (*match) (Oid relid, void *arg), void *arg)
{
	Oid			catrelid = TombstoneCatalogRelid();
	Relation	catrel;
	SysScanDesc scan;
	Snapshot	snapshot;
	HeapTuple	tup;
	Oid			found = InvalidOid;

	if (!OidIsValid(catrelid))
		return InvalidOid;
	catrel = table_open(catrelid, AccessShareLock);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(catrel, InvalidOid, false, snapshot, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Oid			relid;

		relid = DatumGetObjectId(heap_getattr(tup, Anum_tables_relid,
											  RelationGetDescr(catrel),
											  &isnull));
		if (!isnull && (match == NULL || match(relid, arg)))
		{
			found = relid;
			break;
		}
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(catrel, AccessShareLock);
	return found;
}

/*
 * Is any table protected?
 */
bool
TombstoneAnyProtected(void)
{
	return OidIsValid(TombstoneFindProtected(NULL, NULL));
}

/*
 * The protected tables that are not protected through an ancestor, that is,
 * the tables protect() was called on.  Reads the whole catalog.
 */
List *
TombstoneProtectedRoots(void)
{
	Oid			catrelid = TombstoneCatalogRelid();
	Relation	catrel;
	SysScanDesc scan;
	Snapshot	snapshot;
	HeapTuple	tup;
	List	   *roots = NIL;

	if (!OidIsValid(catrelid))
		return NIL;
	catrel = table_open(catrelid, AccessShareLock);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(catrel, InvalidOid, false, snapshot, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		relid_null;
		bool		parent_null;
		Datum		relid;

		relid = heap_getattr(tup, Anum_tables_relid, RelationGetDescr(catrel),
							 &relid_null);
		(void) heap_getattr(tup, Anum_tables_parent, RelationGetDescr(catrel),
							&parent_null);
		if (!relid_null && parent_null)
			roots = lappend_oid(roots, DatumGetObjectId(relid));
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(catrel, AccessShareLock);
	return roots;
}

/*
 * A relation's name, schema-qualified and quoted for SQL text.
 */
char *
TombstoneQualifiedName(Oid relid)
{
	/*
	 * The last name asked for is kept: every ledger entry names its tables.
	 * It is forgotten when the relation changes (RENAME, SET SCHEMA) and
	 * when any schema does.
	 */
	if (relid != qualname_relid || qualname == NULL)
	{
		char	   *nspname = get_namespace_name(get_rel_namespace(relid));
		char	   *relname = get_rel_name(relid);

		TombstoneCatalogInit();
		if (nspname == NULL || relname == NULL)
			elog(ERROR, "cache lookup failed for relation %u", relid);
		if (qualname != NULL)
			pfree(qualname);
		qualname = MemoryContextStrdup(TopMemoryContext,
									   quote_qualified_identifier(nspname, relname));
		qualname_relid = relid;
	}
	return pstrdup(qualname);
}

/* The OID of the ledger tombstone.changes, or InvalidOid. */
Oid
TombstoneLedgerRelid(void)
{
	return extension_relid(&ledger_relid, TOMBSTONE_LEDGER);
}

/* The OID of the sequence of change ids, or InvalidOid. */
Oid
TombstoneLedgerSeqRelid(void)
{
	return extension_relid(&ledger_seq_relid, TOMBSTONE_LEDGER_SEQ);
}

/*
 * The names of the columns of relid whose numbers are in keys, an int2[]
 * such as pg_constraint.conkey; their count goes to *nkeys.
 */
char	  **
TombstoneColumnNames(Oid relid, Datum keys, int *nkeys)
{
	ArrayType  *arr = DatumGetArrayTypeP(keys);
	int16	   *attnums = (int16 *) ARR_DATA_PTR(arr);
	int			n = ARR_DIMS(arr)[0];
	char	  **names = palloc(sizeof(char *) * n);
	int			i;

	for (i = 0; i < n; i++)
		names[i] = get_attname(relid, attnums[i], false);
	*nkeys = n;
	return names;
}

/*
 * The owner of a relation.
 */
Oid
TombstoneRelationOwner(Oid relid)
{
	HeapTuple	tup;
	Oid			owner;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * The protected table whose history table histrelid is, or InvalidOid.
 * Reads the whole catalog: for DDL paths only.
 */
static bool
has_history_table(Oid relid, void *arg)
{
	const TombstoneRel *trel = TombstoneRelLookup(relid);

	return trel != NULL && !OidIsValid(trel->parent) &&
		trel->history_relid == *(Oid *) arg;
}

Oid
TombstoneHistoryBase(Oid histrelid)
{
	return TombstoneFindProtected(has_history_table, &histrelid);
}

/*
 * Does rel hold no tuple at all: none live, none dead, none that another
 * transaction has yet to commit?  Then a TRUNCATE of it destroys nothing,
 * as the one pg_restore -j sends before it loads a table it has just
 * created, and a COPY FROM into a history table adds to no history.  The
 * caller holds the lock TRUNCATE (or COPY) takes, so no row can arrive in
 * between.  A partitioned table has no rows of its own.
 */
bool
TombstoneRelationIsEmpty(Relation rel)
{
	TableScanDesc scan;
	TupleTableSlot *slot;
	bool		empty;

	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ||
		RelationGetNumberOfBlocks(rel) == 0)
		return true;
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, SnapshotAny, 0, NULL);
	empty = !table_scan_getnextslot(scan, ForwardScanDirection, slot);
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return empty;
}
