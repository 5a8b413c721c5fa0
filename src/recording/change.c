/*-------------------------------------------------------------------------
 *
 * change.c
 *	  Changes: every tombstoning and every undelete gets a change id, its
 *	  rows are counted per table and tenant, and one ledger entry is written
 *	  for each statement.
 *
 * A change is the unit that undelete_change() undoes.  It belongs to the
 * statement the client sent: a DELETE, the foreign-key cascades and tenant
 * deletion it causes, the rows a function called by that statement
 * tombstones.  So the change opens at the first row that changes state and
 * closes when the outermost executor run finishes (each statement of a DO
 * block or procedure is a statement of its own): mechanisms/executor.c
 * calls TombstoneChangeClose() there, and the row trigger or _stamp()
 * (mechanisms/triggers.c, executor.c) count each row with
 * TombstoneChangeCount().
 *
 * An undelete, rewind or purge (operations/) makes a change of its own,
 * whatever statement calls it: TombstoneChangeBegin() sets the statement's
 * change aside and TombstoneChangeEnd() writes the function's entry and
 * puts it back.  A row changed inside that function by a statement of the
 * user's (a trigger's DELETE) gets yet another change of its own, so the
 * ledger never files a tombstoning under an undelete.
 *
 * Row counts live in backend memory, not in a table: a single-row DELETE
 * pays one hash lookup and one ledger insert.  A subtransaction that aborts
 * after rows were counted (an exception block in PL/pgSQL) makes the counts
 * unreliable; the change then recounts from the tables at the end (by
 * deleted_change, in the tenants that were counted: no index covers it).
 *
 * Per executor depth, the rows tombstoned and restored by the query running
 * there are counted too: a foreign-key check caused by such a query accepts
 * a tombstoned parent (tombstone._ri_tolerant()).
 *
 * A database into which a subscription replicates the ledger records no
 * change of its own (TB065): its changes are made on the publisher and
 * arrive with their ledger entries.
 *
 * src/recording/change.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_subscription.h"
#include "commands/sequence.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "foundation/catalog.h"
#include "foundation/errcodes.h"
#include "foundation/names.h"
#include "foundation/query.h"
#include "foundation/tenant.h"
#include "policy/guard.h"
#include "recording/change.h"
#include "recording/ledger.h"

PG_FUNCTION_INFO_V1(tombstone_ri_tolerant);

/* statement text kept in the ledger, in bytes */
#define LEDGER_STATEMENT_MAX	1024

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
	int64		guarded;		/* rows of a recount passed by the guard */
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
	bool		guard_recount;	/* rows counted only by the recount (Citus) */
	bool		preview;		/* preview(): no id, no ledger */
	bool		owned;			/* a function's own: see TombstoneChangeBegin */
	Oid			role;
	char	   *statement;
} ChangeState;

static ChangeState change;

static void change_close(void);
static void recount_pending(void);

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
} LevelCounts;

static LevelCounts *levels = NULL;
static int	nlevels = 0;

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
		levels[i].tombstoned = levels[i].restored = 0;
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
 * While a subscription replicates the ledger into this database, changes
 * are recorded on the publisher: an entry written here would take a change
 * id that the publisher also gives out (the sequence follows the
 * replicated entries, see tombstone._ledger_follow()), and the subscription
 * would stop at the duplicate key.
 */
static void
refuse_on_ledger_subscriber(void)
{
	Oid			sub = TombstoneLedgerSubscription();
	char	   *subname;

	if (!OidIsValid(sub))
		return;
	subname = get_subscription_name(sub, true);
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_SUBSCRIBED_LEDGER),
			 errmsg("cannot record a change to protected tables in a database whose ledger is replicated"),
			 errdetail("Table tombstone.changes is replicated from a publisher by subscription \"%s\"; a ledger entry written here would take a change id the publisher also gives out, and stop the subscription.",
					   subname ? subname : "?"),
			 errhint("Make the change on the publisher; it reaches this database through the subscription. To record changes here, first drop the subscription or remove tombstone.changes from its publication.")));
}

/*
 * The id of the current change, opening it on first use.
 */
int64
TombstoneChangeOpen(void)
{
	if (change.id != 0)
		return change.id;
	if (!change.preview)
		refuse_on_ledger_subscriber();

	change.cxt = AllocSetContextCreate(TopTransactionContext,
									   "pg_tombstone change",
									   ALLOCSET_SMALL_SIZES);
	change.tally = tally_create();
	change.role = GetUserId();
	change.operation = next_operation;
	change.undoes = next_undoes;
	change.tenant_deleted = false;
	change.recount = false;
	change.guard_recount = false;
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
		entry->guarded = 0;
	}
	return entry;
}

/*
 * Count one row of the open change, tombstoned or restored, under its
 * protected root and tenant (NULL: none).
 */
void
TombstoneChangeCount(Oid root, const char *tenant, bool tombstoned)
{
	int			depth = TombstoneExecDepth();

	TallyEntry *entry = tally_entry(root, tenant);

	if (tombstoned)
		entry->tombstoned++;
	else
		entry->restored++;
	ensure_levels(depth);
	if (tombstoned)
		levels[depth].tombstoned++;
	else
		levels[depth].restored++;
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
		change_close();
		change_scope_pop((ChangeScope *) linitial(scopes));
	}
	if (scopes == NIL || linitial(scopes) != scope)
		elog(ERROR, "pg_tombstone: change scopes ended out of order");
	change_close();
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
	scope->finish_depth = TombstoneExecDepth();
}

/*
 * The id of the change a row that changes state now belongs to, opening it
 * on first use; for the row trigger and tombstone._stamp().  Inside an
 * undelete, rewind or purge, a row that is not changed by one of the
 * function's own queries opens a change of its own (nested_change_begin).
 */
int64
TombstoneChangeOpenRow(void)
{
	if (change.owned && !TombstoneRowFromInternal())
		nested_change_begin();
	return TombstoneChangeOpen();
}

/*
 * The same for a statement whose rows change where no trigger of this
 * backend sees them (a Citus table's), asked when the statement starts:
 * from_internal says whether the statement is one of the function's own.
 */
int64
TombstoneChangeOpenStatement(bool from_internal)
{
	if (change.owned && !from_internal)
		nested_change_begin();
	return TombstoneChangeOpen();
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
	recount_pending();
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
	recount_pending();
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
 * operations/purge.c: count rows removed for good, as part of the current
 * change (the caller opens a change of its own with TombstoneChangeBegin
 * first).
 */
void
TombstoneChangeAddPurged(Oid root, const char *tenant, int64 rows)
{
	if (rows <= 0)
		return;
	(void) TombstoneChangeOpen();
	tally_entry(root, tenant)->purged += rows;
}

/*
 * operations/timetravel.c: count rows that rewind_tenant() gave their old
 * values (restored rows are counted as such by the row trigger as well)
 */
void
TombstoneChangeAddRewound(Oid root, const char *tenant, int64 rows)
{
	if (rows <= 0)
		return;
	(void) TombstoneChangeOpen();
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

/*
 * tombstone._ri_tolerant(): part of the visibility qual of foreign-key check
 * queries.  PostgreSQL re-checks the foreign keys of a row inserted by the
 * current transaction on every UPDATE of it, tombstoning and restoring
 * included; when the referenced row was tombstoned first (a cascade does
 * exactly that), the check would not find it.  While the query that caused the
 * check tombstoned or restored rows, a tombstoned referenced row counts as
 * present: it still is, physically.  Restores are checked by
 * mechanisms/cascade.c instead, against live rows, for every foreign key whose
 * children may not outlive their parent.  While ALTER TABLE validates a
 * constraint row by row (when it cannot run its one query, see
 * is_fk_validation() in mechanisms/planner.c), and while COPY FROM loads
 * rows (a restore brings tombstones back that reference tombstones), a
 * tombstoned parent counts as present too: the rows are checked as stored.
 */
Datum
tombstone_ri_tolerant(PG_FUNCTION_ARGS)
{
	int			d = TombstoneExecDepth() - 1;

	PG_RETURN_BOOL((d >= 1 && d < nlevels &&
					(levels[d].tombstoned > 0 || levels[d].restored > 0)) ||
				   TombstoneInAlterTable() || TombstoneInCopyFrom());
}

/*
 * Rows that only the recount saw (a DELETE on a Citus table, whose rows
 * changed on the workers) pass by the guard now, one by one as the row
 * trigger would have passed them: a refusal aborts the statement, and the
 * tombstones on the shards roll back with it.
 */
static void
guard_counted(Oid root, const char *tenant, int64 rows)
{
	int64		i;

	for (i = 0; i < rows; i++)
		TombstoneGuardRow(root, tenant, false, change.id);
}

/*
 * Count the rows of the change again from the tables, after a
 * subtransaction rolled some of them back, or because they changed where
 * no trigger of this backend counted them (TombstoneChangeCountFromTable).
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
		/* a Citus table: see TombstoneRunInternalCustom() */
		if (trel->citus_method != '\0')
			(void) TombstoneRunInternalCustom(sql.data, nargs, argtypes, values,
											  NULL, BOOTSTRAP_SUPERUSERID);
		else
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
			{
				TallyEntry *old = hash_search(old_tally, &key, HASH_FIND, NULL);

				entry->purged = entry->rewound = entry->guarded = 0;
				if (old != NULL)
				{
					entry->guarded = old->guarded;
					/* a Citus change may count again after a purge */
					if (change.guard_recount)
					{
						entry->purged = old->purged;
						entry->rewound = old->rewound;
					}
				}
			}
			entry->tombstoned = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
			entry->restored = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
			if (change.guard_recount && !change.preview &&
				entry->tombstoned > entry->guarded)
			{
				guard_counted(root, key.tenant, entry->tombstoned - entry->guarded);
				entry->guarded = entry->tombstoned;
			}
		}
	}
	SPI_finish();
	if (pushed)
		PopActiveSnapshot();
	hash_destroy(old_tally);
	change.recount = false;
}

/*
 * Rows that only a recount can count (a Citus table's, see
 * TombstoneChangeCountFromTable) are counted before anyone reads the
 * counts: undelete functions report them, preview() returns them.
 */
static void
recount_pending(void)
{
	MemoryContext oldcxt;

	if (!change.recount || !change.guard_recount)
		return;
	oldcxt = MemoryContextSwitchTo(change.cxt);
	change_recount();
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Close the current change: write its ledger entry (none when no row
 * changed in the end) and forget it.
 */
static void
change_close(void)
{
	int64		tombstoned;
	int64		restored;
	int64		purged;
	int64		rewound;
	Datum		rows;
	const char *operation;
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

	rows = TombstoneLedgerRows(TombstoneChangeTally(), &tombstoned, &restored,
							   &purged, &rewound);
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

	TombstoneLedgerAppend(change.id, change.role, operation, change.undoes,
						  change.statement, rows,
						  TombstoneGuardTokenFor(change.id));
	MemoryContextSwitchTo(oldcxt);
	change_reset();
}

/*
 * The outermost executor run has finished: close the statement's change.
 * A function's own change (TombstoneChangeBegin) is written by
 * TombstoneChangeEnd() instead, when the function is done.
 */
void
TombstoneChangeClose(void)
{
	if (!change.owned && scopes == NIL)
		change_close();
}

/* Whether the open change belongs to preview(), which records nothing */
bool
TombstoneChangeIsPreview(void)
{
	return change.preview;
}

/*
 * The open change tombstones rows of root that no trigger of this backend
 * sees: those of a Citus table change on the workers' shards, stamped with
 * the change id that the coordinator evaluated once (mechanisms/planner.c,
 * executor.c).  They are counted from the table, per tenant, when the
 * statement ends, and pass by the guard then.
 */
void
TombstoneChangeCountFromTable(Oid root)
{
	if (change.id == 0)
		return;
	(void) tally_entry(root, NULL);
	change.recount = true;
	change.guard_recount = true;
}

/* The counts of the open change cannot be trusted: recount at the end. */
void
TombstoneChangeRecountLater(void)
{
	if (change.id != 0)
		change.recount = true;
}

/*
 * Whether the top-level statement is a DELETE on an unprotected table (its
 * change, tombstones reached by a cascade from a physical delete, is
 * recorded as operation "cascade").  Said by the executor when the
 * statement starts.
 */
void
TombstoneChangeSetTopUnprotectedDelete(bool unprotected_delete)
{
	top_unprotected_delete = unprotected_delete;
}

/*
 * The query at executor depth depth has finished, its cascades included.
 * When it was a statement inside a function's change (nested_change_begin),
 * its own change is written and the function's resumes.
 */
void
TombstoneChangeLevelDone(int depth)
{
	if (depth < nlevels)
		levels[depth].tombstoned = levels[depth].restored = 0;
	if (scopes != NIL && ((ChangeScope *) linitial(scopes))->nested &&
		((ChangeScope *) linitial(scopes))->finish_depth == depth)
	{
		change_close();
		change_scope_pop((ChangeScope *) linitial(scopes));
	}
}

static void
change_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			/* a change still open here was made outside any statement */
			if (change.id != 0 && !change.preview)
				change_close();
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
			clear_levels_above(0);
			break;
		default:
			break;
	}
}

/*
 * A subtransaction aborted: the queries deeper than where the error was
 * caught are gone, and the rows they counted may be rolled back.
 */
static void
change_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	/* functions that failed inside the subtransaction: resume their callers' changes */
	while (scopes != NIL && ((ChangeScope *) linitial(scopes))->subid >= mySubid)
		change_scope_pop((ChangeScope *) linitial(scopes));
	clear_levels_above(TombstoneExecDepth());
	if (change.id != 0)
		change.recount = true;
}

/* Follow the ends of transactions and subtransactions; from _PG_init. */
void
TombstoneChangeInit(void)
{
	RegisterXactCallback(change_xact_callback, NULL);
	RegisterSubXactCallback(change_subxact_callback, NULL);
}
