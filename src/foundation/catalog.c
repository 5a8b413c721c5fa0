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
 * Which relations may be protected at all is decided here too: not a
 * temporary or unlogged table, not one of the system, of pg_tombstone
 * itself or of another extension (TombstoneCheckProtectable(), for
 * protect() and the internal functions it calls, operations/protect.c).
 * And the extension's own tables (its catalog, tenant registry, keys and
 * token uses) are known by OID here, for the guards of the record
 * (mechanisms/record_guard.c, mechanisms/triggers.c).
 *
 * Whether a relation is empty is answered here too: a TRUNCATE of a table
 * without a tuple loses nothing (TombstoneRelationIsEmpty()), and an INSERT
 * into an empty table of the extension is the restore of a dump
 * (TombstoneRelationHasNoRows()).
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
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "foundation/catalog.h"
#include "foundation/citus.h"
#include "foundation/errcodes.h"
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

/* OIDs of the other tables of the extension, once found */
static Oid	registry_relid = InvalidOid;
static Oid	keys_relid = InvalidOid;
static Oid	secrets_relid = InvalidOid;
static Oid	uses_relid = InvalidOid;
static Oid	cleared_relid = InvalidOid;

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
	if (!OidIsValid(relid) || relid == registry_relid || relid == keys_relid ||
		relid == secrets_relid || relid == uses_relid || relid == cleared_relid)
		registry_relid = keys_relid = secrets_relid = uses_relid =
			cleared_relid = InvalidOid;
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

	/*
	 * A relation of the system (pg_catalog, information_schema) is never
	 * protected, whatever the catalog says: protect() refuses them, and an
	 * entry written otherwise must not make every read of pg_class fail.
	 */
	if (relid < FirstNormalObjectId)
		return NULL;

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
		/* a table of Citus: its shards hold the rows (foundation/citus.c) */
		TombstoneCitusRelation(relid, &tmp.citus_method,
							   &tmp.citus_dist_attno);
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
 * Is relid one of the extension's tables that record what is protected,
 * who may authorise what, and what a change cleared: tombstone.tables,
 * tenant_registry, keys, key_secrets, token_uses, cleared_keys?  (The
 * ledger is TombstoneLedgerRelid().)
 */
bool
TombstoneOwnTable(Oid relid)
{
	if (!OidIsValid(relid))
		return false;
	return relid == TombstoneCatalogRelid() ||
		relid == extension_relid(&registry_relid, TOMBSTONE_REGISTRY) ||
		relid == extension_relid(&keys_relid, "keys") ||
		relid == extension_relid(&secrets_relid, "key_secrets") ||
		relid == extension_relid(&uses_relid, "token_uses") ||
		relid == extension_relid(&cleared_relid, TOMBSTONE_CLEARED_KEYS);
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

/*-------------------------------------------------------------------------
 * Which relations can be protected
 *-------------------------------------------------------------------------
 */

/*
 * The relation relid, which must exist, for internal function funcname;
 * returns its name.
 */
char *
TombstoneRelationArg(Oid relid, const char *funcname)
{
	char	   *relname = OidIsValid(relid) ? get_rel_name(relid) : NULL;

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid),
				 errdetail("%s() was given a table that does not exist.", funcname),
				 errhint("Name an existing table.")));
	return relname;
}

/* The type of column colname of relid, or InvalidOid when there is none */
static Oid
column_type(Oid relid, const char *colname)
{
	AttrNumber	attno = get_attnum(relid, colname);

	return attno > 0 ? get_atttype(relid, attno) : InvalidOid;
}

/*
 * What _register() is about to record must describe a table that
 * protect() could have protected: it exists, belongs to the caller, can
 * be protected, has its tenant and tombstone columns, a partition or child
 * is registered under a protected root it descends from, and a history
 * table is one of schema tombstone_history that no other table uses.
 */
void
TombstoneCheckRegistration(Oid relid, const char *tenant_column,
						   bool history, Oid parent, Oid history_table)
{
	const char *relname = TombstoneRelationArg(relid, "tombstone._register");
	struct
	{
		const char *name;
		Oid			type;
		bool		wanted;
	}			columns[] = {
		{TOMBSTONE_DELETED_AT, TIMESTAMPTZOID, true},
		{TOMBSTONE_DELETED_CHANGE, INT8OID, true},
		{TOMBSTONE_VALID_FROM, TIMESTAMPTZOID, false},
	};
	int			i;

	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, relname);
	TombstoneCheckProtectable(relid, "tombstone._register");
	if (get_attnum(relid, tenant_column) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist",
						tenant_column, relname),
				 errhint("Give the column that holds the tenant id.")));
	columns[2].wanted = history;
	for (i = 0; i < lengthof(columns); i++)
	{
		Oid			type = column_type(relid, columns[i].name);

		if (columns[i].wanted && type != columns[i].type)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("table \"%s\" has no column \"%s\" of type %s",
							relname, columns[i].name,
							format_type_be(columns[i].type)),
					 errhint("Protect tables with tombstone.protect(), which adds the column.")));
	}
	if (OidIsValid(parent))
	{
		const TombstoneRel *ptrel = TombstoneRelLookup(parent);

		if (ptrel == NULL || OidIsValid(ptrel->parent) ||
			OidIsValid(history_table) ||
			!list_member_oid(find_all_inheritors(parent, NoLock, NULL), relid) ||
			relid == parent)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("table \"%s\" cannot be protected through table \"%s\"",
							relname, get_rel_name(parent) ? get_rel_name(parent) : "?"),
					 errdetail("A partition or child is protected through the protected table it descends from, and shares its history table."),
					 errhint("Protect the partitioned or parent table with tombstone.protect().")));
	}
	if (OidIsValid(history_table))
	{
		if (!history ||
			get_rel_namespace(history_table) != get_namespace_oid(TOMBSTONE_HISTORY_SCHEMA, true) ||
			column_type(history_table, TOMBSTONE_VALID_TO) != TIMESTAMPTZOID ||
			OidIsValid(TombstoneHistoryBase(history_table)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("relation with OID %u cannot be the history table of table \"%s\"",
							history_table, relname),
					 errdetail("A history table is created for its table by tombstone.protect() in schema %s, and belongs to no other table.",
							   TOMBSTONE_HISTORY_SCHEMA),
					 errhint("Protect tables with tombstone.protect().")));
	}
	else if (history && !OidIsValid(parent))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" is registered with history but without a history table",
						relname),
				 errhint("Protect tables with tombstone.protect().")));
}

/*
 * A table protect() may protect: an ordinary or partitioned table, not a
 * temporary or unlogged one, not a table of the system (pg_catalog, information_schema),
 * of pg_tombstone itself (its catalog, ledger, keys, token uses, history
 * tables) or of any extension.  The caller names itself in funcname.
 */
void
TombstoneCheckProtectable(Oid relid, const char *funcname)
{
	const char *relname = TombstoneRelationArg(relid, funcname);
	char		relkind = get_rel_relkind(relid);
	char		persistence = get_rel_persistence(relid);
	Oid			nspid;
	char	   *nspname;
	Oid			extoid;

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", relname),
				 errdetail("Only ordinary and partitioned tables can be protected."),
				 errhint("Protect the table the rows are stored in.")));
	if (persistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot protect temporary table \"%s\"", relname),
				 errdetail("The rows of a temporary table disappear with the session, so they cannot be kept."),
				 errhint("Protect a permanent table.")));
	if (persistence == RELPERSISTENCE_UNLOGGED)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_UNLOGGED),
				 errmsg("cannot protect unlogged table \"%s\"", relname),
				 errdetail("After a crash PostgreSQL empties an unlogged table: its rows, tombstones and history would be lost."),
				 errhint("Make it a logged table with ALTER TABLE %s SET LOGGED, then protect it.",
						 TombstoneQualifiedName(relid))));
	nspid = get_rel_namespace(relid);
	nspname = get_namespace_name(nspid);
	if (relid < FirstNormalObjectId || IsCatalogNamespace(nspid) ||
		IsToastNamespace(nspid) || strcmp(nspname, "information_schema") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_NOT_PROTECTABLE),
				 errmsg("cannot protect table \"%s\" of the system", relname),
				 errdetail("Table %s belongs to PostgreSQL, which writes and reads it in its own way.",
						   TombstoneQualifiedName(relid)),
				 errhint("Protect tables of your own.")));
	if (strcmp(nspname, TOMBSTONE_SCHEMA) == 0 ||
		strcmp(nspname, TOMBSTONE_HISTORY_SCHEMA) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_NOT_PROTECTABLE),
				 errmsg("cannot protect table \"%s\" of pg_tombstone", relname),
				 errdetail("Table %s is part of pg_tombstone's record (its catalog, ledger, keys, token uses or a history table), which the extension guards itself.",
						   TombstoneQualifiedName(relid)),
				 errhint("Protect tables of your own.")));
	extoid = getExtensionOfObject(RelationRelationId, relid);
	if (OidIsValid(extoid))
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_NOT_PROTECTABLE),
				 errmsg("cannot protect table \"%s\" of extension \"%s\"",
						relname, get_extension_name(extoid)),
				 errdetail("Table %s is a member of extension \"%s\", whose scripts create, change and drop it.",
						   TombstoneQualifiedName(relid), get_extension_name(extoid)),
				 errhint("Protect tables of your own.")));
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
	const TombstoneRel *trel = TombstoneRelLookup(RelationGetRelid(rel));

	/*
	 * The rows of a Citus table are in its shards on the workers, not in
	 * the relation here: never take it for empty.
	 */
	if (trel != NULL && trel->citus_method != '\0')
		return false;
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

/*
 * Does rel have no row that a new snapshot sees, the rows the current
 * command is inserting aside?  A restore loads the extension's tables
 * (dumped by pg_extension_config_dump) into the empty tables CREATE
 * EXTENSION made, with their guard triggers in place, many rows in one
 * COPY: each of them still finds the table empty.
 */
bool
TombstoneRelationHasNoRows(Relation rel)
{
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	TableScanDesc scan;
	bool		empty;

	scan = table_beginscan(rel, snapshot, 0, NULL);
	empty = !table_scan_getnextslot(scan, ForwardScanDirection, slot);
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	return empty;
}
