/*-------------------------------------------------------------------------
 *
 * ledger.c
 *	  Changes: every tombstoning and every undelete gets a change id, its
 *	  rows are counted per table and tenant, and one ledger entry is written
 *	  in tombstone.changes for each statement.
 *
 * A change is the unit that undelete_change() undoes.  It belongs to the
 * statement the client sent: a DELETE, the foreign-key cascades and tenant
 * deletion it causes, the rows a function called by that statement
 * tombstones.  So the change opens at the first row that changes state and
 * closes when the outermost executor run finishes (each statement of a DO
 * block or procedure is a statement of its own).
 *
 * The executor hooks here only count nesting: ExecutorRun and
 * ExecutorFinish raise a depth counter, as pg_stat_statements does.  The
 * BEFORE UPDATE row trigger of every protected table calls
 * TombstoneBookkeep(), which notices a state transition (deleted_at from
 * NULL to a value: tombstoned; back to NULL: restored), stamps the change
 * id into deleted_change, counts the row and, when other rows depend on it,
 * queues it for cascade.c.  When the query at depth d has finished and its
 * AFTER triggers have fired, the work queued at depth d is done (cascades
 * run as nested queries, at depth d + 1, and so recursively), and at depth 1
 * the ledger entry is written.
 *
 * Row counts live in backend memory, not in a table: a single-row DELETE
 * pays one hash lookup and one ledger insert.  A subtransaction that aborts
 * after rows were counted (an exception block in PL/pgSQL) makes the counts
 * unreliable; the change then recounts from the tables at the end (by
 * deleted_change, in the tenants that were counted: no index covers it).
 *
 * The ledger row is inserted directly into the heap and its index, as the
 * extension and not as the user: application roles have no privilege on the
 * ledger, and its guard trigger refuses UPDATE, DELETE and TRUNCATE.
 *
 * src/ledger.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parsetree.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "pg_tombstone.h"
#include "token.h"

/* Column numbers of tombstone.changes; they follow the extension script. */
#define Anum_changes_id					1
#define Anum_changes_at					2
#define Anum_changes_xid				3
#define Anum_changes_role				4
#define Anum_changes_session_role		5
#define Anum_changes_application_name	6
#define Anum_changes_operation			7
#define Anum_changes_undoes				8
#define Anum_changes_statement			9
#define Anum_changes_rows				10
#define Anum_changes_token_id			11
#define Anum_changes_token_subject		12
#define Anum_changes_token_reason		13
#define Natts_changes					13

/* statement text kept in the ledger, in bytes */
#define LEDGER_STATEMENT_MAX	1024

PG_FUNCTION_INFO_V1(tombstone_ri_tolerant);
PG_FUNCTION_INFO_V1(tombstone_ledger_guard);
PG_FUNCTION_INFO_V1(tombstone_stamp);

typedef struct TallyKey
{
	Oid			root;
	const char *tenant;			/* NULL: the tenant column was NULL */
} TallyKey;

typedef struct TallyEntry
{
	TallyKey	key;
	int64		tombstoned;
	int64		restored;
	int64		purged;
	int64		rewound;		/* rows given old values by rewind_tenant() */
} TallyEntry;

/* The change of the current statement; id 0 when none is open. */
typedef struct ChangeState
{
	int64		id;
	MemoryContext cxt;
	HTAB	   *tally;
	const char *operation;		/* set by undelete functions, or NULL */
	int64		undoes;
	bool		tenant_deleted;
	bool		recount;		/* a subtransaction aborted: counts unreliable */
	bool		preview;		/* preview(): no id, no ledger */
	bool		owned;			/* a function's own: see TombstoneChangeBegin */
	Oid			role;
	char	   *statement;
} ChangeState;

static ChangeState change;

/*
 * The changes set aside while a function (undelete, rewind, purge) makes
 * one of its own, innermost first; in TopTransactionContext.
 */
typedef struct ChangeScope
{
	ChangeState saved;
	const char *next_operation;
	int64		next_undoes;
	SubTransactionId subid;		/* the scope began in this subtransaction */
	bool		nested;			/* a statement inside the function's change */
	int			finish_depth;	/* nested: ends when its query finishes here */
} ChangeScope;

static List *scopes = NIL;

/* operation requested before the change opened */
static const char *next_operation = NULL;
static int64 next_undoes = 0;

/* whether the top-level statement is a DELETE on an unprotected table */
static bool top_unprotected_delete = false;

/* Per executor depth: transitions made by the query running there. */
typedef struct LevelCounts
{
	int64		tombstoned;
	int64		restored;
	bool		stamping;		/* a DELETE without the row trigger runs here */
	int64		stamped;		/* rows _stamp() counted for it */
} LevelCounts;

static int	exec_depth = 0;
static LevelCounts *levels = NULL;
static int	nlevels = 0;

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;

static void change_flush(void);

int
TombstoneExecDepth(void)
{
	return exec_depth;
}

static void
ensure_levels(int depth)
{
	if (depth < nlevels)
		return;
	if (levels == NULL)
	{
		nlevels = 16;
		levels = MemoryContextAllocZero(TopMemoryContext,
										nlevels * sizeof(LevelCounts));
	}
	while (depth >= nlevels)
	{
		levels = repalloc(levels, 2 * nlevels * sizeof(LevelCounts));
		memset(levels + nlevels, 0, nlevels * sizeof(LevelCounts));
		nlevels *= 2;
	}
}

static void
clear_levels_above(int depth)
{
	int			i;

	for (i = depth + 1; i < nlevels; i++)
	{
		levels[i].tombstoned = levels[i].restored = 0;
		levels[i].stamping = false;
		levels[i].stamped = 0;
	}
}

/*-------------------------------------------------------------------------
 * The change of the current statement
 *-------------------------------------------------------------------------
 */

static uint32
tally_hash(const void *key, Size keysize)
{
	const TallyKey *k = (const TallyKey *) key;
	uint32		h = hash_bytes_uint32(k->root);

	if (k->tenant != NULL)
		h ^= hash_bytes((const unsigned char *) k->tenant, strlen(k->tenant));
	return h;
}

static int
tally_match(const void *key1, const void *key2, Size keysize)
{
	const TallyKey *a = (const TallyKey *) key1;
	const TallyKey *b = (const TallyKey *) key2;

	if (a->root != b->root)
		return 1;
	if (a->tenant == NULL || b->tenant == NULL)
		return (a->tenant == NULL && b->tenant == NULL) ? 0 : 1;
	return strcmp(a->tenant, b->tenant);
}

static Oid
ledger_sequence(void)
{
	Oid			seqid = TombstoneLedgerSeqRelid();

	if (!OidIsValid(seqid))
		elog(ERROR, "sequence tombstone.%s does not exist", TOMBSTONE_LEDGER_SEQ);
	return seqid;
}

/* an empty tally, in the change's memory */
static HTAB *
tally_create(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(TallyKey);
	ctl.entrysize = sizeof(TallyEntry);
	ctl.hash = tally_hash;
	ctl.match = tally_match;
	ctl.hcxt = change.cxt;
	return hash_create("pg_tombstone change tally", 16, &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

/*
 * The id of the current change, opening it on first use.
 */
static int64
change_open(void)
{
	if (change.id != 0)
		return change.id;

	change.cxt = AllocSetContextCreate(TopTransactionContext,
									   "pg_tombstone change",
									   ALLOCSET_SMALL_SIZES);
	change.tally = tally_create();
	change.role = GetUserId();
	change.operation = next_operation;
	change.undoes = next_undoes;
	change.tenant_deleted = false;
	change.recount = false;
	if (debug_query_string != NULL)
	{
		int			len = strlen(debug_query_string);

		if (len > LEDGER_STATEMENT_MAX)
			len = pg_mbcliplen(debug_query_string, len, LEDGER_STATEMENT_MAX);
		change.statement = MemoryContextAlloc(change.cxt, len + 1);
		memcpy(change.statement, debug_query_string, len);
		change.statement[len] = '\0';
	}
	else
		change.statement = NULL;

	/* preview() never writes a ledger entry and takes no id */
	change.id = change.preview ? -1 : nextval_internal(ledger_sequence(), false);
	return change.id;
}

static void
change_reset(void)
{
	bool		preview = change.preview;

	if (change.cxt != NULL)
		MemoryContextDelete(change.cxt);
	memset(&change, 0, sizeof(change));
	change.preview = preview;
	next_operation = NULL;
	next_undoes = 0;
}

/*
 * The tally entry of a table and tenant in the open change, created empty
 * on first use (the tenant is copied only then).
 */
static TallyEntry *
tally_entry(Oid root, const char *tenant)
{
	TallyKey	key;
	TallyEntry *entry;
	bool		found;

	key.root = root;
	key.tenant = tenant;
	entry = hash_search(change.tally, &key, HASH_FIND, NULL);
	if (entry == NULL)
	{
		key.tenant = tenant ? MemoryContextStrdup(change.cxt, tenant) : NULL;
		entry = hash_search(change.tally, &key, HASH_ENTER, &found);
		entry->tombstoned = entry->restored = entry->purged = entry->rewound = 0;
	}
	return entry;
}

static void
change_count(Oid root, const char *tenant, bool tombstoned)
{
	TallyEntry *entry = tally_entry(root, tenant);

	if (tombstoned)
		entry->tombstoned++;
	else
		entry->restored++;
	ensure_levels(exec_depth);
	if (tombstoned)
		levels[exec_depth].tombstoned++;
	else
		levels[exec_depth].restored++;
}

/*
 * An undelete, rewind or purge function makes a change of its own, with its
 * own ledger entry, whatever statement it runs in: the change of that
 * statement (a DELETE whose WHERE clause calls undelete_change(), say) is
 * set aside until TombstoneChangeEnd() has written the function's entry.
 * The function's change opens with its first row.  Should the function
 * fail, the abort of its (sub)transaction puts the statement's change back.
 */
void *
TombstoneChangeBegin(const char *operation, int64 undoes)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	ChangeScope *scope = palloc(sizeof(ChangeScope));

	memcpy(&scope->saved, &change, sizeof(ChangeState));
	scope->next_operation = next_operation;
	scope->next_undoes = next_undoes;
	scope->subid = GetCurrentSubTransactionId();
	scope->nested = false;
	scope->finish_depth = -1;
	scopes = lcons(scope, scopes);
	MemoryContextSwitchTo(oldcxt);

	memset(&change, 0, sizeof(change));
	change.preview = scope->saved.preview;
	change.owned = true;
	next_operation = operation;
	next_undoes = undoes;
	return scope;
}

/* Put back the change that scope set aside, dropping the current one. */
static void
change_scope_pop(ChangeScope *scope)
{
	if (change.cxt != NULL)
		MemoryContextDelete(change.cxt);
	memcpy(&change, &scope->saved, sizeof(ChangeState));
	next_operation = scope->next_operation;
	next_undoes = scope->next_undoes;
	scopes = list_delete_ptr(scopes, scope);
	pfree(scope);
}

/* The function is done: write its ledger entry and resume the statement's. */
void
TombstoneChangeEnd(void *arg)
{
	ChangeScope *scope = (ChangeScope *) arg;

	/* a statement inside it whose executor never finished */
	while (scopes != NIL && linitial(scopes) != scope &&
		   ((ChangeScope *) linitial(scopes))->nested)
	{
		change_flush();
		change_scope_pop((ChangeScope *) linitial(scopes));
	}
	if (scopes == NIL || linitial(scopes) != scope)
		elog(ERROR, "pg_tombstone: change scopes ended out of order");
	change_flush();
	change_scope_pop(scope);
}

/*
 * A row changes state inside a function's own change, but not by one of
 * the function's queries: a trigger of the user's runs a DELETE while an
 * undelete restores rows, say.  That statement gets a change and a ledger
 * entry of its own, which end when its query (running at the current
 * executor depth) finishes, so that the ledger never records a tombstoning
 * as part of an undelete, rewind or purge.
 */
static void
nested_change_begin(void)
{
	ChangeScope *scope = (ChangeScope *) TombstoneChangeBegin(NULL, 0);

	change.owned = false;
	scope->nested = true;
	scope->finish_depth = exec_depth;
}

void
TombstoneChangeMarkTenantDeleted(void)
{
	if (change.id != 0)
		change.tenant_deleted = true;
}

/* The id of the current change, 0 when none is open */
int64
TombstoneChangeId(void)
{
	return change.id;
}

/*
 * Rows of table root tombstoned (or restored) so far by the current change.
 */
int64
TombstoneChangeRows(Oid root, bool tombstoned)
{
	HASH_SEQ_STATUS status;
	TallyEntry *entry;
	int64		n = 0;

	if (change.id == 0)
		return 0;
	hash_seq_init(&status, change.tally);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (!OidIsValid(root) || entry->key.root == root)
			n += tombstoned ? entry->tombstoned : entry->restored;
	return n;
}

/*
 * The tally of the current change, as a list of TombstoneTally in the
 * caller's memory context.
 */
List *
TombstoneChangeTally(void)
{
	HASH_SEQ_STATUS status;
	TallyEntry *entry;
	List	   *result = NIL;

	if (change.id == 0)
		return NIL;
	hash_seq_init(&status, change.tally);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		TombstoneTally *t = palloc(sizeof(TombstoneTally));

		t->root = entry->key.root;
		t->tenant = entry->key.tenant ? pstrdup(entry->key.tenant) : NULL;
		t->tombstoned = entry->tombstoned;
		t->restored = entry->restored;
		t->purged = entry->purged;
		t->rewound = entry->rewound;
		result = lappend(result, t);
	}
	return result;
}

/*
 * purge.c: count rows removed for good, as part of the current change (the
 * caller opens a change of its own with TombstoneChangeBegin first).
 */
void
TombstoneChangeAddPurged(Oid root, const char *tenant, int64 rows)
{
	if (rows <= 0)
		return;
	(void) change_open();
	tally_entry(root, tenant)->purged += rows;
}

/*
 * history.c: count rows that rewind_tenant() gave their old values (restored
 * rows are counted as such by TombstoneBookkeep as well)
 */
void
TombstoneChangeAddRewound(Oid root, const char *tenant, int64 rows)
{
	if (rows <= 0)
		return;
	(void) change_open();
	tally_entry(root, tenant)->rewound += rows;
}

/*
 * preview() runs a statement with a change of its own, then rolls it back:
 * set the current change aside and start afresh (in preview mode, which
 * takes no id and writes no ledger entry), and later put it back.
 */
void *
TombstoneChangeSuspend(bool preview)
{
	ChangeState *saved = palloc(sizeof(ChangeState));

	memcpy(saved, &change, sizeof(ChangeState));
	memset(&change, 0, sizeof(change));
	change.preview = preview;
	return saved;
}

void
TombstoneChangeResume(void *saved)
{
	if (change.cxt != NULL)
		MemoryContextDelete(change.cxt);
	memcpy(&change, saved, sizeof(ChangeState));
}

/*-------------------------------------------------------------------------
 * The row trigger's part
 *-------------------------------------------------------------------------
 */

/*
 * A tenant value of type typid as text.
 */
static char *
tenant_datum_text(Datum value, Oid typid)
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
 * The tenant of a row as text, or NULL.
 */
static char *
tenant_text(HeapTuple tuple, TupleDesc desc, AttrNumber attno)
{
	Datum		value;
	bool		isnull;

	value = heap_getattr(tuple, attno, desc, &isnull);
	if (isnull)
		return NULL;
	return tenant_datum_text(value, TupleDescAttr(desc, attno - 1)->atttypid);
}

/*
 * Called by the BEFORE UPDATE row trigger of every protected table with the
 * old row and the new one; returns the row to store.
 *
 * A change of deleted_at between NULL and not NULL is a tombstoning or an
 * undelete, however it was written (a DELETE turned into an UPDATE, or a
 * plain UPDATE of deleted_at): it gets the change id in deleted_change, is
 * counted, and is queued for cascades when other rows depend on it.  Any
 * other UPDATE must leave deleted_change alone, since undelete_change()
 * trusts it.
 *
 * Outside the executor (depth 0: the logical replication apply worker,
 * which replays the publisher's rows as they are) nothing is recorded.
 */
HeapTuple
TombstoneBookkeep(Relation rel, HeapTuple oldtup, HeapTuple newtup)
{
	TupleDesc	desc = RelationGetDescr(rel);
	const TombstoneRel *trel;
	AttrNumber	at_attno;
	AttrNumber	change_attno;
	bool		old_live;
	bool		new_live;
	bool		old_null;
	bool		new_null;
	Datum		old_change;
	Datum		new_change;
	Datum		id;
	bool		id_null = false;
	int			replcol;
	char	   *tenant;

	if (!tombstone_preloaded)
	{
		at_attno = SPI_fnumber(desc, TOMBSTONE_DELETED_AT);
		if (at_attno <= 0)
			return newtup;
		(void) heap_getattr(oldtup, at_attno, desc, &old_live);
		(void) heap_getattr(newtup, at_attno, desc, &new_live);
		if (old_live != new_live)
			TombstoneRefuseNotPreloaded(psprintf("An UPDATE of column \"%s\" of protected table \"%s\" would tombstone or restore rows without recording the change, so it was refused.",
												 TOMBSTONE_DELETED_AT,
												 RelationGetRelationName(rel)));
		return newtup;
	}

	trel = TombstoneRelLookup(RelationGetRelid(rel));
	if (trel == NULL)
		return newtup;
	at_attno = trel->deleted_at_attno;
	change_attno = trel->deleted_change_attno;

	(void) heap_getattr(oldtup, at_attno, desc, &old_live);
	(void) heap_getattr(newtup, at_attno, desc, &new_live);
	if (old_live == new_live)
	{
		if (exec_depth == 0 || change_attno == InvalidAttrNumber)
			return newtup;
		old_change = heap_getattr(oldtup, change_attno, desc, &old_null);
		new_change = heap_getattr(newtup, change_attno, desc, &new_null);
		if (old_null != new_null ||
			(!old_null && DatumGetInt64(old_change) != DatumGetInt64(new_change)))
			ereport(ERROR,
					(errcode(ERRCODE_TOMBSTONE_CHANGE_COLUMN),
					 errmsg("cannot change column \"%s\" of protected table \"%s\"",
							TOMBSTONE_DELETED_CHANGE, RelationGetRelationName(rel)),
					 errdetail("Column \"%s\" records the change that last tombstoned or restored the row; an UPDATE set it from %s to %s.",
							   TOMBSTONE_DELETED_CHANGE,
							   old_null ? "NULL" : psprintf(INT64_FORMAT, DatumGetInt64(old_change)),
							   new_null ? "NULL" : psprintf(INT64_FORMAT, DatumGetInt64(new_change))),
					 errhint("Leave \"%s\" out of the UPDATE; pg_tombstone sets it when \"%s\" changes.",
							 TOMBSTONE_DELETED_CHANGE, TOMBSTONE_DELETED_AT)));
		return newtup;
	}

	if (exec_depth == 0 || change_attno == InvalidAttrNumber)
		return newtup;

	/* inside an undelete, rewind or purge, by a statement of the user's */
	if (change.owned && !TombstoneRowFromInternal())
		nested_change_begin();

	id = Int64GetDatum(change_open());
	replcol = change_attno;
	newtup = heap_modify_tuple_by_cols(newtup, desc, 1, &replcol,
									   &id, &id_null);

	tenant = trel->tenant_attno != InvalidAttrNumber ?
		tenant_text(newtup, desc, trel->tenant_attno) : NULL;
	change_count(trel->root, tenant, !new_live);
	if (!new_live && !change.preview)
		TombstoneGuardRow(trel->root, tenant,
						  trel->root == TombstoneRegistry(NULL), change.id);

	if (TombstonePendingWanted(rel, !new_live))
	{
		/*
		 * A tombstone cascades and is checked by the key it had; a restored
		 * row is checked against its parents by the key it gets (an UPDATE
		 * may restore it and change its foreign key at once), and restores
		 * its children by the change that tombstoned it.
		 */
		if (new_live)
		{
			old_change = heap_getattr(oldtup, change_attno, desc, &old_null);
			TombstonePendingAdd(rel,
								heap_modify_tuple_by_cols(newtup, desc, 1, &replcol,
														  &old_change, &old_null),
								false);
		}
		else
			TombstonePendingAdd(rel, oldtup, true);
	}
	return newtup;
}

/*-------------------------------------------------------------------------
 * Statements without the row trigger
 *
 * A DELETE on a protected table becomes an UPDATE, and PostgreSQL runs a
 * BEFORE UPDATE row trigger only after locking the row, which writes a WAL
 * record of its own and dirties the page once more.  Two kinds of statement
 * give the trigger nothing to do that the statement cannot do itself, on a
 * plain table without row triggers of the user's:
 *
 *	- a top-level DELETE on a table without rows that depend on it
 *	  (cascades, restrict checks, the tenant registry): the planner sets
 *	  deleted_change to tombstone._stamp(root, tenant), which counts the row
 *	  and passes it by the guard;
 *	- an UPDATE that sets neither deleted_at nor deleted_change, which
 *	  records no change.
 *
 * On a table with row history the planner also sets valid_from to
 * tombstone._version(), which keeps the old version (history.c); that needs
 * a heap table and a plan that scans the table alone.  For such a statement
 * the trigger is left out of its result relations.  A plain UPDATE of
 * deleted_at and every other statement still go through the trigger.
 *
 * The projection that calls _stamp() runs once per row the scan returns; a
 * row updated concurrently is projected again for its new version, or not
 * updated at all.  When the rows counted differ from the rows the statement
 * updated, the change is recounted from the table before its ledger entry
 * is written.
 *-------------------------------------------------------------------------
 */

/*
 * Our BEFORE UPDATE row trigger, as protect() creates it.  The DDL guard
 * keeps others from dropping, renaming or disabling it.
 */
static bool
is_own_update_trigger(const Trigger *trig)
{
	return strcmp(trig->tgname, TOMBSTONE_TRIGGER_PREFIX "before_update") == 0 &&
		trig->tgenabled == TRIGGER_FIRES_ALWAYS &&
		trig->tgqual == NULL && trig->tgnattr == 0;
}

/*
 * Is this result relation a plain table whose only BEFORE UPDATE row
 * trigger is ours?
 */
static bool
trigger_free_relation(ResultRelInfo *rri)
{
	Relation	rel = rri->ri_RelationDesc;
	TriggerDesc *trigdesc = rri->ri_TrigDesc;
	int			own = 0;
	int			i;

	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		rel->rd_rel->relispartition ||
		trigdesc == NULL)
		return false;
	for (i = 0; i < trigdesc->numtriggers; i++)
	{
		const Trigger *trig = &trigdesc->triggers[i];

		if (!TRIGGER_TYPE_MATCHES(trig->tgtype, TRIGGER_TYPE_ROW,
								  TRIGGER_TYPE_BEFORE, TRIGGER_TYPE_UPDATE))
			continue;
		if (!is_own_update_trigger(trig))
			return false;
		own++;
	}
	return own == 1;
}

/* The position of attno in an UPDATE's column list, or -1. */
static int
colno_index(List *colnos, AttrNumber attno)
{
	ListCell   *lc;

	if (attno == InvalidAttrNumber)
		return -1;
	foreach(lc, colnos)
	{
		if (lfirst_int(lc) == attno)
			return foreach_current_index(lc);
	}
	return -1;
}

/*
 * The k-th new column value of an UPDATE's subplan when it is the
 * _version() call planner.c made for the relation with range table index
 * varno, whose valid_from is column valid_from_attno, or NULL.  Its arguments must be read from the scanned table
 * itself: a join's output, whose columns the plan refers to as OUTER_VAR or
 * INNER_VAR, could hold a row twice.
 */
static const FuncExpr *
planned_version_call(Plan *subplan, int k, AttrNumber valid_from_attno,
					 Index varno)
{
	AttrNumber	want[3];
	FuncExpr   *call = NULL;
	ListCell   *lc;
	int			i = 0;

	foreach(lc, subplan->targetlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (tle->resjunk)
			continue;
		if (i++ == k)
		{
			if (IsA(tle->expr, FuncExpr))
				call = (FuncExpr *) tle->expr;
			break;
		}
	}
	if (call == NULL || call->location != TOMBSTONE_VERSION_LOCATION ||
		list_length(call->args) != 3)
		return NULL;
	want[0] = valid_from_attno;
	want[1] = MinTransactionIdAttributeNumber;
	want[2] = SelfItemPointerAttributeNumber;
	foreach(lc, call->args)
	{
		Var		   *var = (Var *) lfirst(lc);

		if (!IsA(var, Var) || var->varno != varno || var->varlevelsup != 0 ||
			var->varattno != want[foreach_current_index(lc)])
			return NULL;
	}
	return call;
}

/*
 * The top plan node of an UPDATE, or of a DELETE that planner.c turned into
 * an UPDATE (the statement keeps commandType CMD_DELETE), or NULL for any
 * other statement.
 */
static ModifyTableState *
top_update(QueryDesc *queryDesc)
{
	ModifyTableState *mts;

	if ((queryDesc->plannedstmt->commandType != CMD_DELETE &&
		 queryDesc->plannedstmt->commandType != CMD_UPDATE) ||
		queryDesc->planstate == NULL ||
		!IsA(queryDesc->planstate, ModifyTableState))
		return NULL;
	mts = (ModifyTableState *) queryDesc->planstate;
	if (mts->operation != CMD_UPDATE || mts->mt_nrels < 1)
		return NULL;
	return mts;
}

/*
 * ExecutorStart, after the plan is initialised: leave the row trigger out
 * of the statement when every result relation allows it.  The executor
 * works on its own copy of each relation's trigger descriptor.
 */
static void
trigger_free_prepare(QueryDesc *queryDesc, int eflags)
{
	bool		is_delete = queryDesc->plannedstmt->commandType == CMD_DELETE;
	ModifyTableState *mts;
	ModifyTable *mt;
	const FuncExpr *version = NULL;
	Oid			root = InvalidOid;
	int			i;

	if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) ||
		(mts = top_update(queryDesc)) == NULL)
		return;
	mt = (ModifyTable *) mts->ps.plan;
	if (list_length(mt->updateColnosLists) != mts->mt_nrels)
		return;
	for (i = 0; i < mts->mt_nrels; i++)
	{
		ResultRelInfo *rri = &mts->resultRelInfo[i];
		Relation	rel = rri->ri_RelationDesc;
		const TombstoneRel *trel = TombstoneRelLookup(RelationGetRelid(rel));
		List	   *colnos = list_nth(mt->updateColnosLists, i);
		int			at_pos;
		int			change_pos;
		int			ours = 0;	/* columns planner.c set */

		if (trel == NULL || !trigger_free_relation(rri))
			return;

		/*
		 * Take what is needed from the entry now: it may go with the
		 * invalidations that TombstonePendingWanted() processes.
		 */
		at_pos = colno_index(colnos, trel->deleted_at_attno);
		change_pos = colno_index(colnos, trel->deleted_change_attno);
		if (OidIsValid(trel->history_relid))
		{
			int			from_pos = colno_index(colnos, trel->valid_from_attno);

			if (from_pos < 0 || mts->mt_nrels != 1 ||
				rel->rd_rel->relam != HEAP_TABLE_AM_OID ||
				(version = planned_version_call(outerPlan(mt), from_pos,
												trel->valid_from_attno,
												linitial_int(mt->resultRelations))) == NULL)
				return;
			ours++;
		}
		if (is_delete)
		{
			/* _stamp() counts every row under the root of the table named */
			if (i == 0)
				root = trel->root;
			if (trel->root != root || at_pos < 0 || change_pos < 0 ||
				TombstonePendingWanted(rel, true))
				return;
			ours += 2;
		}
		else if (at_pos >= 0 || change_pos >= 0)
			return;
		if (is_delete && list_length(colnos) != ours)
			return;
	}
	for (i = 0; i < mts->mt_nrels; i++)
		mts->resultRelInfo[i].ri_TrigDesc->trig_update_before_row = false;
	if (version != NULL)
		TombstoneVersionStart(queryDesc->estate,
							  mts->resultRelInfo[0].ri_RelationDesc, version);
}

/* Is this a DELETE whose row trigger trigger_free_prepare() left out? */
static bool
stamp_running(QueryDesc *queryDesc)
{
	ModifyTableState *mts;

	if (queryDesc->plannedstmt->commandType != CMD_DELETE ||
		(mts = top_update(queryDesc)) == NULL)
		return false;
	return mts->resultRelInfo[0].ri_TrigDesc != NULL &&
		!mts->resultRelInfo[0].ri_TrigDesc->trig_update_before_row;
}

/*
 * tombstone._stamp(root oid, tenant anyelement) returns bigint: see above.
 * Anywhere but in the statement it was planned for it counts nothing and
 * opens no change: it returns the id of the current change, or 0, and the
 * row trigger (which did not stay out) sets deleted_change itself.
 */
Datum
tombstone_stamp(PG_FUNCTION_ARGS)
{
	Oid			root;
	char	   *tenant = NULL;
	int64		id;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tombstone._stamp() needs a table"),
				 errdetail("It was called with a NULL table."),
				 errhint("The planner calls this function for a DELETE on a protected table; do not call it directly.")));
	root = PG_GETARG_OID(0);
	if (!tombstone_preloaded || exec_depth <= 0 || exec_depth >= nlevels ||
		!levels[exec_depth].stamping)
		PG_RETURN_INT64(change.id);

	/* inside an undelete, rewind or purge, by a statement of the user's */
	if (change.owned && !TombstoneRowFromInternal())
		nested_change_begin();
	id = change_open();
	if (!PG_ARGISNULL(1))
		tenant = tenant_datum_text(PG_GETARG_DATUM(1),
								   get_fn_expr_argtype(fcinfo->flinfo, 1));
	change_count(root, tenant, true);
	if (!change.preview)
		TombstoneGuardRow(root, tenant, false, id);
	levels[exec_depth].stamped++;
	PG_RETURN_INT64(id);
}

/*
 * tombstone._ri_tolerant(): part of the visibility qual of foreign-key
 * check queries.  PostgreSQL re-checks the foreign keys of a row inserted
 * by the current transaction on every UPDATE of it, tombstoning and
 * restoring included; when the referenced row was tombstoned first (a
 * cascade does exactly that), the check would not find it.  While the query
 * that caused the check tombstoned or restored rows, a tombstoned
 * referenced row counts as present: it still is, physically.  Restores are
 * checked by cascade.c instead, against live rows, for every foreign key
 * whose children may not outlive their parent.
 */
Datum
tombstone_ri_tolerant(PG_FUNCTION_ARGS)
{
	int			d = exec_depth - 1;

	PG_RETURN_BOOL(d >= 1 && d < nlevels &&
				   (levels[d].tombstoned > 0 || levels[d].restored > 0));
}

/*-------------------------------------------------------------------------
 * Writing the ledger entry
 *-------------------------------------------------------------------------
 */

static int
tally_cmp(const void *a, const void *b)
{
	const TombstoneTally *x = *(TombstoneTally *const *) a;
	const TombstoneTally *y = *(TombstoneTally *const *) b;
	int			c;

	if (x->root != y->root)
		return x->root < y->root ? -1 : 1;
	if (x->tenant == NULL || y->tenant == NULL)
		return (x->tenant == NULL) - (y->tenant == NULL);
	c = strcmp(x->tenant, y->tenant);
	return c;
}

/*
 * Count the rows of the change again from the tables, after a
 * subtransaction rolled some of them back.
 */
static void
change_recount(void)
{
	HASH_SEQ_STATUS status;
	TallyEntry *entry;
	List	   *roots = NIL;
	ListCell   *lc;
	bool		pushed;
	HTAB	   *old_tally = change.tally;

	/* every row the change holds was counted once: its tenant is here */
	hash_seq_init(&status, old_tally);
	while ((entry = hash_seq_search(&status)) != NULL)
		roots = list_append_unique_oid(roots, entry->key.root);
	change.tally = tally_create();

	/* a portal's ExecutorFinish runs after its snapshot was popped */
	pushed = !ActiveSnapshotSet();
	if (pushed)
		PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	foreach(lc, roots)
	{
		Oid			root = lfirst_oid(lc);
		const TombstoneRel *trel = TombstoneRelLookup(root);
		StringInfoData sql;
		Oid			argtypes[2] = {INT8OID, InvalidOid};
		Datum		values[2];
		List	   *tenants = NIL;
		bool		any_null = false;
		int			nargs = 1;
		uint64		i;

		if (trel == NULL)
			continue;
		hash_seq_init(&status, old_tally);
		while ((entry = hash_seq_search(&status)) != NULL)
		{
			if (entry->key.root != root)
				continue;
			if (entry->key.tenant == NULL)
				any_null = true;
			else
				tenants = lappend(tenants, (char *) entry->key.tenant);
		}
		values[0] = Int64GetDatum(change.id);
		initStringInfo(&sql);
		appendStringInfo(&sql, TOMBSTONE_INTERNAL_QUERY
						 "SELECT t.%s::text, count(*) FILTER (WHERE t.deleted_at IS NOT NULL),"
						 " count(*) FILTER (WHERE t.deleted_at IS NULL)"
						 " FROM %s t WHERE t.deleted_change = $1",
						 quote_identifier(NameStr(trel->tenant_column)),
						 TombstoneQualifiedName(root));
		/* no index covers deleted_change: look where rows were counted */
		if (!any_null &&
			TombstoneAppendTenantFilter(&sql, "t", root, tenants, 2,
										&values[1], &argtypes[1]))
			nargs = 2;
		appendStringInfoString(&sql, " GROUP BY 1");
		(void) TombstoneRunInternal(sql.data, nargs, argtypes, values, NULL,
									BOOTSTRAP_SUPERUSERID);
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			char	   *tenant = SPI_getvalue(tup, desc, 1);
			bool		isnull;
			TallyKey	key;
			bool		found;

			key.root = root;
			key.tenant = tenant ? MemoryContextStrdup(change.cxt, tenant) : NULL;
			entry = hash_search(change.tally, &key, HASH_ENTER, &found);
			if (!found)
				entry->purged = entry->rewound = 0;
			entry->tombstoned = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
			entry->restored = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		}
	}
	SPI_finish();
	if (pushed)
		PopActiveSnapshot();
	hash_destroy(old_tally);
	change.recount = false;
}

/*
 * Push one JSON string (or null) onto a jsonb under construction.
 */
static void
push_jsonb_string(JsonbParseState **state, const char *str)
{
	JsonbValue	v;

	if (str == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) str;
		v.val.string.len = strlen(str);
	}
	(void) pushJsonbValue(state, WJB_VALUE, &v);
}

static void
push_jsonb_key(JsonbParseState **state, const char *key)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) key;
	v.val.string.len = strlen(key);
	(void) pushJsonbValue(state, WJB_KEY, &v);
}

static void
push_jsonb_int8(JsonbParseState **state, int64 n)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(n);
	(void) pushJsonbValue(state, WJB_VALUE, &v);
}

/*
 * The per table, per tenant counts as a JSON array, built directly as jsonb
 * (a single-row DELETE pays for this once per statement).
 */
static Datum
tally_jsonb(int64 *tombstoned, int64 *restored, int64 *purged,
			int64 *rewound)
{
	List	   *tally = TombstoneChangeTally();
	TombstoneTally **items;
	JsonbParseState *state = NULL;
	JsonbValue *result;
	ListCell   *lc;
	int			n = 0;
	int			i;

	items = palloc(sizeof(TombstoneTally *) * (list_length(tally) + 1));
	foreach(lc, tally)
		items[n++] = lfirst(lc);
	qsort(items, n, sizeof(TombstoneTally *), tally_cmp);

	*tombstoned = *restored = *purged = *rewound = 0;
	(void) pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < n; i++)
	{
		TombstoneTally *t = items[i];

		if (t->tombstoned == 0 && t->restored == 0 && t->purged == 0 &&
			t->rewound == 0)
			continue;
		/* keys in jsonb's own order: shorter first, then bytewise */
		(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		push_jsonb_key(&state, "table");
		push_jsonb_string(&state, TombstoneQualifiedName(t->root));
		push_jsonb_key(&state, "tenant");
		push_jsonb_string(&state, t->tenant);
		push_jsonb_key(&state, "restored");
		push_jsonb_int8(&state, t->restored);
		push_jsonb_key(&state, "tombstoned");
		push_jsonb_int8(&state, t->tombstoned);
		if (t->purged > 0)
		{
			push_jsonb_key(&state, "purged");
			push_jsonb_int8(&state, t->purged);
		}
		if (t->rewound > 0)
		{
			push_jsonb_key(&state, "rewound");
			push_jsonb_int8(&state, t->rewound);
		}
		(void) pushJsonbValue(&state, WJB_END_OBJECT, NULL);
		*tombstoned += t->tombstoned;
		*restored += t->restored;
		*purged += t->purged;
		*rewound += t->rewound;
	}
	result = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(result));
}

/*
 * The name of a role as a Datum of type name.  The role and session role of
 * the last changes are kept, and forgotten when any role changes.
 */
static Oid	role_cache_oid[2] = {InvalidOid, InvalidOid};
static NameData role_cache_name[2];

static void
role_cache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	role_cache_oid[0] = role_cache_oid[1] = InvalidOid;
}

static Datum
role_name(Oid roleid, int slot)
{
	if (role_cache_oid[slot] != roleid)
	{
		namestrcpy(&role_cache_name[slot], GetUserNameFromId(roleid, false));
		role_cache_oid[slot] = roleid;
	}
	return NameGetDatum(&role_cache_name[slot]);
}

static void
ledger_insert(Datum *values, bool *nulls)
{
	Oid			relid = TombstoneLedgerRelid();
	Relation	rel;

	if (!OidIsValid(relid))
		elog(ERROR, "ledger table tombstone.%s does not exist", TOMBSTONE_LEDGER);
	rel = table_open(relid, RowExclusiveLock);
	if (RelationGetDescr(rel)->natts != Natts_changes)
		elog(ERROR, "ledger table tombstone.%s has %d columns, expected %d",
			 TOMBSTONE_LEDGER, RelationGetDescr(rel)->natts, Natts_changes);
	TombstoneInsertTuple(rel, heap_form_tuple(RelationGetDescr(rel), values, nulls));
	table_close(rel, NoLock);
}

/*
 * Close the current change: write its ledger entry (none when no row
 * changed in the end) and forget it.
 */
static void
change_flush(void)
{
	Datum		values[Natts_changes];
	bool		nulls[Natts_changes];
	int64		tombstoned;
	int64		restored;
	int64		purged;
	int64		rewound;
	Datum		rows;
	const char *operation;
	const TombstoneToken *token;
	MemoryContext oldcxt;

	if (change.id == 0 || change.preview)
	{
		if (!change.preview)
			change_reset();
		return;
	}
	oldcxt = MemoryContextSwitchTo(change.cxt);
	if (change.recount)
		change_recount();

	rows = tally_jsonb(&tombstoned, &restored, &purged, &rewound);
	if (tombstoned == 0 && restored == 0 && purged == 0 && rewound == 0)
	{
		MemoryContextSwitchTo(oldcxt);
		change_reset();
		return;
	}

	if (change.operation != NULL)
		operation = change.operation;
	else if (change.tenant_deleted)
		operation = "delete_tenant";
	else if (tombstoned > 0 && top_unprotected_delete)
		operation = "cascade";
	else if (tombstoned > 0)
		operation = "delete";
	else if (restored > 0)
		operation = "undelete";
	else
		operation = "purge";

	memset(nulls, true, sizeof(nulls));
	values[Anum_changes_id - 1] = Int64GetDatum(change.id);
	values[Anum_changes_at - 1] =
		TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	values[Anum_changes_xid - 1] =
		FullTransactionIdGetDatum(GetTopFullTransactionId());
	values[Anum_changes_role - 1] =
		role_name(change.role, 0);
	values[Anum_changes_session_role - 1] =
		role_name(GetSessionUserId(), 1);
	values[Anum_changes_application_name - 1] =
		CStringGetTextDatum(application_name ? application_name : "");
	values[Anum_changes_operation - 1] = CStringGetTextDatum(operation);
	values[Anum_changes_undoes - 1] = Int64GetDatum(change.undoes);
	if (change.statement != NULL)
		values[Anum_changes_statement - 1] = CStringGetTextDatum(change.statement);
	values[Anum_changes_rows - 1] = rows;
	nulls[Anum_changes_id - 1] = false;
	nulls[Anum_changes_at - 1] = false;
	nulls[Anum_changes_xid - 1] = false;
	nulls[Anum_changes_role - 1] = false;
	nulls[Anum_changes_session_role - 1] = false;
	nulls[Anum_changes_application_name - 1] = false;
	nulls[Anum_changes_operation - 1] = false;
	nulls[Anum_changes_undoes - 1] = (change.undoes == 0);
	nulls[Anum_changes_statement - 1] = (change.statement == NULL);
	nulls[Anum_changes_rows - 1] = false;
	token = TombstoneGuardTokenFor(change.id);
	if (token != NULL)
	{
		values[Anum_changes_token_id - 1] = CStringGetTextDatum(token->jti);
		nulls[Anum_changes_token_id - 1] = false;
		if (token->sub != NULL)
		{
			values[Anum_changes_token_subject - 1] = CStringGetTextDatum(token->sub);
			nulls[Anum_changes_token_subject - 1] = false;
		}
		if (token->reason != NULL)
		{
			values[Anum_changes_token_reason - 1] = CStringGetTextDatum(token->reason);
			nulls[Anum_changes_token_reason - 1] = false;
		}
	}

	ledger_insert(values, nulls);
	MemoryContextSwitchTo(oldcxt);
	change_reset();
}

/*-------------------------------------------------------------------------
 * Executor hooks: where a statement ends
 *-------------------------------------------------------------------------
 */

static void
tombstone_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (exec_depth == 0 && change.id == 0)
	{
		PlannedStmt *pstmt = queryDesc->plannedstmt;
		bool		unprotected_delete = false;

		if (pstmt->commandType == CMD_DELETE && pstmt->resultRelations != NIL)
		{
			ListCell   *lc;

			unprotected_delete = true;
			foreach(lc, pstmt->resultRelations)
			{
				RangeTblEntry *rte = rt_fetch(lfirst_int(lc), pstmt->rtable);

				if (TombstoneRelLookup(rte->relid) != NULL)
					unprotected_delete = false;
			}
		}
		top_unprotected_delete = unprotected_delete;
	}

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	if (tombstone_preloaded)
		trigger_free_prepare(queryDesc, eflags);
}

static void
tombstone_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
					  uint64 count, bool execute_once)
{
	volatile bool stamping = stamp_running(queryDesc);
	uint64		processed = queryDesc->estate->es_processed;
	void	   *prev_version = TombstoneVersionRunBegin(queryDesc->estate);

	exec_depth++;
	ensure_levels(exec_depth);
	levels[exec_depth].stamping = stamping;
	levels[exec_depth].stamped = 0;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);

		/* rows projected twice or not updated after all: count again */
		if (stamping && change.id != 0 &&
			levels[exec_depth].stamped !=
			(int64) (queryDesc->estate->es_processed - processed))
			change.recount = true;
	}
	PG_FINALLY();
	{
		levels[exec_depth].stamping = false;
		exec_depth--;
		TombstoneVersionRunEnd(prev_version);
	}
	PG_END_TRY();
}

/*
 * After a query and its AFTER triggers have finished: do the work its rows
 * queued (cascades, checks, tenant deletion), and at the outermost level
 * write the ledger entry of the statement's change.
 */
static void
tombstone_ExecutorFinish(QueryDesc *queryDesc)
{
	/* the old version of a trigger-free UPDATE's last row */
	TombstoneVersionFinish(queryDesc->estate);

	exec_depth++;
	ensure_levels(exec_depth);
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);

		TombstonePendingProcess(exec_depth);
		levels[exec_depth].tombstoned = levels[exec_depth].restored = 0;
		/* a statement inside a function's change has finished */
		if (scopes != NIL && ((ChangeScope *) linitial(scopes))->nested &&
			((ChangeScope *) linitial(scopes))->finish_depth == exec_depth)
		{
			change_flush();
			change_scope_pop((ChangeScope *) linitial(scopes));
		}
		/* a function's own change is written by TombstoneChangeEnd() */
		if (exec_depth == 1 && !change.owned && scopes == NIL)
			change_flush();
	}
	PG_FINALLY();
	{
		exec_depth--;
	}
	PG_END_TRY();
}

static void
ledger_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			/* a change still open here was made outside any statement */
			if (change.id != 0 && !change.preview)
				change_flush();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			/* the change's memory went with the transaction */
			memset(&change, 0, sizeof(change));
			scopes = NIL;
			next_operation = NULL;
			next_undoes = 0;
			top_unprotected_delete = false;
			TombstonePendingReset();
			clear_levels_above(0);
			break;
		default:
			break;
	}
}

static void
ledger_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	/* functions that failed inside the subtransaction: resume their callers' changes */
	while (scopes != NIL && ((ChangeScope *) linitial(scopes))->subid >= mySubid)
		change_scope_pop((ChangeScope *) linitial(scopes));
	/* the queries deeper than where the error was caught are gone */
	TombstonePendingDiscard(exec_depth);
	clear_levels_above(exec_depth);
	if (change.id != 0)
		change.recount = true;
}

/*
 * tombstone._ledger_guard(): BEFORE UPDATE OR DELETE row trigger, BEFORE
 * INSERT statement trigger and BEFORE TRUNCATE trigger of the ledger, which
 * only the extension appends to.
 */
Datum
tombstone_ledger_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *what;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager",
						"tombstone_ledger_guard")));
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		/*
		 * The extension inserts its entries directly, never firing this;
		 * an INSERT into an empty ledger is a restore of a dump.
		 */
		if (TombstoneExtensionScript() ||
			TombstoneRelationIsEmpty(trigdata->tg_relation))
			return PointerGetDatum(NULL);
		what = "INSERT";
	}
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		what = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		what = "DELETE";
	else
		what = "TRUNCATE";
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_LEDGER),
			 errmsg("cannot change the ledger \"%s\"",
					RelationGetRelationName(trigdata->tg_relation)),
			 errdetail("Only pg_tombstone appends to the ledger, which records every change to protected tables; %s was refused.",
					   what),
			 errhint("Undo a change with tombstone.undelete_change(), which records the undo as a change of its own.")));
	PG_RETURN_NULL();			/* keep compiler quiet */
}

void
TombstoneLedgerInit(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = tombstone_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = tombstone_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = tombstone_ExecutorFinish;
	CacheRegisterSyscacheCallback(AUTHOID, role_cache_callback, (Datum) 0);
	RegisterXactCallback(ledger_xact_callback, NULL);
	RegisterSubXactCallback(ledger_subxact_callback, NULL);
}
