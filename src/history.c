/*-------------------------------------------------------------------------
 *
 * history.c
 *	  Row history of protected tables and time travel per tenant.
 *
 * A table protected with history => true has a column valid_from, the start
 * of the live version's validity, and a history table in schema
 * tombstone_history with the same columns plus valid_to.  For every row an
 * UPDATE changes, the old version goes into the history table with valid_to
 * = the start of the transaction, and the new version gets valid_from = the
 * same instant, as SQL:2011 system versioning does.  A plain UPDATE does
 * that through tombstone._version() in its target list (see "An UPDATE
 * without the row trigger" below); every other one through the BEFORE
 * UPDATE trigger (triggers.c), which calls TombstoneHistoryWrite().  An old version that the current
 * transaction wrote itself was never seen by anyone else and is not kept, so
 * several changes of one row in one transaction leave one version.  INSERT
 * writes no history: the live row carries the start of its validity.
 *
 * The history row is inserted directly into the heap and the indexes of the
 * history table, with the column map from the protected relation (a
 * partition may number its columns differently) to the history table cached
 * per relation and dropped by relcache invalidation.  The history table and
 * its indexes are opened once per statement, at its first old version, and
 * kept until the executor ends (HistoryWriter); an UPDATE of many rows keeps
 * its target heap page pinned, as COPY does.
 *
 * A version of a row is visible at time T when valid_from <= T < valid_to
 * (valid_to is infinite for the live row) and it is not a tombstone, so
 * as_of() reads the live table and the history table with that condition,
 * both through their tenant indexes.  rewind_tenant() makes a tenant's rows
 * equal to what as_of() returns, with three kinds of UPDATE per table.
 *
 * src/history.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tstoreReceiver.h"
#include "funcapi.h"
#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "pg_tombstone.h"

PG_FUNCTION_INFO_V1(tombstone_create_history);
PG_FUNCTION_INFO_V1(tombstone_history_guard);
PG_FUNCTION_INFO_V1(tombstone_as_of);
PG_FUNCTION_INFO_V1(tombstone_rewind_tenant);
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
history_map_callback(Datum arg, Oid relid)
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
	CacheRegisterRelcacheCallback(history_map_callback, (Datum) 0);
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
	int			i;

	if (ii->ii_Expressions != NIL || ii->ii_Predicate != NIL ||
		ii->ii_ExclusionOps != NULL || ii->ii_Unique)
		return false;
	for (i = 0; i < ii->ii_NumIndexAttrs; i++)
	{
		if (ii->ii_IndexAttrNumbers[i] <= 0)
			return false;
	}
	return true;
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
	for (i = 0; i < w->natts; i++)
	{
		AttrNumber	src = w->src[i];

		w->hvalues[i] = src > 0 ? w->values[src - 1] : (Datum) 0;
		w->hnulls[i] = src > 0 ? w->nulls[src - 1] : true;
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
			Datum		ivalues[INDEX_MAX_KEYS];
			bool		inulls[INDEX_MAX_KEYS];
			int			j;

			if (!ii->ii_ReadyForInserts)
				continue;
			for (j = 0; j < ii->ii_NumIndexAttrs; j++)
			{
				AttrNumber	attno = ii->ii_IndexAttrNumbers[j];

				ivalues[j] = w->hvalues[attno - 1];
				inulls[j] = w->hnulls[attno - 1];
			}
			(void) index_insert(w->rri->ri_IndexRelationDescs[i], ivalues,
								inulls, &tuple->t_self, w->hist,
								UNIQUE_CHECK_NO, false, ii);
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
 * Called by the BEFORE UPDATE trigger of every protected table (flinfo is
 * the trigger's), after the bookkeeping of tombstones: keep the old version
 * of the row and stamp the new one.  Returns the new tuple to store.
 */
HeapTuple
TombstoneHistoryWrite(FmgrInfo *flinfo, Relation rel, HeapTuple oldtup,
					  HeapTuple newtup)
{
	HistoryWriter *w = history_writer(flinfo, rel);
	TimestampTz stamp;
	Datum		d;
	bool		isnull;
	bool		keep;
	int			replcol;

	if (!OidIsValid(w->histrelid))
		return newtup;
	d = heap_getattr(oldtup, w->valid_from_attno, RelationGetDescr(rel), &isnull);
	stamp = new_valid_from(TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(oldtup->t_data)),
						   d, isnull, &keep);
	if (keep)
		history_writer_insert(w, rel, oldtup, stamp);

	d = TimestampTzGetDatum(stamp);
	isnull = false;
	replcol = w->valid_from_attno;
	return heap_modify_tuple_by_cols(newtup, RelationGetDescr(rel), 1,
									 &replcol, &d, &isnull);
}

/*-------------------------------------------------------------------------
 * An UPDATE without the row trigger
 *
 * PostgreSQL locks a row, and WAL-logs the lock, before it runs a BEFORE
 * UPDATE row trigger, and the trigger copies the new row to stamp it.  For
 * an UPDATE (or a DELETE turned into one) of a plain heap table with
 * history and no row trigger of the user's, planner.c sets
 *
 *		valid_from = tombstone._version(valid_from, xmin, ctid)
 *
 * and ledger.c, when the statement starts, leaves the trigger out and calls
 * TombstoneVersionStart().  _version() stamps the new version from the old
 * one's valid_from and xmin, as the trigger would, and remembers the old
 * version's ctid.
 *
 * The projection that calls _version() runs before the row is updated, and
 * a row may not be updated after all: a concurrent update makes the
 * executor project the row's newest version again (EvalPlanQual), a
 * concurrent delete skips it.  So the old version is written to the history
 * table only once the executor has moved on: at the next row's projection,
 * or when the statement finishes, the old version is read back from the
 * heap and kept when this very command (transaction and command id) updated
 * it.  Only one row is ever pending, and nothing is kept per row.
 * ledger.c allows this only for a plan whose scan produces each row once
 * (no join): a row updated twice in one command would be kept twice.
 *-------------------------------------------------------------------------
 */

/* The trigger-free UPDATE of one statement: lives in its query context. */
typedef struct VersionState
{
	EState	   *estate;			/* the statement's */
	const FuncExpr *call;		/* its _version() call */
	Relation	rel;			/* the result relation */
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
 * call is the _version() call of its plan.
 */
void
TombstoneVersionStart(EState *estate, Relation rel, const FuncExpr *call)
{
	VersionState *vs = MemoryContextAllocZero(estate->es_query_cxt,
											  sizeof(VersionState));

	vs->estate = estate;
	vs->call = call;
	vs->rel = rel;
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
 * Did the current transaction write the tuple at tid itself?  The xmin
 * column gives the raw transaction id, which a frozen tuple keeps: look at
 * the tuple to tell.
 */
static bool
xmin_is_current(Relation rel, ItemPointer tid, TransactionId xmin)
{
	Buffer		buf;
	Page		page;
	OffsetNumber off = ItemPointerGetOffsetNumber(tid);
	bool		result = true;

	if (!TransactionIdIsCurrentTransactionId(xmin))
		return false;
	buf = ReadBuffer(rel, ItemPointerGetBlockNumber(tid));
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (off >= FirstOffsetNumber && off <= PageGetMaxOffsetNumber(page))
	{
		ItemId		lp = PageGetItemId(page, off);

		if (ItemIdIsNormal(lp))
			result = !HeapTupleHeaderXminFrozen((HeapTupleHeader) PageGetItem(page, lp));
	}
	UnlockReleaseBuffer(buf);
	return result;
}

/*
 * tombstone._version(valid_from timestamptz, xmin xid, ctid tid) returns
 * timestamptz: see above.  Anywhere but in the call planner.c made for the
 * running statement it returns valid_from unchanged, and the row trigger
 * (which did not stay out) stamps the row itself.
 */
Datum
tombstone_version(PG_FUNCTION_ARGS)
{
	VersionState *vs = running_version;
	ItemPointer tid;
	TimestampTz stamp;
	bool		keep;

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
	stamp = new_valid_from(xmin_is_current(vs->rel, tid,
										   DatumGetTransactionId(PG_GETARG_DATUM(1))),
						   PG_GETARG_DATUM(0), PG_ARGISNULL(0), &keep);
	if (keep)
	{
		vs->tid = *tid;
		vs->stamp = stamp;
		vs->pending = true;
	}
	PG_RETURN_TIMESTAMPTZ(stamp);
}

/*
 * tombstone._create_history(tbl regclass, tenant_column name) RETURNS regclass
 *
 * Creates the history table of tbl, which the caller owns, for protect():
 * the columns of tbl (LIKE: types and NOT NULL, no defaults, identities or
 * generation expressions) plus valid_to, an index on (tenant, valid_to) so
 * that reading one tenant at one time reads only that tenant's versions,
 * and the guard triggers.  Schema tombstone_history belongs to the
 * extension, so the table is created as the schema's owner and then given
 * to the owner of tbl.
 */
/*
 * Run utility commands (DDL built from catalog names, quoted) as role
 * "user": the schema's owner creates history tables there, the history
 * table's owner renames its columns.
 */
static void
run_utility_as(Oid user, const char *const *cmds, int ncmds)
{
	Oid			save_userid;
	int			save_sec_context;
	int			i;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(user, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (i = 0; i < ncmds; i++)
		if (SPI_execute(cmds[i], false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "pg_tombstone: command failed: %s", cmds[i]);
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

static Oid
namespace_owner(Oid nspid)
{
	HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nspid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nspid);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

Datum
tombstone_create_history(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *tenant_column;
	Oid			nspid;
	Oid			owner;
	char	   *relname;
	char	   *histname;
	char	   *qhist;
	Oid			histrelid;
	const char *cmds[8];

	TombstoneRequireOwnCode("tombstone._create_history");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments of tombstone._create_history() must not be null"),
				 errhint("Protect tables with tombstone.protect().")));
	relid = PG_GETARG_OID(0);
	tenant_column = NameStr(*PG_GETARG_NAME(1));
	relname = TombstoneRelationArg(relid, "tombstone._create_history");
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, relname);
	TombstoneCheckProtectable(relid, "tombstone._create_history");
	if (get_attnum(relid, tenant_column) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist",
						tenant_column, relname),
				 errhint("Give the column that holds the tenant id.")));
	if (TombstoneRelLookup(relid) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("table \"%s\" is already protected", relname),
				 errhint("See tombstone.protected_tables.")));

	nspid = get_namespace_oid(TOMBSTONE_HISTORY_SCHEMA, false);
	histname = relname;
	if (OidIsValid(get_relname_relid(histname, nspid)))
		histname = psprintf("%.40s_%u", relname, relid);
	qhist = quote_qualified_identifier(TOMBSTONE_HISTORY_SCHEMA, histname);
	owner = TombstoneRelationOwner(relid);

	cmds[0] = psprintf("CREATE TABLE %s (LIKE %s)", qhist,
					   TombstoneQualifiedName(relid));
	cmds[1] = psprintf("ALTER TABLE %s ADD COLUMN %s timestamptz NOT NULL",
					   qhist, TOMBSTONE_VALID_TO);
	cmds[2] = psprintf("CREATE INDEX ON %s (%s, %s)", qhist,
					   quote_identifier(tenant_column), TOMBSTONE_VALID_TO);
	cmds[3] = psprintf("CREATE TRIGGER tombstone_history_guard BEFORE UPDATE OR DELETE ON %s"
					   " FOR EACH ROW EXECUTE FUNCTION tombstone._history_guard()", qhist);
	cmds[4] = psprintf("CREATE TRIGGER tombstone_history_truncate BEFORE TRUNCATE ON %s"
					   " FOR EACH STATEMENT EXECUTE FUNCTION tombstone._history_guard()", qhist);
	cmds[5] = psprintf("CREATE TRIGGER tombstone_history_insert BEFORE INSERT ON %s"
					   " FOR EACH STATEMENT EXECUTE FUNCTION tombstone._history_guard()", qhist);
	cmds[6] = psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER tombstone_history_guard,"
					   " ENABLE ALWAYS TRIGGER tombstone_history_truncate,"
					   " ENABLE ALWAYS TRIGGER tombstone_history_insert", qhist);
	cmds[7] = psprintf("ALTER TABLE %s OWNER TO %s", qhist,
					   quote_identifier(GetUserNameFromId(owner, false)));

	run_utility_as(namespace_owner(nspid), cmds, lengthof(cmds));

	histrelid = get_relname_relid(histname, nspid);
	if (!OidIsValid(histrelid))
		elog(ERROR, "history table %s was not created", qhist);
	PG_RETURN_OID(histrelid);
}

/*
 * tombstone._history_guard(): BEFORE UPDATE OR DELETE FOR EACH ROW, BEFORE
 * INSERT FOR EACH STATEMENT and BEFORE TRUNCATE on every history table.
 * History is written only by the extension (directly, never firing these)
 * and removed only by an authorised purge (or, for TRUNCATE, with a "ddl"
 * token naming the protected table).
 */
Datum
tombstone_history_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Relation	rel;
	Oid			base;
	char	   *basename;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager",
						"tombstone_history_guard")));
	trigdata = (TriggerData *) fcinfo->context;
	rel = trigdata->tg_relation;

	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) &&
		TombstonePurgeHistoryAllows(RelationGetRelid(rel)))
		return PointerGetDatum(trigdata->tg_trigtuple);

	base = TombstoneHistoryBase(RelationGetRelid(rel));
	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) && OidIsValid(base) &&
		TombstoneGuardDdlAllowed(base))
		return PointerGetDatum(NULL);
	basename = OidIsValid(base) ? TombstoneQualifiedName(base) : pstrdup("?");

	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_TRUNCATE),
				 errmsg("cannot truncate history table \"%s\"",
						RelationGetRelationName(rel)),
				 errdetail("TRUNCATE would remove every old version of the rows of table %s.",
						   basename),
				 errhint(TOMBSTONE_DDL_HINT)));
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_HISTORY_WRITE),
			 errmsg("cannot %s history table \"%s\"",
					TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ? "delete rows of" :
					TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ? "insert rows into" :
					"update rows of",
					RelationGetRelationName(rel)),
			 errdetail("History table \"%s\" keeps the old versions of the rows of table %s; only pg_tombstone writes it.",
					   RelationGetRelationName(rel), basename),
			 errhint("Old versions are removed only by tombstone.purge() once they are older than the table's retention.")));
	PG_RETURN_NULL();			/* keep compiler quiet */
}

/*-------------------------------------------------------------------------
 * Reading the past
 *-------------------------------------------------------------------------
 */

/*
 * The catalog entry of relid, which must be a protected root with history,
 * checked for the caller: privileges mode on it, and no row-level security
 * that the history could not apply.
 */
static const TombstoneRel *
history_table_for(Oid relid, const char *funcname, AclMode mode)
{
	const TombstoneRel *trel = TombstoneRelLookup(relid);
	AclResult	aclresult;

	if (trel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_NO_HISTORY),
				 errmsg("table \"%s\" is not protected", get_rel_name(relid)),
				 errdetail("%s() reads the row history that tombstone.protect() keeps.",
						   funcname),
				 errhint("Protect the table with tombstone.protect(..., history => true).")));
	if (OidIsValid(trel->parent))
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_NO_HISTORY),
				 errmsg("table \"%s\" is protected through table \"%s\"",
						get_rel_name(relid), get_rel_name(trel->parent)),
				 errdetail("The history of table \"%s\" is kept with that of table \"%s\".",
						   get_rel_name(relid), get_rel_name(trel->parent)),
				 errhint("Call %s() with the row type of table \"%s\".",
						 funcname, get_rel_name(trel->parent))));
	if (!OidIsValid(trel->history_relid))
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_NO_HISTORY),
				 errmsg("table \"%s\" has no row history", get_rel_name(relid)),
				 errdetail("Table \"%s\" was protected with history => false.",
						   get_rel_name(relid)),
				 errhint("Only tables protected with history => true can be read as of a past time.")));

	aclresult = pg_class_aclcheck(relid, GetUserId(), mode);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_TABLE, get_rel_name(relid));
	if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s() cannot apply the row-level security of table \"%s\"",
						funcname, get_rel_name(relid)),
				 errdetail("Row-level security applies to the current role on table \"%s\", and its history table has no policies.",
						   get_rel_name(relid)),
				 errhint("Call %s() as a role that row-level security does not restrict, such as the table's owner.",
						 funcname)));
	return trel;
}

/* Refuse a time the history cannot answer for. */
static void
check_as_of_time(const TombstoneRel *trel, TimestampTz at, const char *funcname)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz oldest;

	if (at > now)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_HISTORY_RANGE),
				 errmsg("%s() cannot read table \"%s\" as of a time in the future",
						funcname, get_rel_name(trel->relid)),
				 errdetail("Time %s was given; it is now %s.",
						   pstrdup(timestamptz_to_str(at)), pstrdup(timestamptz_to_str(now))),
				 errhint("Give a past time.")));
	/* before protect(), rows had no valid_from and no old versions */
	if (at < trel->history_since)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_HISTORY_RANGE),
				 errmsg("%s() cannot read table \"%s\" as of a time before its history began",
						funcname, get_rel_name(trel->relid)),
				 errdetail("Time %s was given; table \"%s\" has kept history since it was protected, at %s.",
						   pstrdup(timestamptz_to_str(at)), get_rel_name(trel->relid),
						   pstrdup(timestamptz_to_str(trel->history_since))),
				 errhint("Give a time after %s.",
						 pstrdup(timestamptz_to_str(trel->history_since)))));
	oldest = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
													 TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
													 IntervalPGetDatum(&trel->retention)));
	if (at < oldest)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_HISTORY_RANGE),
				 errmsg("%s() cannot read table \"%s\" as of a time before its retention",
						funcname, get_rel_name(trel->relid)),
				 errdetail("Time %s was given; table \"%s\" keeps history for %s, since %s.",
						   pstrdup(timestamptz_to_str(at)), get_rel_name(trel->relid),
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(&trel->retention))),
						   pstrdup(timestamptz_to_str(oldest))),
				 errhint("Give a time within the retention; older versions may have been purged.")));
}

/*
 * The query of the tenant's rows of root as of $2 (tenant $1 as text), in
 * the column order of root.  Identifiers come from the catalogs, quoted.
 */
static char *
as_of_query(Oid root, const TombstoneRel *trel)
{
	Relation	rel = table_open(root, AccessShareLock);
	Relation	hist = table_open(trel->history_relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	TupleDesc	hdesc = RelationGetDescr(hist);
	StringInfoData live;
	StringInfoData past;
	Form_pg_attribute tatt;
	char	   *tenant_cond;
	int			i;

	initStringInfo(&live);
	initStringInfo(&past);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = quote_identifier(NameStr(att->attname));
		int			j;
		bool		found = false;

		if (att->attisdropped)
			continue;
		appendStringInfo(&live, "%s%s", live.len > 0 ? ", " : "", name);
		if (past.len > 0)
			appendStringInfoString(&past, ", ");
		for (j = 0; j < hdesc->natts && !found; j++)
		{
			Form_pg_attribute hatt = TupleDescAttr(hdesc, j);

			found = !hatt->attisdropped &&
				strcmp(NameStr(hatt->attname), NameStr(att->attname)) == 0;
		}
		if (found)
			appendStringInfoString(&past, name);
		else
			appendStringInfo(&past, "NULL::%s",
							 format_type_with_typemod(att->atttypid, att->atttypmod));
	}
	tatt = TupleDescAttr(desc, trel->tenant_attno - 1);
	tenant_cond = psprintf("%s = CAST($1 AS %s)",
						   quote_identifier(NameStr(tatt->attname)),
						   format_type_with_typemod(tatt->atttypid, tatt->atttypmod));
	table_close(hist, AccessShareLock);
	table_close(rel, AccessShareLock);

	return psprintf("SELECT %s FROM %s WHERE %s AND %s <= $2 AND %s IS NULL"
					" UNION ALL "
					"SELECT %s FROM %s WHERE %s AND %s > $2 AND %s <= $2 AND %s IS NULL",
					live.data, TombstoneQualifiedName(root), tenant_cond,
					TOMBSTONE_VALID_FROM, TOMBSTONE_DELETED_AT,
					past.data, TombstoneQualifiedName(trel->history_relid),
					tenant_cond, TOMBSTONE_VALID_TO, TOMBSTONE_VALID_FROM,
					TOMBSTONE_DELETED_AT);
}

/*
 * Refuse without the library preloaded, and NULL arguments first..nargs - 1
 * (as_of's first argument is a NULL of the row type).
 */
static void
require_args(FunctionCallInfo fcinfo, int first, int nargs, const char *funcname)
{
	int			i;

	if (!tombstone_preloaded)
		TombstoneRefuseNotPreloaded(psprintf("%s() reads row history, which the library keeps only when it is preloaded.",
											 funcname));
	for (i = first; i < nargs; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of %s() must not be null", i + 1, funcname),
					 errhint("Give the tenant and the time.")));
}

/*
 * tombstone.as_of(rowtype anyelement, tenant text, at timestamptz)
 *		RETURNS SETOF anyelement
 */
Datum
tombstone_as_of(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 0);
	Oid			relid;
	const TombstoneRel *trel;
	TimestampTz at;
	char	   *sql;
	Oid			argtypes[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		values[2];
	DestReceiver *dest;
	Oid			owner;

	require_args(fcinfo, 1, 3, "tombstone.as_of");
	relid = OidIsValid(typid) ? get_typ_typrelid(typid) : InvalidOid;
	if (!OidIsValid(relid) || get_rel_relkind(relid) == RELKIND_COMPOSITE_TYPE)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("tombstone.as_of() needs the row type of a protected table, not type %s",
						OidIsValid(typid) ? format_type_be(typid) : "unknown"),
				 errhint("Call it as tombstone.as_of(NULL::schema.table, tenant, time).")));
	trel = history_table_for(relid, "tombstone.as_of", ACL_SELECT);
	at = PG_GETARG_TIMESTAMPTZ(2);
	check_as_of_time(trel, at, "tombstone.as_of");
	owner = TombstoneRelationOwner(relid);
	sql = psprintf(TOMBSTONE_INTERNAL_QUERY "%s", as_of_query(relid, trel));

	InitMaterializedSRF(fcinfo, 0);
	dest = CreateDestReceiver(DestTuplestore);
	SetTuplestoreDestReceiverParams(dest, rsinfo->setResult,
									rsinfo->econtext->ecxt_per_query_memory,
									false, rsinfo->setDesc,
									gettext_noop("as_of query returned rows unlike the table's"));
	values[0] = PG_GETARG_DATUM(1);
	values[1] = TimestampTzGetDatum(at);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	(void) TombstoneRunInternalTo(sql, 2, argtypes, values, NULL, owner, dest);
	SPI_finish();
	dest->rDestroy(dest);
	return (Datum) 0;
}

/*-------------------------------------------------------------------------
 * Rewinding a tenant
 *-------------------------------------------------------------------------
 */

/*
 * The two statements that rewind table root for a tenant: first tombstone
 * the rows that are live now and were not then ($1 tenant, $2 time), then
 * give the rows that were live then their old values, restoring the
 * tombstoned ones.  Rows are matched by primary key.
 */
static void
rewind_queries(Oid root, const TombstoneRel *trel, char **tombstone_sql,
			   char **restore_sql)
{
	Relation	rel = table_open(root, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			pkoid;
	Relation	pkrel;
	StringInfoData match;
	StringInfoData set;
	StringInfoData differ;
	char	   *asof = as_of_query(root, trel);
	Form_pg_attribute tatt = TupleDescAttr(desc, trel->tenant_attno - 1);
	char	   *tenant_cond;
	int			i;

	RelationGetIndexList(rel);
	pkoid = rel->rd_pkindex;
	if (!OidIsValid(pkoid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot rewind table \"%s\" without a primary key",
						RelationGetRelationName(rel)),
				 errdetail("rewind_tenant() matches the rows of table \"%s\" with their old versions by primary key.",
						   RelationGetRelationName(rel)),
				 errhint("Add a primary key to the table.")));

	initStringInfo(&match);
	pkrel = index_open(pkoid, AccessShareLock);
	for (i = 0; i < pkrel->rd_index->indnkeyatts; i++)
	{
		AttrNumber	attno = pkrel->rd_index->indkey.values[i];
		const char *name = quote_identifier(NameStr(TupleDescAttr(desc, attno - 1)->attname));

		appendStringInfo(&match, "%ss.%s = t.%s", i > 0 ? " AND " : "",
						 name, name);
	}

	initStringInfo(&set);
	initStringInfo(&differ);
	appendStringInfo(&set, "%s = NULL", TOMBSTONE_DELETED_AT);
	appendStringInfo(&differ, "t.%s IS NOT NULL", TOMBSTONE_DELETED_AT);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = quote_identifier(NameStr(att->attname));
		bool		is_key = false;
		int			k;
		TypeCacheEntry *tc;

		if (att->attisdropped || att->attgenerated || att->attnum == trel->tenant_attno ||
			strcmp(NameStr(att->attname), TOMBSTONE_DELETED_AT) == 0 ||
			strcmp(NameStr(att->attname), TOMBSTONE_DELETED_CHANGE) == 0 ||
			strcmp(NameStr(att->attname), TOMBSTONE_VALID_FROM) == 0)
			continue;
		for (k = 0; k < pkrel->rd_index->indnkeyatts; k++)
			if (pkrel->rd_index->indkey.values[k] == att->attnum)
				is_key = true;
		if (is_key)
			continue;
		appendStringInfo(&set, ", %s = s.%s", name, name);
		/* types without equality (json, point, ...) compare as text */
		tc = lookup_type_cache(att->atttypid, TYPECACHE_EQ_OPR);
		if (OidIsValid(tc->eq_opr))
			appendStringInfo(&differ, " OR t.%s IS DISTINCT FROM s.%s", name, name);
		else
			appendStringInfo(&differ, " OR t.%s::text IS DISTINCT FROM s.%s::text",
							 name, name);
	}
	index_close(pkrel, AccessShareLock);

	tenant_cond = psprintf("t.%s = CAST($1 AS %s)",
						   quote_identifier(NameStr(tatt->attname)),
						   format_type_with_typemod(tatt->atttypid, tatt->atttypmod));
	*tombstone_sql = psprintf(TOMBSTONE_INTERNAL_QUERY
							  "UPDATE %s t SET %s = now() WHERE %s AND t.%s IS NULL"
							  " AND NOT EXISTS (SELECT FROM (%s) s WHERE %s)",
							  TombstoneQualifiedName(root), TOMBSTONE_DELETED_AT,
							  tenant_cond, TOMBSTONE_DELETED_AT, asof, match.data);
	*restore_sql = psprintf(TOMBSTONE_INTERNAL_QUERY
							"UPDATE %s t SET %s FROM (%s) s WHERE %s AND %s AND (%s)",
							TombstoneQualifiedName(root), set.data, asof,
							match.data, tenant_cond, differ.data);
	table_close(rel, AccessShareLock);
}

/*
 * tombstone.rewind_tenant(tenant text, at timestamptz)
 *		RETURNS TABLE (table_name regclass, tombstoned bigint, rewound bigint)
 *
 * Makes the tenant's rows in every protected table with history what they
 * were at time at, as one change of operation "rewind": rows live now but
 * not then are tombstoned (children first), rows live then get their old
 * values back, tombstoned ones restored (parents first).  Needs a bound
 * token of operation "rewind" covering the tenant and the tables.
 */
Datum
tombstone_rewind_tenant(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *tenant;
	TimestampTz at;
	List	   *parents_first;
	List	   *roots = NIL;
	ListCell   *lc;
	Oid			argtypes[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		values[2];
	int			n;
	int			i;
	Oid		   *relids;
	int64	   *tombstoned;
	int64	   *rewound;
	char	  **tombstone_sqls;
	char	  **restore_sqls;
	void	   *scope;

	require_args(fcinfo, 0, 2, "tombstone.rewind_tenant");
	tenant = text_to_cstring(PG_GETARG_TEXT_PP(0));
	at = PG_GETARG_TIMESTAMPTZ(1);

	parents_first = list_copy(TombstoneRootsInOrder(true));
	foreach(lc, parents_first)
	{
		Oid			root = lfirst_oid(lc);
		const TombstoneRel *trel = TombstoneRelLookup(root);

		if (trel == NULL)
			continue;
		if (!OidIsValid(trel->history_relid))
		{
			ereport(NOTICE,
					(errmsg("table \"%s\" has no row history; its rows of tenant %s are left as they are",
							get_rel_name(root), quote_literal_cstr(tenant))));
			continue;
		}
		(void) history_table_for(root, "tombstone.rewind_tenant",
								 ACL_SELECT | ACL_UPDATE);
		check_as_of_time(trel, at, "tombstone.rewind_tenant");
		roots = lappend_oid(roots, root);
	}
	if (roots == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_NO_HISTORY),
				 errmsg("no protected table has row history"),
				 errdetail("rewind_tenant() was called for tenant %s.",
						   quote_literal_cstr(tenant)),
				 errhint("Protect tables with tombstone.protect(..., history => true).")));
	TombstoneGuardRequireRewind(roots, tenant);

	n = list_length(roots);
	relids = palloc(sizeof(Oid) * n);
	tombstoned = palloc0(sizeof(int64) * n);
	rewound = palloc0(sizeof(int64) * n);
	tombstone_sqls = palloc(sizeof(char *) * n);
	restore_sqls = palloc(sizeof(char *) * n);
	i = 0;
	foreach(lc, roots)
	{
		relids[i] = lfirst_oid(lc);
		rewind_queries(relids[i], TombstoneRelLookup(relids[i]),
					   &tombstone_sqls[i], &restore_sqls[i]);
		i++;
	}

	scope = TombstoneChangeBegin("rewind", 0);
	values[0] = PG_GETARG_DATUM(0);
	values[1] = TimestampTzGetDatum(at);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	TombstoneCascadeRestores(false);
	PG_TRY();
	{
		/* rows created since: children first, so no cascade is needed */
		for (i = n - 1; i >= 0; i--)
			tombstoned[i] = TombstoneRunInternal(tombstone_sqls[i], 2, argtypes,
												 values, NULL,
												 TombstoneRelationOwner(relids[i]));
		/* rows as they were: parents first, so children find them live */
		for (i = 0; i < n; i++)
		{
			rewound[i] = TombstoneRunInternal(restore_sqls[i], 2, argtypes,
											  values, NULL,
											  TombstoneRelationOwner(relids[i]));
			TombstoneChangeAddRewound(relids[i], tenant, rewound[i]);
			/* bound tokens' budgets count rows rewound, as rows tombstoned */
			TombstoneGuardCharge(rewound[i], "rewound");
		}
	}
	PG_FINALLY();
	{
		TombstoneCascadeRestores(true);
		TombstoneGuardRewindDone(TombstoneChangeId());
	}
	PG_END_TRY();
	SPI_finish();
	TombstoneChangeEnd(scope);

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < n; i++)
	{
		Datum		row[3];
		bool		nulls[3] = {false, false, false};

		row[0] = ObjectIdGetDatum(relids[i]);
		row[1] = Int64GetDatum(tombstoned[i]);
		row[2] = Int64GetDatum(rewound[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, nulls);
	}
	return (Datum) 0;
}

/*
 * Called by the DDL guard before ALTER TABLE ... RENAME COLUMN of a
 * protected table runs: the history table's column is renamed with it, so
 * that old versions stay readable under the new name.
 */
void
TombstoneHistoryRenameColumn(Oid relid, const char *oldname, const char *newname)
{
	const TombstoneRel *trel = TombstoneRelLookup(relid);
	Oid			histrelid;
	char	   *sql;

	if (trel == NULL || OidIsValid(trel->parent) ||
		!OidIsValid(trel->history_relid))
		return;
	histrelid = trel->history_relid;
	if (get_attnum(histrelid, oldname) == InvalidAttrNumber)
		return;
	if (get_attnum(histrelid, newname) != InvalidAttrNumber ||
		strcmp(newname, TOMBSTONE_VALID_TO) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_HISTORY_DDL),
				 errmsg("cannot rename column \"%s\" of protected table \"%s\" to \"%s\"",
						oldname, get_rel_name(relid), newname),
				 errdetail("History table %s already has a column \"%s\", which keeps the old versions of rows.",
						   TombstoneQualifiedName(histrelid), newname),
				 errhint("Choose another name.")));

	sql = psprintf("ALTER TABLE %s RENAME COLUMN %s TO %s",
				   TombstoneQualifiedName(histrelid), quote_identifier(oldname),
				   quote_identifier(newname));
	TombstoneHistoryCarryOver(histrelid);
	PG_TRY();
	{
		run_utility_as(TombstoneRelationOwner(histrelid), (const char *const *) &sql, 1);
	}
	PG_FINALLY();
	{
		TombstoneHistoryCarryOver(InvalidOid);
	}
	PG_END_TRY();
}
