/*-------------------------------------------------------------------------
 *
 * history.c
 *	  The row history writer: the old version of every row an UPDATE
 *	  changes goes into the history table of its protected table.
 *
 * A table protected with history => true has a column valid_from, the start
 * of the live version's validity, and a history table in schema
 * tombstone_history with the same columns plus valid_to.  For every row an
 * UPDATE changes, the old version goes into the history table with valid_to
 * = the start of the transaction, and the new version gets valid_from = the
 * same instant, as SQL:2011 system versioning does.  A plain UPDATE does
 * that through tombstone._version() in its target list (see "An UPDATE
 * without the row trigger" below); every other one through the BEFORE
 * UPDATE trigger (mechanisms/triggers.c), which calls
 * TombstoneHistoryWrite().  An old version that the current transaction
 * wrote itself was never seen by anyone else and is not kept, so several
 * changes of one row in one transaction leave one version.  INSERT writes
 * no history: the live row carries the start of its validity.
 *
 * The history row is inserted directly into the heap and the indexes of the
 * history table, with the column map from the protected relation (a
 * partition may number its columns differently) to the history table cached
 * per relation and dropped by relcache invalidation.  The history table and
 * its indexes are opened once per statement, at its first old version, and
 * kept until the executor ends (HistoryWriter); an UPDATE of many rows keeps
 * its target heap page pinned, as COPY does.
 *
 * Tombstones: a DELETE (or an UPDATE that only sets deleted_at to now())
 * of a live row whose version started before the transaction and whose
 * deleted_change is NULL tombstones it in place: no history row, and
 * valid_from stays, so the tombstone still carries its last live version,
 * valid from valid_from until deleted_at (tombstones_in_place()).  That
 * version goes to the history table only when the row is restored or
 * changed while tombstoned, with valid_to = deleted_at and deleted_at and
 * deleted_change NULL, as they were while it was live.  A tombstone whose
 * version went to history (one over a row that a change had restored before,
 * whose deleted_change the tombstone overwrites, or one made before this
 * was so) has valid_from at or after deleted_at and carries nothing.  A
 * DELETE on a table with history so writes what it writes without.
 *
 * A version of a row is visible at time T when valid_from <= T < valid_to
 * (valid_to is infinite for the live row; deleted_at for a tombstone in
 * place) and it is not a tombstone; the
 * readers, as_of(), extract_tenant() and rewind_tenant(), are in
 * operations/timetravel.c.  History tables are created by protect()
 * (operations/protect.c) and guarded by mechanisms/triggers.c.
 *
 * src/recording/history.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "executor/executor.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"

#include "foundation/catalog.h"
#include "foundation/errcodes.h"
#include "foundation/internal.h"
#include "foundation/inval.h"
#include "foundation/names.h"
#include "foundation/query.h"
#include "recording/history.h"

PG_FUNCTION_INFO_V1(tombstone_version);

/*
 * How to build a history tuple from a tuple of one protected relation:
 * src[i] is the attribute of the relation that goes into attribute i + 1 of
 * the history table (0: NULL, as for a column the relation no longer has).
 */
typedef struct HistoryMap
{
	Oid			relid;			/* hash key */
	Oid			histrelid;
	int			natts;			/* of the history table */
	AttrNumber	valid_to_attno;
	AttrNumber *src;
} HistoryMap;

static HTAB *history_maps = NULL;

/* Forget the maps of an invalidated relation or history table. */
static void
history_map_callback(Oid relid)
{
	HASH_SEQ_STATUS status;
	HistoryMap *map;

	if (history_maps == NULL)
		return;
	hash_seq_init(&status, history_maps);
	while ((map = hash_seq_search(&status)) != NULL)
	{
		if (OidIsValid(relid) && map->relid != relid && map->histrelid != relid)
			continue;
		if (map->src != NULL)
			pfree(map->src);
		hash_search(history_maps, &map->relid, HASH_REMOVE, NULL);
	}
}

static void history_xact_callback(XactEvent event, void *arg);
static void version_mark_dead(SubTransactionId subid);

static void history_subxact_callback(SubXactEvent event,
									 SubTransactionId mySubid,
									 SubTransactionId parentSubid, void *arg);

/*
 * Register the callbacks this file needs, once: from _PG_init, or at the
 * first use when the library was not preloaded (the triggers still keep
 * history then, and their caches must still be invalidated and their
 * writers still marked by aborts).
 */
static void
history_register_callbacks(void)
{
	static bool registered = false;

	if (registered)
		return;
	TombstoneOnRelcacheInval(history_map_callback);
	RegisterXactCallback(history_xact_callback, NULL);
	RegisterSubXactCallback(history_subxact_callback, NULL);
	registered = true;
}

void
TombstoneHistoryInit(void)
{
	history_register_callbacks();
}

/*
 * The map from rel to its history table hist; both are open and locked, so
 * no invalidation is processed while the caller uses it.
 */
static HistoryMap *
history_map(Relation rel, Relation hist)
{
	Oid			relid = RelationGetRelid(rel);
	HistoryMap *map;
	TupleDesc	hdesc = RelationGetDescr(hist);
	TupleDesc	desc = RelationGetDescr(rel);
	AttrNumber *src;
	AttrNumber	valid_to_attno = InvalidAttrNumber;
	bool		found;
	int			i;

	if (history_maps == NULL)
	{
		HASHCTL		ctl;

		history_register_callbacks();

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(HistoryMap);
		ctl.hcxt = CacheMemoryContext;
		history_maps = hash_create("pg_tombstone history maps", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	map = hash_search(history_maps, &relid, HASH_FIND, NULL);
	if (map != NULL && map->histrelid == RelationGetRelid(hist))
		return map;

	/*
	 * Build the map completely, and refuse, before it enters the cache: an
	 * error must not leave a half-built map behind.
	 */
	src = MemoryContextAllocZero(CacheMemoryContext,
								 sizeof(AttrNumber) * Max(hdesc->natts, 1));
	for (i = 0; i < hdesc->natts; i++)
	{
		Form_pg_attribute hatt = TupleDescAttr(hdesc, i);
		int			j;

		if (hatt->attisdropped)
			continue;
		if (strcmp(NameStr(hatt->attname), TOMBSTONE_VALID_TO) == 0)
		{
			/* the writer stores a timestamptz there: no other type will do */
			if (hatt->atttypid != TIMESTAMPTZOID)
			{
				pfree(src);
				ereport(ERROR,
						(errcode(ERRCODE_TOMBSTONE_HISTORY_WRITE),
						 errmsg("column \"%s\" of history table \"%s\" has type %s, not timestamp with time zone",
								TOMBSTONE_VALID_TO,
								TombstoneQualifiedName(RelationGetRelid(hist)),
								format_type_be(hatt->atttypid)),
						 errdetail("The old version of a row of table \"%s\" cannot be kept, so the UPDATE was refused.",
								   RelationGetRelationName(rel)),
						 errhint("Change the column back to timestamp with time zone; only the extension changes history tables.")));
			}
			valid_to_attno = hatt->attnum;
			continue;
		}
		for (j = 0; j < desc->natts; j++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, j);

			if (!att->attisdropped &&
				strcmp(NameStr(att->attname), NameStr(hatt->attname)) == 0)
			{
				if (att->atttypid != hatt->atttypid)
				{
					pfree(src);
					ereport(ERROR,
							(errcode(ERRCODE_TOMBSTONE_HISTORY_WRITE),
							 errmsg("column \"%s\" of history table \"%s\" has type %s, but table \"%s\" has type %s",
									NameStr(att->attname),
									TombstoneQualifiedName(RelationGetRelid(hist)),
									format_type_be(hatt->atttypid),
									RelationGetRelationName(rel),
									format_type_be(att->atttypid)),
							 errdetail("The old version of the row cannot be kept, so the UPDATE was refused."),
							 errhint("Change the column's type through the protected table, which changes the history table too.")));
				}
				src[i] = att->attnum;
				break;
			}
		}
	}
	if (valid_to_attno == InvalidAttrNumber)
	{
		pfree(src);
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_HISTORY_WRITE),
				 errmsg("history table \"%s\" has no column \"%s\"",
						TombstoneQualifiedName(RelationGetRelid(hist)),
						TOMBSTONE_VALID_TO),
				 errdetail("The old version of a row of table \"%s\" cannot be kept, so the UPDATE was refused.",
						   RelationGetRelationName(rel)),
				 errhint("Leave the history tables as protect() created them.")));
	}

	map = hash_search(history_maps, &relid, HASH_ENTER, &found);
	if (found && map->src != NULL)
		pfree(map->src);
	map->histrelid = RelationGetRelid(hist);
	map->natts = hdesc->natts;
	map->valid_to_attno = valid_to_attno;
	map->src = src;
	return map;
}

/*-------------------------------------------------------------------------
 * Writing history rows
 *-------------------------------------------------------------------------
 */

/*
 * Something a statement opened in a (sub)transaction: an abort of that
 * subtransaction or an enclosing one ends it, and its resources are then
 * released by the resource owner, not by us.  Kept in a list while alive.
 */
typedef struct AbortTracked
{
	SubTransactionId subid;		/* that opened it */
	bool		dead;			/* an abort ended it */
	dlist_node	node;
} AbortTracked;

/* Mark what was opened within subtransaction subid (or any) as dead. */
static void
mark_dead(dlist_head *list, SubTransactionId subid)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, list)
	{
		AbortTracked *t = dlist_container(AbortTracked, node, iter.cur);

		if (subid != InvalidSubTransactionId && t->subid < subid)
			continue;
		t->dead = true;
		dlist_delete(&t->node);
	}
}

/* Start tracking t, opened in the current subtransaction. */
static void
track(dlist_head *list, AbortTracked *t)
{
	t->subid = GetCurrentSubTransactionId();
	t->dead = false;
	dlist_push_tail(list, &t->node);
}

/*
 * What the BEFORE UPDATE trigger of one protected relation needs to write
 * old versions during one statement: the history table and its indexes,
 * opened at the first version written and closed when the statement's
 * executor ends, so that an UPDATE of many rows opens them once, not once
 * per row.
 *
 * A writer lives in the executor's query context: the trigger keeps it in
 * its fn_extra (allocated in fn_mcxt), an UPDATE without the trigger in its
 * VersionState (below).  A reset callback of that context closes what it
 * opened.  When the executor dies in an error instead, the
 * (sub)transaction's resource owner has released or is about to release
 * the relations and the buffer pin, and the callback must not release them
 * a second time: it only closes a writer while the transaction is in
 * progress and no abort of the subtransaction that opened it (or of an
 * enclosing one) has been seen.  Open writers are kept in a list for the
 * abort callbacks to mark.
 */
typedef struct HistoryWriter
{
	MemoryContext cxt;			/* the executor's query context */
	FmgrInfo   *flinfo;			/* whose fn_extra points here, or NULL */
	Oid			relid;			/* the protected relation */
	Oid			histrelid;		/* InvalidOid: the relation has no history */
	AttrNumber	valid_from_attno;
	AttrNumber	deleted_at_attno;	/* of the protected relation */
	AttrNumber	deleted_change_attno;
	int			rel_natts;		/* of the protected relation */

	/* set when the first version is written */
	Relation	hist;
	ResultRelInfo *rri;			/* hist and its open indexes */
	bool		direct;			/* heap_insert and index_insert suffice */
	MemoryContext rowcxt;		/* direct: reset after every row */
	EState	   *estate;			/* otherwise: for ExecInsertIndexTuples */
	TupleTableSlot *slot;
	BulkInsertState bistate;	/* heap history tables, after a few rows */
	int64		rows;			/* versions written, until bistate is made */
	int			natts;			/* of the history table */
	AttrNumber	valid_to_attno;
	AttrNumber *src;			/* as in HistoryMap */
	Datum	   *values;			/* the old row, deformed */
	bool	   *nulls;
	Datum	   *hvalues;		/* the history row */
	bool	   *hnulls;

	AbortTracked tracked;		/* in open_writers while hist is open */
	MemoryContextCallback release;
} HistoryWriter;

/*
 * From this many versions in one statement on, the heap insertions keep
 * their target page pinned from one row to the next and go through a ring
 * of buffers, as COPY does (GetBulkInsertState).
 */
#define HISTORY_BULK_ROWS	16

static dlist_head open_writers = DLIST_STATIC_INIT(open_writers);

/*
 * Reset callback of the writer's memory context: the statement is over.
 * The context's children (the writer's EState) are gone already, since a
 * context deletes its children before calling its callbacks; the FmgrInfo
 * is in this context or an ancestor, so it is still there.
 */
static void
history_writer_release(void *arg)
{
	HistoryWriter *w = (HistoryWriter *) arg;

	if (w->flinfo != NULL && w->flinfo->fn_extra == w)
		w->flinfo->fn_extra = NULL;
	if (w->hist == NULL)
		return;
	if (!w->tracked.dead)
		dlist_delete(&w->tracked.node);
	if (w->tracked.dead || !IsTransactionState())
		return;

	if (w->bistate != NULL)
		FreeBulkInsertState(w->bistate);
	if (w->slot != NULL)
		ExecDropSingleTupleTableSlot(w->slot);
	ExecCloseIndices(w->rri);
	table_close(w->hist, NoLock);
}

/*
 * No writer outlives its transaction: after a commit the list is empty
 * already, unless a statement ended without closing one.
 */
static void
history_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		mark_dead(&open_writers, InvalidSubTransactionId);
		version_mark_dead(InvalidSubTransactionId);
	}
}

static void
history_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		mark_dead(&open_writers, mySubid);
		version_mark_dead(mySubid);
	}
}

/*
 * A writer for relation rel, living in memory context cxt until its reset;
 * whether rel has history is looked up once.
 */
static HistoryWriter *
history_writer_make(MemoryContext cxt, Relation rel)
{
	HistoryWriter *w = MemoryContextAllocZero(cxt, sizeof(HistoryWriter));
	const TombstoneRel *trel;

	w->cxt = cxt;
	w->relid = RelationGetRelid(rel);
	trel = TombstoneRelLookup(w->relid);
	if (trel != NULL && OidIsValid(trel->history_relid))
	{
		w->histrelid = trel->history_relid;
		w->valid_from_attno = trel->valid_from_attno;
		w->deleted_at_attno = trel->deleted_at_attno;
		w->deleted_change_attno = trel->deleted_change_attno;
	}
	w->rel_natts = RelationGetDescr(rel)->natts;
	w->release.func = history_writer_release;
	w->release.arg = w;
	MemoryContextRegisterResetCallback(cxt, &w->release);
	return w;
}

/*
 * The writer of the trigger call site flinfo for relation rel, made at its
 * first row and kept for the statement.
 */
static HistoryWriter *
history_writer(FmgrInfo *flinfo, Relation rel)
{
	HistoryWriter *w = (HistoryWriter *) flinfo->fn_extra;

	if (w != NULL)
	{
		if (w->relid != RelationGetRelid(rel))
			elog(ERROR, "history writer of relation %u called for relation %u",
				 w->relid, RelationGetRelid(rel));
		return w;
	}
	w = history_writer_make(flinfo->fn_mcxt, rel);
	w->flinfo = flinfo;
	flinfo->fn_extra = w;
	return w;
}

/*
 * Can a history row go into this index without the executor: plain
 * columns, no predicate, nothing to check?  protect() creates only such
 * indexes; one added by hand may need ExecInsertIndexTuples.
 */
static bool
simple_index(IndexInfo *ii)
{
	return !ii->ii_Unique && TombstoneIndexOfColumns(ii);
}

/*
 * Open the history table and its indexes for the rest of the statement.
 * Refuses (history_map) before anything is kept.
 */
static void
history_writer_open(HistoryWriter *w, Relation rel)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(w->cxt);
	Relation	hist = table_open(w->histrelid, RowExclusiveLock);
	HistoryMap *map = history_map(rel, hist);
	ResultRelInfo *rri;
	int			i;

	w->natts = map->natts;
	w->valid_to_attno = map->valid_to_attno;
	w->src = palloc(sizeof(AttrNumber) * Max(map->natts, 1));
	memcpy(w->src, map->src, sizeof(AttrNumber) * map->natts);
	w->values = palloc(sizeof(Datum) * Max(w->rel_natts, 1));
	w->nulls = palloc(sizeof(bool) * Max(w->rel_natts, 1));
	w->hvalues = palloc(sizeof(Datum) * Max(map->natts, 1));
	w->hnulls = palloc(sizeof(bool) * Max(map->natts, 1));

	/* no triggers, constraints or privileges: what InitResultRelInfo adds */
	rri = makeNode(ResultRelInfo);
	rri->ri_RelationDesc = hist;
	ExecOpenIndices(rri, false);
	w->rri = rri;
	w->direct = hist->rd_rel->relam == HEAP_TABLE_AM_OID;
	for (i = 0; i < rri->ri_NumIndices && w->direct; i++)
		w->direct = simple_index(rri->ri_IndexRelationInfo[i]);
	if (w->direct)
		w->rowcxt = AllocSetContextCreate(w->cxt, "pg_tombstone history row",
										  ALLOCSET_SMALL_SIZES);
	else
	{
		w->estate = CreateExecutorState();
		w->slot = MakeSingleTupleTableSlot(RelationGetDescr(hist),
										   &TTSOpsHeapTuple);
	}
	w->hist = hist;
	track(&open_writers, &w->tracked);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Does a row (deformed: values and nulls) still carry the live version of a
 * tombstone: deleted_at set, and valid_from before it?  Then that version
 * was valid from valid_from until deleted_at, *until.  A tombstone written
 * before this was so (or one whose live version went to history when it
 * was made) has valid_from at or after its deleted_at.
 */
static bool
tombstone_live_until(const Datum *values, const bool *nulls,
					 AttrNumber from_attno, AttrNumber at_attno,
					 TimestampTz *until)
{
	if (from_attno == InvalidAttrNumber || at_attno == InvalidAttrNumber ||
		nulls[from_attno - 1] || nulls[at_attno - 1] ||
		DatumGetTimestampTz(values[from_attno - 1]) >=
		DatumGetTimestampTz(values[at_attno - 1]))
		return false;
	*until = DatumGetTimestampTz(values[at_attno - 1]);
	return true;
}

/* The same for a tuple of relation descriptor desc. */
static bool
tuple_live_until(HeapTuple tuple, TupleDesc desc, AttrNumber from_attno,
				 AttrNumber at_attno, TimestampTz *until)
{
	Datum		values[2];
	bool		nulls[2];

	if (from_attno == InvalidAttrNumber || at_attno == InvalidAttrNumber)
		return false;
	values[0] = heap_getattr(tuple, from_attno, desc, &nulls[0]);
	values[1] = heap_getattr(tuple, at_attno, desc, &nulls[1]);
	return tombstone_live_until(values, nulls, 1, 2, until);
}

/*
 * Insert the old version oldtup of a row of rel, ending at valid_to, into
 * the history table: heap and indexes directly, without the executor's
 * per-statement state when the indexes allow (simple_index).
 */
static void
history_writer_insert(HistoryWriter *w, Relation rel, HeapTuple oldtup,
					  TimestampTz valid_to)
{
	MemoryContext oldcxt;
	HeapTuple	tuple;
	TimestampTz until;
	bool		live_until;
	int			i;

	if (w->hist == NULL)
		history_writer_open(w, rel);
	Assert(RelationGetDescr(rel)->natts == w->rel_natts);
	if (w->bistate == NULL && ++w->rows >= HISTORY_BULK_ROWS &&
		w->hist->rd_rel->relam == HEAP_TABLE_AM_OID)
	{
		oldcxt = MemoryContextSwitchTo(w->cxt);
		w->bistate = GetBulkInsertState();
		MemoryContextSwitchTo(oldcxt);
	}

	oldcxt = MemoryContextSwitchTo(w->direct ? w->rowcxt :
								   GetPerTupleMemoryContext(w->estate));
	heap_deform_tuple(oldtup, RelationGetDescr(rel), w->values, w->nulls);

	/*
	 * A tombstone that still carries its live version (see "Tombstones" in
	 * the file header): what is kept is that version, live until the row
	 * was tombstoned, with the tombstone's columns as they were before it.
	 */
	live_until = tombstone_live_until(w->values, w->nulls, w->valid_from_attno,
									  w->deleted_at_attno, &until);
	if (live_until)
		valid_to = until;
	for (i = 0; i < w->natts; i++)
	{
		AttrNumber	src = w->src[i];

		w->hvalues[i] = src > 0 ? w->values[src - 1] : (Datum) 0;
		w->hnulls[i] = src > 0 ? w->nulls[src - 1] : true;
		if (live_until && src > 0 &&
			(src == w->deleted_at_attno || src == w->deleted_change_attno))
		{
			w->hvalues[i] = (Datum) 0;
			w->hnulls[i] = true;
		}
	}
	w->hvalues[w->valid_to_attno - 1] = TimestampTzGetDatum(valid_to);
	w->hnulls[w->valid_to_attno - 1] = false;
	tuple = heap_form_tuple(RelationGetDescr(w->hist), w->hvalues, w->hnulls);
	if (w->direct)
	{
		heap_insert(w->hist, tuple, GetCurrentCommandId(true), 0, w->bistate);
		for (i = 0; i < w->rri->ri_NumIndices; i++)
		{
			IndexInfo  *ii = w->rri->ri_IndexRelationInfo[i];

			if (ii->ii_ReadyForInserts)
				TombstoneIndexInsertColumns(w->rri->ri_IndexRelationDescs[i],
											ii, w->hist, &tuple->t_self,
											w->hvalues, w->hnulls,
											UNIQUE_CHECK_NO);
		}
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(w->rowcxt);
		return;
	}
	ExecStoreHeapTuple(tuple, w->slot, true);
	table_tuple_insert(w->hist, w->slot, GetCurrentCommandId(true), 0,
					   w->bistate);
	if (w->rri->ri_NumIndices > 0)
		(void) ExecInsertIndexTuples(w->rri, w->slot, w->estate, false, false,
									 NULL, NIL);
	ExecClearTuple(w->slot);
	MemoryContextSwitchTo(oldcxt);
	ResetPerTupleExprContext(w->estate);
}

/*
 * The start of the validity of a row's new version, given its old version's
 * valid_from (isnull: none) and whether the current transaction wrote the
 * old version itself (own).  *keep says whether the old version goes into
 * the history table, with valid_to = the value returned.
 */
static TimestampTz
new_valid_from(bool own, Datum old_from, bool isnull, bool *keep)
{
	TimestampTz stamp = GetCurrentTransactionStartTimestamp();

	/*
	 * A version this transaction wrote (inserted or updated) was never seen
	 * by others: the row keeps the validity this transaction gave it.
	 */
	*keep = !own;
	if (own)
		return isnull ? stamp : DatumGetTimestampTz(old_from);

	/*
	 * A transaction that started after this one may have committed the old
	 * version (READ COMMITTED): the versions of a row must follow each
	 * other, so this one starts a microsecond after that one.
	 */
	if (!isnull && DatumGetTimestampTz(old_from) >= stamp)
		stamp = DatumGetTimestampTz(old_from) + 1;
	return stamp;
}

/*
 * Do oldtup and newtup of rel differ only in the columns pg_tombstone keeps
 * (valid_from, deleted_at, deleted_change)?  Compared as stored, so a value
 * written differently counts as changed, which only keeps one more version.
 */
static bool
same_user_columns(const HistoryWriter *w, TupleDesc desc, HeapTuple oldtup,
				  HeapTuple newtup)
{
	int			i;

	for (i = 1; i <= desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i - 1);
		Datum		a;
		Datum		b;
		bool		anull;
		bool		bnull;

		if (att->attisdropped || i == w->valid_from_attno ||
			i == w->deleted_at_attno || i == w->deleted_change_attno)
			continue;
		a = heap_getattr(oldtup, i, desc, &anull);
		b = heap_getattr(newtup, i, desc, &bnull);
		if (anull != bnull ||
			(!anull && !datumIsEqual(a, b, att->attbyval, att->attlen)))
			return false;
	}
	return true;
}

/*
 * Does the UPDATE of oldtup to newtup tombstone a row in place, keeping its
 * live version in the row (see "Tombstones" in the file header)?  It does
 * when it tombstones a live row as of now (the transaction's start, as a
 * DELETE does), changes nothing else, the row's version started before
 * now, and no change restored the row before (its deleted_change, which
 * the tombstone overwrites, is NULL).
 */
static bool
tombstones_in_place(const HistoryWriter *w, TupleDesc desc, HeapTuple oldtup,
					HeapTuple newtup, TimestampTz now)
{
	Datum		d;
	bool		isnull;

	if (w->deleted_at_attno == InvalidAttrNumber ||
		w->deleted_change_attno == InvalidAttrNumber)
		return false;
	(void) heap_getattr(oldtup, w->deleted_at_attno, desc, &isnull);
	if (!isnull)
		return false;
	d = heap_getattr(newtup, w->deleted_at_attno, desc, &isnull);
	if (isnull || DatumGetTimestampTz(d) != now)
		return false;
	(void) heap_getattr(oldtup, w->deleted_change_attno, desc, &isnull);
	if (!isnull)
		return false;
	d = heap_getattr(oldtup, w->valid_from_attno, desc, &isnull);
	if (isnull || DatumGetTimestampTz(d) >= now)
		return false;
	return same_user_columns(w, desc, oldtup, newtup);
}

/* set by the purge while it drops versions that tombstones carry */
static bool dropping_carried = false;

/*
 * Let the purge's own UPDATE "valid_from = deleted_at" of tombstones in
 * place through without keeping their versions: the purge removes the
 * versions that ended before its cutoff, and for a tombstone it cannot
 * remove (another row still references it) the version it carries is one
 * of them.  Called with true before that statement and false after it.
 */
void
TombstoneHistoryDropCarried(bool on)
{
	dropping_carried = on;
}

/*
 * Is the update of oldtup to newtup the purge's dropping of the version a
 * tombstone in place carries (see TombstoneHistoryDropCarried)?
 */
static bool
drops_carried(const HistoryWriter *w, TupleDesc desc, HeapTuple oldtup,
			  HeapTuple newtup)
{
	TimestampTz until;
	Datum		from;
	Datum		at;
	bool		from_null;
	bool		at_null;

	if (!dropping_carried ||
		!tuple_live_until(oldtup, desc, w->valid_from_attno,
						  w->deleted_at_attno, &until))
		return false;
	from = heap_getattr(newtup, w->valid_from_attno, desc, &from_null);
	at = heap_getattr(newtup, w->deleted_at_attno, desc, &at_null);
	return !from_null && !at_null &&
		DatumGetTimestampTz(from) == until &&
		DatumGetTimestampTz(at) == until &&
		same_user_columns(w, desc, oldtup, newtup);
}

/*
 * Called by the BEFORE UPDATE trigger of every protected table (flinfo is
 * the trigger's), after the bookkeeping of tombstones: keep the old version
 * of the row and stamp the new one.  Returns the new tuple to store.
 */
HeapTuple
TombstoneHistoryWrite(FmgrInfo *flinfo, Relation rel, HeapTuple oldtup,
					  HeapTuple newtup)
{
	HistoryWriter *w = history_writer(flinfo, rel);
	TupleDesc	desc = RelationGetDescr(rel);
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	TimestampTz stamp;
	TimestampTz until;
	Datum		d;
	bool		isnull;
	bool		keep;
	int			replcol;

	if (!OidIsValid(w->histrelid) || drops_carried(w, desc, oldtup, newtup))
		return newtup;
	if (tuple_live_until(oldtup, desc, w->valid_from_attno,
						 w->deleted_at_attno, &until))
	{
		/*
		 * A tombstone restored or changed: its live version goes to history
		 * now, ending where the tombstone began; the new version starts now
		 * (or there, should a later transaction have tombstoned it).
		 */
		history_writer_insert(w, rel, oldtup, until);
		stamp = Max(until, now);
	}
	else if (tombstones_in_place(w, desc, oldtup, newtup, now))
	{
		/* the row keeps its version and valid_from: nothing to keep */
		d = heap_getattr(oldtup, w->valid_from_attno, desc, &isnull);
		replcol = w->valid_from_attno;
		return heap_modify_tuple_by_cols(newtup, desc, 1, &replcol, &d, &isnull);
	}
	else
	{
		d = heap_getattr(oldtup, w->valid_from_attno, desc, &isnull);
		stamp = new_valid_from(TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(oldtup->t_data)),
							   d, isnull, &keep);
		if (keep)
			history_writer_insert(w, rel, oldtup, stamp);
	}

	/*
	 * A tombstone whose live version went to history carries none: its
	 * valid_from must not lie before its deleted_at.
	 */
	if (w->deleted_at_attno != InvalidAttrNumber)
	{
		d = heap_getattr(newtup, w->deleted_at_attno, desc, &isnull);
		if (!isnull && DatumGetTimestampTz(d) > stamp)
			stamp = DatumGetTimestampTz(d);
	}

	d = TimestampTzGetDatum(stamp);
	isnull = false;
	replcol = w->valid_from_attno;
	return heap_modify_tuple_by_cols(newtup, desc, 1, &replcol, &d, &isnull);
}

/*-------------------------------------------------------------------------
 * An UPDATE without the row trigger
 *
 * PostgreSQL locks a row, and WAL-logs the lock, before it runs a BEFORE
 * UPDATE row trigger, and the trigger copies the new row to stamp it.  For
 * an UPDATE (or a DELETE turned into one) of a plain heap table with
 * history and no row trigger of the user's, mechanisms/planner.c sets
 *
 *		valid_from = tombstone._version(valid_from, xmin, ctid)
 *
 * and mechanisms/executor.c, when the statement starts, leaves the trigger
 * out and calls TombstoneVersionStart().  _version() stamps the new version
 * from the old one's valid_from and xmin, as the trigger would, and
 * remembers the old version's ctid.
 *
 * The projection that calls _version() runs before the row is updated, and
 * a row may not be updated after all: a concurrent update makes the
 * executor project the row's newest version again (EvalPlanQual), a
 * concurrent delete skips it.  So the old version is written to the history
 * table only once the executor has moved on: at the next row's projection,
 * or when the statement finishes, the old version is read back from the
 * heap and kept when this very command (transaction and command id) updated
 * it.  Only one row is ever pending, and nothing is kept per row.
 * The executor allows this only for a plan whose scan produces each row once
 * (no join): a row updated twice in one command would be kept twice.
 *-------------------------------------------------------------------------
 */

/* The trigger-free UPDATE of one statement: lives in its query context. */
typedef struct VersionState
{
	EState	   *estate;			/* the statement's */
	const FuncExpr *call;		/* its _version() call */
	Relation	rel;			/* the result relation */
	bool		tombstoning;	/* a DELETE turned into a tombstone */
	AttrNumber	valid_from_attno;
	AttrNumber	deleted_at_attno;
	AttrNumber	deleted_change_attno;
	CommandId	cid;			/* the command id its UPDATE writes with */
	HistoryWriter *writer;		/* made at the first version kept */
	bool		pending;		/* tid was projected, its update not seen */
	ItemPointerData tid;		/* the old version */
	TimestampTz stamp;			/* its valid_to */
	AbortTracked tracked;		/* in version_states */
	MemoryContextCallback release;
} VersionState;

static dlist_head version_states = DLIST_STATIC_INIT(version_states);

/* the state of the statement whose ExecutorRun is running, or NULL */
static VersionState *running_version = NULL;

static void
version_release(void *arg)
{
	VersionState *vs = (VersionState *) arg;

	if (running_version == vs)
		running_version = NULL;
	if (!vs->tracked.dead)
		dlist_delete(&vs->tracked.node);
}

/* An abort ends the statements started within it. */
static void
version_mark_dead(SubTransactionId subid)
{
	mark_dead(&version_states, subid);
	if (running_version != NULL && running_version->tracked.dead)
		running_version = NULL;
}

static VersionState *
version_state(EState *estate)
{
	dlist_iter	iter;

	dlist_foreach(iter, &version_states)
	{
		VersionState *vs = dlist_container(VersionState, tracked.node, iter.cur);

		if (vs->estate == estate)
			return vs;
	}
	return NULL;
}

/*
 * ExecutorStart of a statement that updates rel without the row trigger:
 * call is the _version() call of its plan; tombstoning says whether the
 * statement is a DELETE turned into a tombstone; attnos are rel's
 * valid_from, deleted_at and deleted_change.
 */
void
TombstoneVersionStart(EState *estate, Relation rel, const FuncExpr *call,
					  bool tombstoning, const AttrNumber *attnos)
{
	VersionState *vs = MemoryContextAllocZero(estate->es_query_cxt,
											  sizeof(VersionState));

	vs->estate = estate;
	vs->call = call;
	vs->rel = rel;
	vs->valid_from_attno = attnos[0];
	vs->deleted_at_attno = attnos[1];
	vs->deleted_change_attno = attnos[2];
	vs->tombstoning = tombstoning && vs->deleted_at_attno != InvalidAttrNumber &&
		vs->deleted_change_attno != InvalidAttrNumber;
	vs->cid = estate->es_output_cid;
	vs->release.func = version_release;
	vs->release.arg = vs;
	MemoryContextRegisterResetCallback(estate->es_query_cxt, &vs->release);
	track(&version_states, &vs->tracked);
}

/*
 * ExecutorRun: make the statement of estate the one _version() serves (or
 * none), and return the one it served before, for TombstoneVersionRunEnd.
 */
void *
TombstoneVersionRunBegin(EState *estate)
{
	VersionState *prev = running_version;

	running_version = dlist_is_empty(&version_states) ? NULL :
		version_state(estate);
	return prev;
}

void
TombstoneVersionRunEnd(void *prev)
{
	VersionState *vs = (VersionState *) prev;

	running_version = (vs != NULL && !vs->tracked.dead) ? vs : NULL;
}

/*
 * The old version at tid of a row of rel, copied, when command cid of the
 * current transaction updated (or deleted) it; NULL otherwise.
 */
static HeapTuple
updated_version(Relation rel, ItemPointer tid, CommandId cid)
{
	Buffer		buf = ReadBuffer(rel, ItemPointerGetBlockNumber(tid));
	OffsetNumber off = ItemPointerGetOffsetNumber(tid);
	HeapTuple	result = NULL;
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (off >= FirstOffsetNumber && off <= PageGetMaxOffsetNumber(page))
	{
		ItemId		lp = PageGetItemId(page, off);

		if (ItemIdIsNormal(lp))
		{
			HeapTupleHeader htup = (HeapTupleHeader) PageGetItem(page, lp);

			if (!(htup->t_infomask & HEAP_XMAX_INVALID) &&
				!HEAP_XMAX_IS_LOCKED_ONLY(htup->t_infomask) &&
				TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetUpdateXid(htup)) &&
				HeapTupleHeaderGetCmax(htup) == cid)
			{
				HeapTupleData tuple;

				tuple.t_data = htup;
				tuple.t_len = ItemIdGetLength(lp);
				tuple.t_self = *tid;
				tuple.t_tableOid = RelationGetRelid(rel);
				result = heap_copytuple(&tuple);
			}
		}
	}
	UnlockReleaseBuffer(buf);
	return result;
}

/* Keep the pending old version, if its row was updated after all. */
static void
version_flush(VersionState *vs)
{
	HeapTuple	old;

	if (!vs->pending)
		return;
	vs->pending = false;
	old = updated_version(vs->rel, &vs->tid, vs->cid);
	if (old == NULL)
		return;
	if (vs->writer == NULL)
		vs->writer = history_writer_make(vs->estate->es_query_cxt, vs->rel);
	if (OidIsValid(vs->writer->histrelid))
		history_writer_insert(vs->writer, vs->rel, old, vs->stamp);
	heap_freetuple(old);
}

/*
 * ExecutorFinish of a statement: keep the old version of its last row.
 * Runs before its AFTER triggers, as the row trigger would have.
 */
void
TombstoneVersionFinish(EState *estate)
{
	VersionState *vs;

	if (dlist_is_empty(&version_states) ||
		(vs = version_state(estate)) == NULL)
		return;
	version_flush(vs);
}

/*
 * What _version() needs of the old version at tid, whose xmin column is
 * xmin: *own, whether the current transaction wrote it itself (the xmin
 * column gives the raw transaction id, which a frozen tuple keeps: look at
 * the tuple to tell), and for a tombstoning statement *restored, whether its
 * deleted_change is set (a change restored the row before).  A tombstone
 * that still carries its live version (a tombstone in place: see the file
 * header) counts as not the transaction's own, even if it tombstoned it:
 * that version is older.  The tuple is read only when the answer needs it.
 */
static void
old_version(VersionState *vs, ItemPointer tid, TransactionId xmin,
			bool *own, bool *restored)
{
	Buffer		buf;
	Page		page;
	OffsetNumber off = ItemPointerGetOffsetNumber(tid);

	*own = TransactionIdIsCurrentTransactionId(xmin);
	*restored = false;
	if (!*own && !vs->tombstoning)
		return;
	buf = ReadBuffer(vs->rel, ItemPointerGetBlockNumber(tid));
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (off >= FirstOffsetNumber && off <= PageGetMaxOffsetNumber(page))
	{
		ItemId		lp = PageGetItemId(page, off);

		if (ItemIdIsNormal(lp))
		{
			HeapTupleData tuple;
			TupleDesc	desc = RelationGetDescr(vs->rel);
			TimestampTz until;
			bool		isnull;

			tuple.t_data = (HeapTupleHeader) PageGetItem(page, lp);
			tuple.t_len = ItemIdGetLength(lp);
			tuple.t_self = *tid;
			tuple.t_tableOid = RelationGetRelid(vs->rel);
			if (*own && HeapTupleHeaderXminFrozen(tuple.t_data))
				*own = false;
			if (vs->tombstoning)
			{
				(void) heap_getattr(&tuple, vs->deleted_change_attno, desc,
									&isnull);
				*restored = !isnull;
			}
			else if (*own &&
					 tuple_live_until(&tuple, desc, vs->valid_from_attno,
									  vs->deleted_at_attno, &until))
				*own = false;
		}
	}
	UnlockReleaseBuffer(buf);
}

/*
 * tombstone._version(valid_from timestamptz, xmin xid, ctid tid) returns
 * timestamptz: see above.  Anywhere but in the call the planner made for the
 * running statement it returns valid_from unchanged, and the row trigger
 * (which did not stay out) stamps the row itself.  A DELETE tombstones in
 * place when it can (tombstones_in_place(), above): valid_from stays and
 * nothing is kept.
 */
Datum
tombstone_version(PG_FUNCTION_ARGS)
{
	VersionState *vs = running_version;
	ItemPointer tid;
	TimestampTz stamp;
	bool		keep;
	bool		own;
	bool		restored;

	if (vs == NULL || fcinfo->flinfo->fn_expr != (Node *) vs->call ||
		PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}

	/* the executor is done with the row projected before this one */
	version_flush(vs);

	tid = (ItemPointer) PG_GETARG_POINTER(2);
	old_version(vs, tid, DatumGetTransactionId(PG_GETARG_DATUM(1)), &own,
				&restored);
	if (vs->tombstoning && !restored && !PG_ARGISNULL(0) &&
		PG_GETARG_TIMESTAMPTZ(0) < GetCurrentTransactionStartTimestamp())
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	stamp = new_valid_from(own, PG_GETARG_DATUM(0), PG_ARGISNULL(0), &keep);

	/*
	 * A tombstone not made in place carries no version: its valid_from must
	 * not lie before its deleted_at, now (as in TombstoneHistoryWrite).
	 */
	if (vs->tombstoning && stamp < GetCurrentTransactionStartTimestamp())
		stamp = GetCurrentTransactionStartTimestamp();
	if (keep)
	{
		vs->tid = *tid;
		vs->stamp = stamp;
		vs->pending = true;
	}
	PG_RETURN_TIMESTAMPTZ(stamp);
}
