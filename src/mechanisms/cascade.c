/*-------------------------------------------------------------------------
 *
 * cascade.c
 *	  What tombstoning or restoring a row does to other rows: foreign-key
 *	  cascades and checks between protected tables, and tenant deletion.
 *
 * A tombstone is an UPDATE, so PostgreSQL's own ON DELETE actions never
 * fire for it.  This file gives protected tables the behaviour a real
 * DELETE would have, inside the same change:
 *
 *	- ON DELETE CASCADE: the protected child rows that reference a
 *	  tombstoned row are tombstoned too, recursively (the cascade is itself
 *	  an UPDATE that comes back here);
 *	- ON DELETE RESTRICT / NO ACTION: tombstoning a row that live child rows
 *	  still reference is refused with SQLSTATE 23503, naming the child table
 *	  and the key.  Both are checked at the end of the statement, as NO
 *	  ACTION is;
 *	- ON DELETE SET NULL / SET DEFAULT: the live child rows that reference
 *	  a tombstoned row get NULL or their default in the foreign key's
 *	  columns (those the constraint names), as a real DELETE would do.
 *	  Which child rows were changed, and what their columns held, is kept
 *	  in tombstone.cleared_keys under the change, so that restoring the
 *	  referenced row with that change gives the child rows their reference
 *	  back (those still as the change left them);
 *	- the tenant registry: tombstoning a tenant row tombstones that
 *	  tenant's rows in every protected table, children before parents.
 *
 * Restoring a row is the mirror image: the child rows that the same change
 * tombstoned through a cascade (or a tenant deletion) come back with it,
 * the references it cleared are set again, parents before children, and a
 * restored row whose protected parent is still tombstoned is refused
 * (except through a SET NULL / SET DEFAULT key: such a child row was
 * itself a tombstone when its parent went, and keeps its reference).
 *
 * The row trigger (mechanisms/triggers.c) queues copies of the rows that have
 * such dependents; when the query that changed them has finished, the queue of
 * its executor depth is worked off with one set-based query per foreign key
 * (the keys travel as arrays), so cost grows with the number of rows changed,
 * not with the size of the tables.  The queries run as the owner of the table
 * they touch, as PostgreSQL's own referential actions do.
 *
 * The foreign keys between protected tables, and the order of the
 * protected roots, come from mechanisms/fkgraph.c.
 *
 * src/mechanisms/cascade.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "foundation/catalog.h"
#include "foundation/inval.h"
#include "foundation/names.h"
#include "foundation/query.h"
#include "foundation/tenant.h"
#include "recording/change.h"
#include "recording/ledger.h"
#include "mechanisms/cascade.h"
#include "mechanisms/fkgraph.h"

/*
 * rewind_tenant() restores exactly the rows that were live at its time:
 * while it runs, restoring a row restores neither its foreign-key children
 * nor, for a registry row, its tenant's rows (tombstones still cascade, and
 * restored rows are still checked against their parents).
 */
static bool cascade_restores = true;

/* Per relation: does a tombstoning (restore) of its rows queue work? */
typedef struct WantedEntry
{
	Oid			relid;
	bool		tombstoned;
	bool		restored;
} WantedEntry;

static HTAB *wanted = NULL;

/* Any relcache invalidation (the graph changes with it): ask again. */
static void
wanted_invalidate(Oid relid)
{
	if (wanted != NULL)
	{
		hash_destroy(wanted);
		wanted = NULL;
	}
}

/* Rows queued by the row trigger. */
typedef struct PendingChunk
{
	MemoryContext cxt;			/* holds the chunk and its rows */
	int			level;
	Oid			relid;			/* the relation the rows are in */
	bool		tombstoned;
	List	   *tuples;			/* copies of the old rows */
} PendingChunk;

static List *pending = NIL;	/* in TopTransactionContext */

/*
 * Does this installation have tombstone.cleared_keys?  A library newer than
 * the extension's SQL objects (before ALTER EXTENSION pg_tombstone UPDATE)
 * leaves SET NULL / SET DEFAULT children as they were, as 0.1 did.
 */
static bool
clears_references(void)
{
	Oid			nspid = get_namespace_oid(TOMBSTONE_SCHEMA, true);

	return OidIsValid(nspid) &&
		OidIsValid(get_relname_relid(TOMBSTONE_CLEARED_KEYS, nspid));
}

/* relid itself and its ancestors */
static List *
self_and_ancestors(Oid relid)
{
	return lcons_oid(relid, get_partition_ancestors(relid));
}

/*
 * Does a tombstoning (or restore) of rows of rel queue work for
 * TombstonePendingProcess?  One hash probe per row.
 */
bool
TombstonePendingWanted(Relation rel, bool tombstoned)
{
	Oid			relid = RelationGetRelid(rel);
	WantedEntry *entry;
	bool		found;

	if (wanted == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(WantedEntry);
		ctl.hcxt = CacheMemoryContext;
		wanted = hash_create("pg_tombstone dependents", 32, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(wanted, &relid, HASH_FIND, NULL);
	if (entry == NULL)
	{
		WantedEntry tmp;
		List	   *selves;
		Oid			registry = TombstoneRegistry(NULL);
		List	   *links;
		ListCell   *lc;

		links = TombstoneFkLinks();
		tmp.relid = relid;
		tmp.tombstoned = tmp.restored = false;
		selves = rel->rd_rel->relispartition ? self_and_ancestors(relid) :
			list_make1_oid(relid);
		if (list_member_oid(selves, registry))
			tmp.tombstoned = tmp.restored = true;
		foreach(lc, links)
		{
			TombstoneFkLink *link = lfirst(lc);

			if (list_member_oid(selves, link->parent))
			{
				if (link->deltype == FKCONSTR_ACTION_CASCADE ||
					((link->deltype == FKCONSTR_ACTION_SETNULL ||
					  link->deltype == FKCONSTR_ACTION_SETDEFAULT) &&
					 clears_references()))
					tmp.tombstoned = tmp.restored = true;
				else if (link->deltype == FKCONSTR_ACTION_RESTRICT ||
						 link->deltype == FKCONSTR_ACTION_NOACTION)
					tmp.tombstoned = true;
			}
			if (list_member_oid(selves, link->child) &&
				link->deltype != FKCONSTR_ACTION_SETNULL &&
				link->deltype != FKCONSTR_ACTION_SETDEFAULT)
				tmp.restored = true;
		}
		/* the lookups may have processed invalidations: look again */
		if (wanted == NULL)
			return TombstonePendingWanted(rel, tombstoned);
		entry = hash_search(wanted, &relid, HASH_ENTER, &found);
		*entry = tmp;
	}
	return tombstoned ? entry->tombstoned : entry->restored;
}

void
TombstonePendingAdd(Relation rel, HeapTuple oldtup, bool tombstoned)
{
	int			level = TombstoneExecDepth();
	Oid			relid = RelationGetRelid(rel);
	PendingChunk *chunk = NULL;
	MemoryContext oldcxt;

	if (pending != NIL)
	{
		chunk = llast(pending);
		if (chunk->level != level || chunk->relid != relid ||
			chunk->tombstoned != tombstoned)
			chunk = NULL;
	}
	if (chunk == NULL)
	{
		MemoryContext cxt = AllocSetContextCreate(TopTransactionContext,
												  "pg_tombstone pending rows",
												  ALLOCSET_DEFAULT_SIZES);

		chunk = MemoryContextAllocZero(cxt, sizeof(PendingChunk));
		chunk->cxt = cxt;
		chunk->level = level;
		chunk->relid = relid;
		chunk->tombstoned = tombstoned;
		oldcxt = MemoryContextSwitchTo(TopTransactionContext);
		pending = lappend(pending, chunk);
		MemoryContextSwitchTo(oldcxt);
	}
	oldcxt = MemoryContextSwitchTo(chunk->cxt);
	chunk->tuples = lappend(chunk->tuples, heap_copytuple(oldtup));
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Forget the rows queued by queries deeper than above_level: they were
 * rolled back.  Chunks being worked off are no longer in the queue and are
 * not touched.
 */
static void
pending_discard(int above_level)
{
	List	   *keep = NIL;
	ListCell   *lc;
	MemoryContext oldcxt;

	if (pending == NIL)
		return;
	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	foreach(lc, pending)
	{
		PendingChunk *chunk = lfirst(lc);

		if (chunk->level <= above_level)
			keep = lappend(keep, chunk);
		else
			MemoryContextDelete(chunk->cxt);
	}
	list_free(pending);
	pending = keep;
	MemoryContextSwitchTo(oldcxt);
}

/*
 * At the end of the transaction, whose memory holds the queue, forget it.
 */
static void
cascade_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			pending = NIL;
			cascade_restores = true;
			break;
		default:
			break;
	}
}

/* The queries deeper than where a subtransaction's error was caught are gone */
static void
cascade_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		pending_discard(TombstoneExecDepth());
}

/* "ONLY " for a plain table: foreign keys are not inherited */
static const char *
only_for(Oid relid)
{
	return get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ";
}

/*-------------------------------------------------------------------------
 * Working off the queue
 *-------------------------------------------------------------------------
 */

/*
 * Arrays of the values of columns cols of the queued rows, one array per
 * column, typed as the columns of relation relid.  Also returns the
 * element types and, when arraytypes is not NULL, the array types (the
 * types of the query parameters that carry them).
 */
static void
key_arrays(PendingChunk *chunk, TupleDesc desc, int ncols, char **cols,
		   Datum *arrays, Oid *elemtypes, Oid *arraytypes)
{
	int			ntup = list_length(chunk->tuples);
	Datum	   *elems = palloc(sizeof(Datum) * ntup);
	bool	   *isnull = palloc(sizeof(bool) * ntup);
	int			i;

	for (i = 0; i < ncols; i++)
	{
		AttrNumber	attno = get_attnum(chunk->relid, cols[i]);
		Form_pg_attribute att;
		ListCell   *lc;
		int			n = 0;
		int			dims[1];
		int			lbs[1] = {1};

		if (attno == InvalidAttrNumber)
			elog(ERROR, "column \"%s\" of relation %u does not exist",
				 cols[i], chunk->relid);
		att = TupleDescAttr(desc, attno - 1);
		foreach(lc, chunk->tuples)
		{
			elems[n] = heap_getattr((HeapTuple) lfirst(lc), attno, desc,
									&isnull[n]);
			n++;
		}
		dims[0] = n;
		arrays[i] = PointerGetDatum(construct_md_array(elems, isnull, 1, dims,
													   lbs, att->atttypid,
													   att->attlen,
													   att->attbyval,
													   att->attalign));
		elemtypes[i] = att->atttypid;
		if (arraytypes != NULL)
			arraytypes[i] = get_array_type(att->atttypid);
	}
}

/* "$n::type[]" */
static char *
array_param(int n, Oid elemtype)
{
	return psprintf("$%d::%s[]", n, format_type_be_qualified(elemtype));
}

/*
 * "(c.k1, c.k2) IN (SELECT * FROM unnest($1::t1[], $2::t2[]))", or
 * "c.k1 = ANY ($1::t1[])" for one column; cols are the child's columns.
 */
static void
append_in_arrays(StringInfo buf, const char *alias, int ncols, char **cols,
				 Oid *elemtypes, int first_param)
{
	int			i;

	if (ncols == 1)
	{
		appendStringInfo(buf, "%s.%s = ANY (%s)", alias,
						 quote_identifier(cols[0]),
						 array_param(first_param, elemtypes[0]));
		return;
	}
	appendStringInfoChar(buf, '(');
	for (i = 0; i < ncols; i++)
		appendStringInfo(buf, "%s%s.%s", i ? ", " : "", alias,
						 quote_identifier(cols[i]));
	appendStringInfoString(buf, ") IN (SELECT * FROM unnest(");
	for (i = 0; i < ncols; i++)
		appendStringInfo(buf, "%s%s", i ? ", " : "",
						 array_param(first_param + i, elemtypes[i]));
	appendStringInfoString(buf, "))");
}

/* "Key (a, b)=(1, 2)" from the text values of the first SPI result row */
static char *
key_text(char **cols, int ncols)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "(");
	for (i = 0; i < ncols; i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "", quote_identifier(cols[i]));
	appendStringInfoString(&buf, ")=(");
	for (i = 0; i < ncols; i++)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									 i + 1);

		appendStringInfo(&buf, "%s%s", i ? ", " : "", v ? v : "null");
	}
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * The queued rows of chunk split by the change that last tombstoned them
 * (their old deleted_change), as chunks of their own; rows without one are
 * left out.  Restoring, a child row comes back only if the same change
 * tombstoned it, and one query per change keeps the child's lookup on its
 * foreign-key index with a single change id to filter on (a row-wise IN
 * over (key, change) pairs lets the planner pick a join on the change
 * alone, which reads every row of that change ever tombstoned).
 */
static List *
split_by_change(PendingChunk *chunk, TupleDesc desc)
{
	AttrNumber	attno = get_attnum(chunk->relid, TOMBSTONE_DELETED_CHANGE);
	List	   *result = NIL;
	ListCell   *lc;

	if (attno == InvalidAttrNumber)
		return NIL;
	foreach(lc, chunk->tuples)
	{
		HeapTuple	tuple = lfirst(lc);
		bool		isnull;
		int64		id = DatumGetInt64(heap_getattr(tuple, attno, desc, &isnull));
		PendingChunk *part = NULL;
		ListCell   *lc2;

		if (isnull)
			continue;
		foreach(lc2, result)
		{
			PendingChunk *p = lfirst(lc2);

			if (DatumGetInt64(heap_getattr(linitial(p->tuples), attno, desc,
										   &isnull)) == id)
			{
				part = p;
				break;
			}
		}
		if (part == NULL)
		{
			part = palloc0(sizeof(PendingChunk));
			part->relid = chunk->relid;
			part->tombstoned = chunk->tombstoned;
			result = lappend(result, part);
		}
		part->tuples = lappend(part->tuples, tuple);
	}
	return result;
}

/*
 * ON DELETE CASCADE: tombstone the live child rows that reference the
 * tombstoned rows; or, restoring, bring back the child rows that the same
 * change tombstoned (their deleted_change equals the parent's old one).
 */
static void
cascade_link(TombstoneFkLink *link, PendingChunk *chunk, TupleDesc desc)
{
	int			n = link->nkeys;
	Datum	   *values = palloc(sizeof(Datum) * (n + 2));
	Oid		   *types = palloc(sizeof(Oid) * (n + 2));
	Oid		   *argtypes = palloc(sizeof(Oid) * (n + 2));
	StringInfoData sql;
	List	   *parts;
	ListCell   *lc;
	const TombstoneRel *ctrel;
	Oid			child_root;

	initStringInfo(&sql);
	appendStringInfo(&sql, TOMBSTONE_INTERNAL_QUERY "UPDATE %s%s c SET %s = %s WHERE ",
					 only_for(link->child), TombstoneQualifiedName(link->child),
					 TOMBSTONE_DELETED_AT, chunk->tombstoned ? "now()" : "NULL");
	if (chunk->tombstoned)
	{
		key_arrays(chunk, desc, n, link->parent_cols, values, types, argtypes);
		append_in_arrays(&sql, "c", n, link->child_cols, types, 1);
		appendStringInfo(&sql, " AND c.%s IS NULL", TOMBSTONE_DELETED_AT);
		(void) TombstoneRunInternal(sql.data, n, argtypes, values, NULL,
									TombstoneRelationOwner(link->child));
		return;
	}

	parts = split_by_change(chunk, desc);
	if (parts == NIL)
		return;
	/* the types of the key columns, for the query text */
	key_arrays(linitial(parts), desc, n, link->parent_cols, values, types,
			   argtypes);
	append_in_arrays(&sql, "c", n, link->child_cols, types, 1);
	appendStringInfo(&sql, " AND c.%s = $%d AND c.%s IS NOT NULL",
					 TOMBSTONE_DELETED_CHANGE, n + 1, TOMBSTONE_DELETED_AT);
	argtypes[n] = INT8OID;
	/* the ledger counts the child under its root */
	ctrel = TombstoneRelLookup(link->child);
	child_root = ctrel != NULL ? ctrel->root : InvalidOid;
	foreach(lc, parts)
	{
		PendingChunk *part = lfirst(lc);
		AttrNumber	attno = get_attnum(chunk->relid, TOMBSTONE_DELETED_CHANGE);
		bool		isnull;
		StringInfoData query;
		int			nargs = n + 1;

		key_arrays(part, desc, n, link->parent_cols, values, types, argtypes);
		values[n] = heap_getattr(linitial(part->tuples), attno, desc, &isnull);

		/*
		 * No index covers deleted_change: when the child has no index on
		 * its foreign key either, the tenants the change counted in the
		 * child keep the search on its tenant index.
		 */
		initStringInfo(&query);
		appendStringInfoString(&query, sql.data);
		if (OidIsValid(child_root) &&
			TombstoneAppendTenantFilter(&query, "c", link->child,
										TombstoneLedgerTenants(DatumGetInt64(values[n]),
															   child_root),
										n + 2, &values[n + 1], &argtypes[n + 1]))
			nargs = n + 2;
		(void) TombstoneRunInternal(query.data, nargs, argtypes, values, NULL,
									TombstoneRelationOwner(link->child));
	}
}

/*
 * How a row of the child of link is found again: the columns of its
 * primary key, or NIL when it has none (then by all of its values but the
 * ones the link sets and those pg_tombstone writes).
 */
static List *
primary_key_columns(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Oid			pkoid = RelationGetPrimaryKeyIndex(rel);
	List	   *cols = NIL;

	if (OidIsValid(pkoid))
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pkoid));
		Form_pg_index idx;
		int			i;

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for index %u", pkoid);
		idx = (Form_pg_index) GETSTRUCT(tup);
		for (i = 0; i < idx->indnkeyatts; i++)
			cols = lappend(cols, get_attname(relid, idx->indkey.values[i], false));
		ReleaseSysCache(tup);
	}
	table_close(rel, AccessShareLock);
	return cols;
}

/*
 * The identity of child row "c" as jsonb, for tombstone.cleared_keys: its
 * primary key, or its values without the columns that change.
 */
static void
append_row_identity(StringInfo sql, TombstoneFkLink *link, List *pkcols)
{
	ListCell   *lc;
	int			i;

	if (pkcols != NIL)
	{
		appendStringInfoString(sql, "jsonb_build_object(");
		foreach(lc, pkcols)
			appendStringInfo(sql, "%s%s, c.%s", foreach_current_index(lc) ? ", " : "",
							 quote_literal_cstr(lfirst(lc)),
							 quote_identifier(lfirst(lc)));
		appendStringInfoChar(sql, ')');
		return;
	}
	appendStringInfo(sql, "to_jsonb(c) - ARRAY[%s, %s, %s",
					 quote_literal_cstr(TOMBSTONE_DELETED_AT),
					 quote_literal_cstr(TOMBSTONE_DELETED_CHANGE),
					 quote_literal_cstr(TOMBSTONE_VALID_FROM));
	for (i = 0; i < link->nsetcols; i++)
		appendStringInfo(sql, ", %s", quote_literal_cstr(link->set_cols[i]));
	appendStringInfoString(sql, "]::text[]");
}

/*
 * Give back the references that change cleared in the child of link, to
 * the child rows that still hold what the change set; only those that
 * referenced the rows of part, when it is given.  Runs inside SPI.
 */
static void
restore_cleared(TombstoneFkLink *link, int64 change, PendingChunk *part, TupleDesc desc)
{
	int			n = link->nkeys;
	Datum	   *values = palloc(sizeof(Datum) * (n + 1));
	Oid		   *types = palloc(sizeof(Oid) * (n + 1));
	Oid		   *argtypes = palloc(sizeof(Oid) * (n + 1));
	List	   *pkcols;
	char	   *child = TombstoneQualifiedName(link->child);
	StringInfoData sql;
	ListCell   *lc;
	int			i;
	Datum		args[3];
	Oid			argt[3] = {INT8OID, OIDOID, TEXTOID};
	bool		isnull;
	Datum		refs;

	args[0] = Int64GetDatum(change);
	args[1] = ObjectIdGetDatum(link->child);
	args[2] = CStringGetTextDatum(link->conname);
	if (TombstoneRunInternal(TOMBSTONE_INTERNAL_QUERY
							 "SELECT jsonb_agg(e) FROM tombstone.cleared_keys s,"
							 " jsonb_array_elements(s.refs) e"
							 " WHERE s.change_id = $1 AND s.child = $2::regclass"
							 " AND s.conname = $3::name",
							 3, argt, args, NULL,
							 TombstoneRelationOwner(TombstoneCatalogRelid())) != 1)
		elog(ERROR, "reading tombstone.cleared_keys returned no row");
	refs = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						 &isnull);
	if (isnull)
		return;					/* the change cleared nothing here */
	values[0] = PointerGetDatum(DatumGetJsonbPCopy(refs));
	argtypes[0] = JSONBOID;

	pkcols = primary_key_columns(link->child);
	initStringInfo(&sql);
	appendStringInfo(&sql, TOMBSTONE_INTERNAL_QUERY "UPDATE %s%s c SET ",
					 only_for(link->child), child);
	for (i = 0; i < link->nsetcols; i++)
		appendStringInfo(&sql, "%s%s = o.%s", i ? ", " : "",
						 quote_identifier(link->set_cols[i]),
						 quote_identifier(link->set_cols[i]));
	appendStringInfo(&sql, " FROM jsonb_array_elements($1) e,"
					 " LATERAL jsonb_populate_record(NULL::%s, e->'old') o,"
					 " LATERAL jsonb_populate_record(NULL::%s, e->'new') n,"
					 " LATERAL jsonb_populate_record(NULL::%s, e->'key') k WHERE ",
					 child, child, child);
	if (pkcols != NIL)
		foreach(lc, pkcols)
			appendStringInfo(&sql, "c.%s = k.%s AND ", quote_identifier(lfirst(lc)),
							 quote_identifier(lfirst(lc)));
	else
	{
		append_row_identity(&sql, link, NIL);
		appendStringInfoString(&sql, " = e->'key' AND ");
	}
	for (i = 0; i < link->nsetcols; i++)
		appendStringInfo(&sql, "%sc.%s IS NOT DISTINCT FROM n.%s", i ? " AND " : "",
						 quote_identifier(link->set_cols[i]),
						 quote_identifier(link->set_cols[i]));
	if (part != NULL)
	{
		appendStringInfoString(&sql, " AND ");
		key_arrays(part, desc, n, link->parent_cols, values + 1, types,
				   argtypes + 1);
		append_in_arrays(&sql, "o", n, link->child_cols, types, 2);
	}
	(void) TombstoneRunInternal(sql.data, part != NULL ? n + 1 : 1, argtypes,
								values, NULL, TombstoneRelationOwner(link->child));
}

/*
 * After undelete_change() restored the rows change tombstoned (itself,
 * table by table, without cascades), give back every reference the change
 * cleared.  Runs inside SPI.
 */
void
TombstoneRestoreClearedKeys(int64 change)
{
	List	   *links = NIL;
	ListCell   *lc;

	if (!clears_references())
		return;
	foreach(lc, TombstoneFkLinks())
	{
		TombstoneFkLink *link = lfirst(lc);

		if (link->deltype == FKCONSTR_ACTION_SETNULL ||
			link->deltype == FKCONSTR_ACTION_SETDEFAULT)
			links = lappend(links, TombstoneFkLinkCopy(link));
	}
	foreach(lc, links)
		restore_cleared(lfirst(lc), change, NULL, NULL);
}

/*
 * ON DELETE SET NULL / SET DEFAULT: give the live child rows that
 * reference the tombstoned rows NULL or the default in the columns the
 * foreign key sets, as the owner of the child, and keep in
 * tombstone.cleared_keys which rows they were (their identity, the values
 * before and after) under the current change.
 *
 * Restoring, give the child rows that the change which tombstoned the
 * restored rows cleared their values back, where they still hold what the
 * change set.
 */
static void
clear_link(TombstoneFkLink *link, PendingChunk *chunk, TupleDesc desc)
{
	int			n = link->nkeys;
	Datum	   *values;
	Oid		   *types;
	Oid		   *argtypes;
	const char *setto = link->deltype == FKCONSTR_ACTION_SETNULL ? "NULL" : "DEFAULT";
	char	   *child = TombstoneQualifiedName(link->child);
	StringInfoData sql;
	ListCell   *lc;
	int			i;
	Datum		refs;
	bool		isnull;
	Datum		row[4];
	Oid			rowtypes[4] = {INT8OID, OIDOID, TEXTOID, JSONBOID};

	if (!chunk->tombstoned)
	{
		/* by the change that tombstoned the restored rows */
		AttrNumber	attno = get_attnum(chunk->relid, TOMBSTONE_DELETED_CHANGE);

		foreach(lc, split_by_change(chunk, desc))
		{
			PendingChunk *part = lfirst(lc);
			Datum		id = heap_getattr(linitial(part->tuples), attno, desc,
										  &isnull);

			restore_cleared(link, DatumGetInt64(id), part, desc);
		}
		return;
	}

	values = palloc(sizeof(Datum) * n);
	types = palloc(sizeof(Oid) * n);
	argtypes = palloc(sizeof(Oid) * n);
	key_arrays(chunk, desc, n, link->parent_cols, values, types, argtypes);
	initStringInfo(&sql);
	appendStringInfo(&sql, TOMBSTONE_INTERNAL_QUERY
					 "WITH u AS (UPDATE %s%s c SET ", only_for(link->child), child);
	for (i = 0; i < link->nsetcols; i++)
		appendStringInfo(&sql, "%s%s = %s", i ? ", " : "",
						 quote_identifier(link->set_cols[i]), setto);
	appendStringInfoString(&sql, " FROM unnest(");
	for (i = 0; i < n; i++)
		appendStringInfo(&sql, "%s%s", i ? ", " : "", array_param(i + 1, types[i]));
	appendStringInfoString(&sql, ") k(");
	for (i = 0; i < n; i++)
		appendStringInfo(&sql, "%sk%d", i ? ", " : "", i + 1);
	appendStringInfoString(&sql, ") WHERE ");
	for (i = 0; i < n; i++)
		appendStringInfo(&sql, "c.%s = k.k%d AND ",
						 quote_identifier(link->child_cols[i]), i + 1);
	appendStringInfo(&sql, "c.%s IS NULL RETURNING jsonb_build_object('key', ",
					 TOMBSTONE_DELETED_AT);
	append_row_identity(&sql, link, primary_key_columns(link->child));
	appendStringInfoString(&sql, ", 'old', jsonb_build_object(");
	for (i = 0; i < n; i++)
		appendStringInfo(&sql, "%s%s, k.k%d", i ? ", " : "",
						 quote_literal_cstr(link->child_cols[i]), i + 1);
	appendStringInfoString(&sql, "), 'new', jsonb_build_object(");
	for (i = 0; i < link->nsetcols; i++)
		appendStringInfo(&sql, "%s%s, c.%s", i ? ", " : "",
						 quote_literal_cstr(link->set_cols[i]),
						 quote_identifier(link->set_cols[i]));
	appendStringInfoString(&sql, ")) AS r) SELECT jsonb_agg(r) FROM u");
	if (TombstoneRunInternal(sql.data, n, argtypes, values, NULL,
							 TombstoneRelationOwner(link->child)) != 1)
		elog(ERROR, "clearing the references of \"%s\" returned no row", child);
	refs = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						 &isnull);
	if (isnull)
		return;					/* no live child row referenced them */
	row[0] = Int64GetDatum(TombstoneChangeId());
	row[1] = ObjectIdGetDatum(link->child);
	row[2] = CStringGetTextDatum(link->conname);
	row[3] = PointerGetDatum(DatumGetJsonbPCopy(refs));
	/* the extension's own write (its guard refuses any other) */
	TombstoneOwnWriteBegin(get_relname_relid(TOMBSTONE_CLEARED_KEYS,
											 get_namespace_oid(TOMBSTONE_SCHEMA, false)));
	PG_TRY();
	{
		(void) TombstoneRunInternal(TOMBSTONE_INTERNAL_QUERY
									"INSERT INTO tombstone.cleared_keys"
									" (change_id, child, conname, refs)"
									" VALUES ($1, $2::regclass, $3::name, $4)",
									4, rowtypes, row, NULL,
									TombstoneRelationOwner(TombstoneCatalogRelid()));
	}
	PG_FINALLY();
	{
		TombstoneOwnWriteEnd();
	}
	PG_END_TRY();
}

/*
 * ON DELETE RESTRICT / NO ACTION: refuse when live child rows still
 * reference the tombstoned rows.
 */
static void
check_no_live_children(TombstoneFkLink *link, PendingChunk *chunk, TupleDesc desc)
{
	int			n = link->nkeys;
	Datum	   *values = palloc(sizeof(Datum) * n);
	Oid		   *types = palloc(sizeof(Oid) * n);
	Oid		   *argtypes = palloc(sizeof(Oid) * n);
	StringInfoData sql;
	int			i;

	key_arrays(chunk, desc, n, link->parent_cols, values, types, argtypes);
	initStringInfo(&sql);
	appendStringInfoString(&sql, TOMBSTONE_INTERNAL_QUERY "SELECT ");
	for (i = 0; i < n; i++)
		appendStringInfo(&sql, "%sc.%s::text", i ? ", " : "",
						 quote_identifier(link->child_cols[i]));
	appendStringInfo(&sql, " FROM %s%s c WHERE ", only_for(link->child),
					 TombstoneQualifiedName(link->child));
	append_in_arrays(&sql, "c", n, link->child_cols, types, 1);
	appendStringInfo(&sql, " AND c.%s IS NULL LIMIT 1", TOMBSTONE_DELETED_AT);
	if (TombstoneRunInternal(sql.data, n, argtypes, values, NULL,
							 TombstoneRelationOwner(link->child)) == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
			 errmsg("update or delete on table \"%s\" violates foreign key constraint \"%s\" on table \"%s\"",
					get_rel_name(link->parent), link->conname,
					get_rel_name(link->child)),
			 errdetail("Key %s is still referenced from live rows of table \"%s\"; tombstoning the referenced row of \"%s\" was refused.",
					   key_text(link->child_cols, n), get_rel_name(link->child),
					   get_rel_name(link->parent)),
			 errhint("Delete the referencing rows of \"%s\" first, or declare foreign key \"%s\" ON DELETE CASCADE.",
					 get_rel_name(link->child), link->conname)));
}

/*
 * A restored row must not reference a tombstoned (or missing) row of a
 * protected table: refuse, naming the table and the key.
 */
static void
check_parents_live(TombstoneFkLink *link, PendingChunk *chunk, TupleDesc desc)
{
	int			n = link->nkeys;
	Datum	   *values = palloc(sizeof(Datum) * n);
	Oid		   *types = palloc(sizeof(Oid) * n);
	Oid		   *argtypes = palloc(sizeof(Oid) * n);
	StringInfoData sql;
	int			i;

	key_arrays(chunk, desc, n, link->child_cols, values, types, argtypes);
	initStringInfo(&sql);
	appendStringInfoString(&sql, TOMBSTONE_INTERNAL_QUERY "SELECT ");
	for (i = 0; i < n; i++)
		appendStringInfo(&sql, "%su.k%d::text", i ? ", " : "", i + 1);
	appendStringInfoString(&sql, " FROM unnest(");
	for (i = 0; i < n; i++)
		appendStringInfo(&sql, "%s%s", i ? ", " : "", array_param(i + 1, types[i]));
	appendStringInfoString(&sql, ") u(");
	for (i = 0; i < n; i++)
		appendStringInfo(&sql, "%sk%d", i ? ", " : "", i + 1);
	appendStringInfoString(&sql, ") WHERE ");
	for (i = 0; i < n; i++)
		appendStringInfo(&sql, "u.k%d IS NOT NULL AND ", i + 1);
	appendStringInfo(&sql, "NOT EXISTS (SELECT 1 FROM %s%s p WHERE ",
					 only_for(link->parent), TombstoneQualifiedName(link->parent));
	for (i = 0; i < n; i++)
		appendStringInfo(&sql, "p.%s = u.k%d AND ",
						 quote_identifier(link->parent_cols[i]), i + 1);
	appendStringInfo(&sql, "p.%s IS NULL) LIMIT 1", TOMBSTONE_DELETED_AT);
	if (TombstoneRunInternal(sql.data, n, argtypes, values, NULL,
							 TombstoneRelationOwner(link->parent)) == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
			 errmsg("cannot restore rows of table \"%s\" whose referenced row in table \"%s\" is tombstoned",
					get_rel_name(link->child), get_rel_name(link->parent)),
			 errdetail("Key %s of table \"%s\" (foreign key \"%s\") refers to a row of table \"%s\" that is tombstoned or missing.",
					   key_text(link->child_cols, n), get_rel_name(link->child),
					   link->conname, get_rel_name(link->parent)),
			 errhint("Undelete the row of \"%s\" first, or undo the whole change with tombstone.undelete_change().",
					 get_rel_name(link->parent))));
}

/*
 * The registry rows of the chunk as two arrays: tenant ids as text, and the
 * change that last tombstoned each (for a restore).
 */
static void
registry_arrays(PendingChunk *chunk, TupleDesc desc, Datum *tenants,
				Datum *changes)
{
	char	   *registry_column;
	char	   *cols[2];
	Datum		arrays[2];
	Oid			types[2];
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	Oid			typoutput;
	bool		varlena;

	(void) TombstoneRegistry(&registry_column);
	cols[0] = pstrdup(registry_column);
	cols[1] = TOMBSTONE_DELETED_CHANGE;
	key_arrays(chunk, desc, 2, cols, arrays, types, NULL);
	getTypeOutputInfo(types[0], &typoutput, &varlena);
	arr = DatumGetArrayTypeP(arrays[0]);
	{
		int16		typlen;
		bool		typbyval;
		char		typalign;

		get_typlenbyvalalign(types[0], &typlen, &typbyval, &typalign);
		deconstruct_array(arr, types[0], typlen, typbyval, typalign,
						  &elems, &nulls, &n);
	}
	for (i = 0; i < n; i++)
		if (!nulls[i])
			elems[i] = CStringGetTextDatum(OidOutputFunctionCall(typoutput,
																 elems[i]));
	{
		int			dims[1] = {n};
		int			lbs[1] = {1};

		*tenants = PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
													  TEXTOID, -1, false,
													  TYPALIGN_INT));
	}
	*changes = arrays[1];
}

/*
 * Tenant deletion: tombstone the rows of the registry's tombstoned tenants
 * in every other protected table, children before parents; restoring,
 * bring back their rows that the same change tombstoned, parents first.
 * Tenant ids travel as text and are converted to the type of each table's
 * tenant column; a table whose column cannot hold an id has no rows of
 * that tenant.
 */
static void
sweep_tenants(PendingChunk *chunk, TupleDesc desc)
{
	Datum		arrays[2];
	Datum	   *tenants;
	bool	   *tenant_nulls;
	Datum	   *changes;
	bool	   *change_nulls;
	int			n;
	Oid			registry;
	List	   *roots;
	ListCell   *lc;

	registry = TombstoneRegistry(NULL);
	registry_arrays(chunk, desc, &arrays[0], &arrays[1]);
	deconstruct_array(DatumGetArrayTypeP(arrays[0]), TEXTOID, -1, false,
					  TYPALIGN_INT, &tenants, &tenant_nulls, &n);
	deconstruct_array(DatumGetArrayTypeP(arrays[1]), INT8OID, 8,
					  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &changes, &change_nulls, &n);
	roots = list_copy(TombstoneRootsInOrder(!chunk->tombstoned));
	if (chunk->tombstoned)
		TombstoneChangeMarkTenantDeleted();

	foreach(lc, roots)
	{
		Oid			root = lfirst_oid(lc);
		const TombstoneRel *trel = TombstoneRelLookup(root);
		Oid			coltype;
		int16		typlen;
		bool		typbyval;
		char		typalign;
		Datum	   *ids = palloc(sizeof(Datum) * n);
		Datum	   *ids_changes = palloc(sizeof(Datum) * n);
		int			nids = 0;
		int			i;
		int			dims[1];
		int			lbs[1] = {1};
		Datum		values[2];
		Oid			argtypes[2];
		char	   *typname;
		char	   *sql;

		if (root == registry || trel == NULL)
			continue;
		coltype = get_atttype(root, trel->tenant_attno);
		for (i = 0; i < n; i++)
		{
			if (tenant_nulls[i] || (!chunk->tombstoned && change_nulls[i]))
				continue;
			if (coltype == TEXTOID)
				ids[nids] = tenants[i];
			else if (!TombstoneTryInput(coltype, TextDatumGetCString(tenants[i]),
								&ids[nids]))
				continue;
			ids_changes[nids] = changes[i];
			nids++;
		}
		if (nids == 0)
			continue;
		typname = format_type_be_qualified(coltype);
		if (!chunk->tombstoned)
		{
			/* one tenant and change at a time: both stay index lookups */
			sql = psprintf(TOMBSTONE_INTERNAL_QUERY
						   "UPDATE %s t SET %s = NULL WHERE t.%s = $1::%s"
						   " AND t.%s = $2 AND t.%s IS NOT NULL",
						   TombstoneQualifiedName(root), TOMBSTONE_DELETED_AT,
						   quote_identifier(NameStr(trel->tenant_column)),
						   typname, TOMBSTONE_DELETED_CHANGE,
						   TOMBSTONE_DELETED_AT);
			argtypes[0] = coltype;
			argtypes[1] = INT8OID;
			for (i = 0; i < nids; i++)
			{
				values[0] = ids[i];
				values[1] = ids_changes[i];
				(void) TombstoneRunInternal(sql, 2, argtypes, values, NULL,
											TombstoneRelationOwner(root));
			}
			continue;
		}
		get_typlenbyvalalign(coltype, &typlen, &typbyval, &typalign);
		dims[0] = nids;
		values[0] = PointerGetDatum(construct_md_array(ids, NULL, 1, dims, lbs,
													   coltype, typlen,
													   typbyval, typalign));
		argtypes[0] = get_array_type(coltype);
		/*
		 * A DELETE, which the planner turns into the tombstoning UPDATE: on
		 * a table without dependent rows it then skips the row trigger
		 * (executor.c).  Internal queries get no visibility qual, so the
		 * query says itself that it wants live rows only.
		 */
		sql = psprintf(TOMBSTONE_INTERNAL_QUERY
					   "DELETE FROM %s t WHERE t.%s = ANY ($1::%s[])"
					   " AND t.%s IS NULL",
					   TombstoneQualifiedName(root),
					   quote_identifier(NameStr(trel->tenant_column)), typname,
					   TOMBSTONE_DELETED_AT);
		(void) TombstoneRunInternal(sql, 1, argtypes, values, NULL,
									TombstoneRelationOwner(root));
	}
}

/*
 * Work off what the query at executor depth level (and any deeper one that
 * left something) queued: first every action (tenant deletion, cascades),
 * then every check, so that a check sees what the actions did.
 */
void
TombstonePendingProcess(int level)
{
	List	   *mine = NIL;
	List	   *keep = NIL;
	List	   *links = NIL;
	Oid			registry;
	ListCell   *lc;
	MemoryContext oldcxt;
	int			phase;
	bool		pushed;

	if (pending == NIL)
		return;
	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	foreach(lc, pending)
	{
		PendingChunk *chunk = lfirst(lc);

		if (chunk->level >= level)
			mine = lappend(mine, chunk);
		else
			keep = lappend(keep, chunk);
	}
	list_free(pending);
	pending = keep;
	MemoryContextSwitchTo(oldcxt);
	if (mine == NIL)
		return;

	/*
	 * The queries below may process invalidations that rebuild the graph:
	 * work from a copy.
	 */
	registry = TombstoneRegistry(NULL);
	foreach(lc, TombstoneFkLinks())
		links = lappend(links, TombstoneFkLinkCopy(lfirst(lc)));

	/* a portal's ExecutorFinish runs after its snapshot was popped */
	pushed = !ActiveSnapshotSet();
	if (pushed)
		PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (phase = 0; phase < 2; phase++)
	{
		foreach(lc, mine)
		{
			PendingChunk *chunk = lfirst(lc);
			Relation	rel = table_open(chunk->relid, AccessShareLock);
			TupleDesc	desc = RelationGetDescr(rel);
			List	   *selves = rel->rd_rel->relispartition ?
			self_and_ancestors(chunk->relid) : list_make1_oid(chunk->relid);
			ListCell   *l2;

			if (phase == 0 && list_member_oid(selves, registry) &&
				(chunk->tombstoned || cascade_restores))
				sweep_tenants(chunk, desc);
			foreach(l2, links)
			{
				TombstoneFkLink *link = lfirst(l2);

				if (phase == 0 && list_member_oid(selves, link->parent) &&
					link->deltype == FKCONSTR_ACTION_CASCADE &&
					(chunk->tombstoned || cascade_restores))
					cascade_link(link, chunk, desc);
				else if (phase == 0 && list_member_oid(selves, link->parent) &&
						 (link->deltype == FKCONSTR_ACTION_SETNULL ||
						  link->deltype == FKCONSTR_ACTION_SETDEFAULT) &&
						 (chunk->tombstoned || cascade_restores) &&
						 clears_references())
					clear_link(link, chunk, desc);
				else if (phase == 1 && chunk->tombstoned &&
						 list_member_oid(selves, link->parent) &&
						 (link->deltype == FKCONSTR_ACTION_RESTRICT ||
						  link->deltype == FKCONSTR_ACTION_NOACTION))
					check_no_live_children(link, chunk, desc);
				else if (phase == 1 && !chunk->tombstoned &&
						 list_member_oid(selves, link->child) &&
						 link->deltype != FKCONSTR_ACTION_SETNULL &&
						 link->deltype != FKCONSTR_ACTION_SETDEFAULT)
					check_parents_live(link, chunk, desc);
			}
			table_close(rel, AccessShareLock);
		}
	}
	SPI_finish();
	if (pushed)
		PopActiveSnapshot();
	foreach(lc, mine)
		MemoryContextDelete(((PendingChunk *) lfirst(lc))->cxt);
	list_free(mine);
}

void
TombstoneCascadeRestores(bool on)
{
	cascade_restores = on;
}

/*
 * Follow relcache invalidations and the ends of transactions and
 * subtransactions; from _PG_init.
 */
void
TombstoneCascadeInit(void)
{
	TombstoneOnRelcacheInval(wanted_invalidate);
	RegisterXactCallback(cascade_xact_callback, NULL);
	RegisterSubXactCallback(cascade_subxact_callback, NULL);
}
