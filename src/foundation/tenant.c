/*-------------------------------------------------------------------------
 *
 * tenant.c
 *	  Tenants: tenant ids as text, filters by tenant, and the tenant
 *	  registry.
 *
 * Rows are counted, guarded and searched per tenant.  A tenant id travels as
 * text (the output of the tenant column's type) and is converted back to the
 * column's type where a query filters by it; an id that does not convert
 * names no row of that table.
 *
 * The tenant registry (tombstone.protect_tenants()) is the one table whose
 * rows are tenants; which table and column it is, is read once and kept until
 * a relcache invalidation.
 *
 * src/foundation/tenant.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "foundation/catalog.h"
#include "foundation/inval.h"
#include "foundation/names.h"
#include "foundation/tenant.h"

/* Column numbers of tombstone.tenant_registry */
#define Anum_registry_relid		1
#define Anum_registry_id_column	2

/* The tenant registry, once read; valid until a relcache invalidation */
static bool registry_valid = false;
static uint64 registry_generation = 0;
static Oid	registry_relid = InvalidOid;
static char *registry_column = NULL;

/*
 * A tenant value of type typid as text, as the ledger and the guard count
 * it.  The output function of the last type asked for is kept.
 */
char *
TombstoneTenantText(Datum value, Oid typid)
{
	static Oid	out_type = InvalidOid;
	static FmgrInfo out_finfo;

	if (typid != out_type)
	{
		Oid			typoutput;
		bool		varlena;

		getTypeOutputInfo(typid, &typoutput, &varlena);
		fmgr_info_cxt(typoutput, &out_finfo, TopMemoryContext);
		out_type = typid;
	}
	return OutputFunctionCall(&out_finfo, value);
}

/*
 * Convert str to a value of type typid (into *result unless it is NULL);
 * false when it is not one (tenant "acme" has no rows in a table whose
 * tenant column is an integer).
 */
bool
TombstoneTryInput(Oid typid, const char *str, Datum *result)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;
	Oid			typinput;
	Oid			typioparam;

	getTypeInputInfo(typid, &typinput, &typioparam);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		Datum		value = OidInputFunctionCall(typinput, (char *) str,
													 typioparam, -1);

		if (result != NULL)
			*result = value;
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok;
}

/*
 * Append " AND alias.<tenant column> = ANY ($paramno::type[])" to sql, for the
 * tenant ids (text) given, and set the parameter's value and type.  False
 * (nothing appended) when the table has no tenant column, the list is
 * empty, or an id no longer converts to the column's type.
 */
bool
TombstoneAppendTenantFilter(StringInfo sql, const char *alias, Oid root,
							List *tenants, int paramno, Datum *value, Oid *type)
{
	const TombstoneRel *trel = TombstoneRelLookup(root);
	NameData	column;
	Oid			coltype;
	Datum	   *ids;
	int			nids = 0;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	ListCell   *lc;

	if (trel == NULL || trel->tenant_attno == InvalidAttrNumber ||
		tenants == NIL)
		return false;
	/* the lookups below may process invalidations: copy what trel says */
	column = trel->tenant_column;
	coltype = get_atttype(root, trel->tenant_attno);
	ids = palloc(sizeof(Datum) * list_length(tenants));
	foreach(lc, tenants)
	{
		if (!TombstoneTryInput(coltype, lfirst(lc), &ids[nids]))
			return false;
		nids++;
	}
	get_typlenbyvalalign(coltype, &typlen, &typbyval, &typalign);
	*value = PointerGetDatum(construct_array(ids, nids, coltype, typlen,
											 typbyval, typalign));
	*type = get_array_type(coltype);
	appendStringInfo(sql, " AND %s.%s = ANY ($%d::%s[])", alias,
					 quote_identifier(NameStr(column)), paramno,
					 format_type_be_qualified(coltype));
	return true;
}

/* Any relation changed: the registry may have been declared or dropped. */
static void
registry_invalidate(Oid relid)
{
	registry_valid = false;
	registry_generation++;
}

/* Read which table is the tenant registry, and its id column. */
static void
read_registry(void)
{
	Oid			nspid = get_namespace_oid(TOMBSTONE_SCHEMA, true);
	Oid			regrelid;
	Relation	rel;
	SysScanDesc scan;
	Snapshot	snapshot;
	HeapTuple	tup;

	registry_relid = InvalidOid;
	if (registry_column != NULL)
		pfree(registry_column);
	registry_column = NULL;
	if (!OidIsValid(nspid) ||
		!OidIsValid(regrelid = get_relname_relid(TOMBSTONE_REGISTRY, nspid)))
		return;
	rel = table_open(regrelid, AccessShareLock);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;

		registry_relid = DatumGetObjectId(heap_getattr(tup, Anum_registry_relid,
													   RelationGetDescr(rel),
													   &isnull));
		registry_column =
			MemoryContextStrdup(CacheMemoryContext,
								NameStr(*DatumGetName(heap_getattr(tup, Anum_registry_id_column,
																   RelationGetDescr(rel),
																   &isnull))));
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
}

/*
 * The registry table and (when id_column is not NULL) its id column, or
 * InvalidOid when none was declared.  The column name is valid until the
 * next invalidation is processed: copy it to keep it.
 */
Oid
TombstoneRegistry(char **id_column)
{
	while (!registry_valid)
	{
		uint64		generation = registry_generation;

		TombstoneOnRelcacheInval(registry_invalidate);
		read_registry();
		/* an invalidation that arrived while reading means: read again */
		registry_valid = (generation == registry_generation);
	}
	if (id_column)
		*id_column = registry_column;
	return registry_relid;
}
