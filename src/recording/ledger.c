/*-------------------------------------------------------------------------
 *
 * ledger.c
 *	  The ledger tombstone.changes: writing one entry per change, and
 *	  reading back which tenants a change counted.
 *
 * An entry records a change (recording/change.c): its id, when, by which
 * role and application, the operation, the statement, the token that
 * authorised it, and its rows per table and tenant as a JSON array.  The
 * row is inserted directly into the heap and the indexes (whose list and
 * IndexInfo are kept across statements), as the extension
 * and not as the user: application roles have no privilege on the ledger,
 * and its guard trigger refuses UPDATE, DELETE and TRUNCATE
 * (mechanisms/triggers.c).
 *
 * Reading the ledger back: the tenants a change counted, the highest
 * change id it holds (the ledger's sequence may not be set below it), and
 * the subscription that replicates it into this database, if one does:
 * changes are then recorded on the publisher, not here
 * (recording/change.c refuses them).
 *
 * src/recording/ledger.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_subscription.h"
#include "catalog/pg_subscription_rel.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "foundation/catalog.h"
#include "foundation/inval.h"
#include "foundation/names.h"
#include "foundation/query.h"
#include "policy/token.h"
#include "recording/ledger.h"

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
 * The per table, per tenant counts of tally (a list of TombstoneTally) as
 * the JSON array of a ledger entry, built directly as jsonb (a single-row
 * DELETE pays for this once per statement); the totals go to the out
 * arguments.
 */
Datum
TombstoneLedgerRows(List *tally, int64 *tombstoned, int64 *restored,
					int64 *purged, int64 *rewound)
{
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
role_cache_callback(uint32 hashvalue)
{
	role_cache_oid[0] = role_cache_oid[1] = InvalidOid;
}

static Datum
role_name(Oid roleid, int slot)
{
	if (role_cache_oid[slot] != roleid)
	{
		TombstoneOnSyscacheInval(AUTHOID, role_cache_callback);
		namestrcpy(&role_cache_name[slot], GetUserNameFromId(roleid, false));
		role_cache_oid[slot] = roleid;
	}
	return NameGetDatum(&role_cache_name[slot]);
}

/*
 * The ledger's indexes, kept across statements: a single-row DELETE writes
 * one ledger row, and opening the indexes through the executor (their list,
 * an IndexInfo built for each, an EState) cost it a third as much as the
 * heap and index insertions themselves.  Built at the first entry, in
 * CacheMemoryContext, and dropped by a relcache invalidation of the ledger
 * (an index added or dropped).  Only plain btree indexes (the primary key
 * protect() made; one added by hand of that kind too) are written directly;
 * with any other kind the entry goes through the executor's insertion.
 */
typedef struct LedgerIndexes
{
	bool		valid;
	Oid			relid;			/* the ledger they are for */
	bool		direct;			/* every index is a plain btree */
	int			n;
	Oid		   *oids;
	IndexInfo **info;
	bool	   *unique;			/* checked at once */
} LedgerIndexes;

static LedgerIndexes ledger_indexes;

static void
ledger_indexes_callback(Oid relid)
{
	if (!OidIsValid(relid) || relid == ledger_indexes.relid)
		ledger_indexes.valid = false;
}

static void
ledger_indexes_build(Relation rel)
{
	static bool registered = false;
	MemoryContext oldcxt;
	List	   *oids;
	ListCell   *lc;
	int			i = 0;

	if (!registered)
	{
		TombstoneOnRelcacheInval(ledger_indexes_callback);
		registered = true;
	}
	if (ledger_indexes.oids != NULL)
	{
		for (i = 0; i < ledger_indexes.n; i++)
			pfree(ledger_indexes.info[i]);
		pfree(ledger_indexes.oids);
		pfree(ledger_indexes.info);
		pfree(ledger_indexes.unique);
		ledger_indexes.oids = NULL;
		i = 0;
	}
	oids = RelationGetIndexList(rel);
	oldcxt = MemoryContextSwitchTo(CacheMemoryContext);
	ledger_indexes.relid = RelationGetRelid(rel);
	ledger_indexes.n = list_length(oids);
	ledger_indexes.oids = palloc(sizeof(Oid) * Max(ledger_indexes.n, 1));
	ledger_indexes.info = palloc(sizeof(IndexInfo *) * Max(ledger_indexes.n, 1));
	ledger_indexes.unique = palloc(sizeof(bool) * Max(ledger_indexes.n, 1));
	ledger_indexes.direct = true;
	/* an invalidation while building makes the next entry build again */
	ledger_indexes.valid = true;
	foreach(lc, oids)
	{
		Relation	idx = index_open(lfirst_oid(lc), RowExclusiveLock);
		IndexInfo  *ii = BuildIndexInfo(idx);

		ledger_indexes.oids[i] = RelationGetRelid(idx);
		ledger_indexes.info[i] = ii;
		ledger_indexes.unique[i] = ii->ii_Unique;
		if (idx->rd_rel->relam != BTREE_AM_OID ||
			!TombstoneIndexOfColumns(ii) || !ii->ii_ReadyForInserts ||
			(ii->ii_Unique && !idx->rd_index->indimmediate))
			ledger_indexes.direct = false;
		index_close(idx, RowExclusiveLock);
		i++;
	}
	MemoryContextSwitchTo(oldcxt);
	list_free(oids);
}

/*
 * Insert the ledger row (values, nulls) into rel and its indexes: directly,
 * as the executor would without triggers, when the indexes allow.
 */
static void
ledger_insert(Relation rel, Datum *values, bool *nulls)
{
	HeapTuple	tuple = heap_form_tuple(RelationGetDescr(rel), values, nulls);
	int			i;

	if (!ledger_indexes.valid || ledger_indexes.relid != RelationGetRelid(rel))
		ledger_indexes_build(rel);
	if (!ledger_indexes.direct)
	{
		TombstoneInsertTuple(rel, tuple);
		return;
	}
	heap_insert(rel, tuple, GetCurrentCommandId(true), 0, NULL);
	for (i = 0; i < ledger_indexes.n; i++)
	{
		Relation	idx = index_open(ledger_indexes.oids[i], RowExclusiveLock);

		TombstoneIndexInsertColumns(idx, ledger_indexes.info[i], rel,
									&tuple->t_self, values, nulls,
									ledger_indexes.unique[i] ?
									UNIQUE_CHECK_YES : UNIQUE_CHECK_NO);
		index_close(idx, NoLock);
	}
	heap_freetuple(tuple);
}

/*
 * Append the entry of change id to the ledger: made by role (the session
 * role and application are the current ones) in the current transaction,
 * of the given operation, undoing change undoes (0: none), for statement
 * (NULL: none), with rows from TombstoneLedgerRows() and the token that
 * authorised it (NULL: none).
 */
void
TombstoneLedgerAppend(int64 id, Oid role, const char *operation,
					  int64 undoes, const char *statement, Datum rows,
					  const TombstoneToken *token)
{
	Datum		values[Natts_changes];
	bool		nulls[Natts_changes];
	Oid			relid = TombstoneLedgerRelid();
	Relation	rel;

	memset(nulls, true, sizeof(nulls));
	values[Anum_changes_id - 1] = Int64GetDatum(id);
	values[Anum_changes_at - 1] =
		TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	values[Anum_changes_xid - 1] =
		FullTransactionIdGetDatum(GetTopFullTransactionId());
	values[Anum_changes_role - 1] = role_name(role, 0);
	values[Anum_changes_session_role - 1] = role_name(GetSessionUserId(), 1);
	values[Anum_changes_application_name - 1] =
		CStringGetTextDatum(application_name ? application_name : "");
	values[Anum_changes_operation - 1] = CStringGetTextDatum(operation);
	values[Anum_changes_undoes - 1] = Int64GetDatum(undoes);
	if (statement != NULL)
		values[Anum_changes_statement - 1] = CStringGetTextDatum(statement);
	values[Anum_changes_rows - 1] = rows;
	nulls[Anum_changes_id - 1] = false;
	nulls[Anum_changes_at - 1] = false;
	nulls[Anum_changes_xid - 1] = false;
	nulls[Anum_changes_role - 1] = false;
	nulls[Anum_changes_session_role - 1] = false;
	nulls[Anum_changes_application_name - 1] = false;
	nulls[Anum_changes_operation - 1] = false;
	nulls[Anum_changes_undoes - 1] = (undoes == 0);
	nulls[Anum_changes_statement - 1] = (statement == NULL);
	nulls[Anum_changes_rows - 1] = false;
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

	if (!OidIsValid(relid))
		elog(ERROR, "ledger table tombstone.%s does not exist", TOMBSTONE_LEDGER);
	rel = table_open(relid, RowExclusiveLock);
	if (RelationGetDescr(rel)->natts != Natts_changes)
		elog(ERROR, "ledger table tombstone.%s has %d columns, expected %d",
			 TOMBSTONE_LEDGER, RelationGetDescr(rel)->natts, Natts_changes);
	ledger_insert(rel, values, nulls);
	table_close(rel, NoLock);
}

/*
 * The tenants (text) that change id counted rows of in root, from its ledger
 * entry; NIL when the entry does not name root (not written yet, or root
 * renamed since) or counted rows without a tenant.  Runs inside SPI.
 */
List *
TombstoneLedgerTenants(int64 id, Oid root)
{
	Oid			argtypes[2] = {INT8OID, OIDOID};
	Datum		values[2];
	List	   *tenants = NIL;
	uint64		i;

	values[0] = Int64GetDatum(id);
	values[1] = ObjectIdGetDatum(root);
	(void) TombstoneRunInternal(TOMBSTONE_INTERNAL_QUERY
								"SELECT r->>'tenant'"
								"  FROM tombstone.changes c, jsonb_array_elements(c.rows) r"
								" WHERE c.id = $1 AND to_regclass(r->>'table') = $2",
								2, argtypes, values, NULL, BOOTSTRAP_SUPERUSERID);
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *tenant = SPI_getvalue(SPI_tuptable->vals[i],
										  SPI_tuptable->tupdesc, 1);

		if (tenant == NULL)
			return NIL;
		tenants = lappend(tenants, tenant);
	}
	return tenants;
}

/*
 * The highest change id in the ledger (committed, or written by this
 * transaction), 0 when it is empty: the last entry of its primary key.
 */
int64
TombstoneLedgerMaxId(void)
{
	Oid			relid = TombstoneLedgerRelid();
	Relation	rel;
	Relation	idx;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snapshot;
	int64		max_id = 0;

	if (!OidIsValid(relid))
		return 0;
	rel = table_open(relid, AccessShareLock);
	idx = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, snapshot, 0, 0);
	index_rescan(scan, NULL, 0, NULL, 0);
	if (index_getnext_slot(scan, BackwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, Anum_changes_id, &isnull);

		if (!isnull)
			max_id = DatumGetInt64(d);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
	return max_id;
}

/*
 * The subscription that replicates the ledger into this database, or
 * InvalidOid; cached per backend until pg_subscription_rel changes
 * (foundation/inval.c).
 */
static Oid	ledger_subscription = InvalidOid;
static Oid	ledger_subscription_of = InvalidOid;	/* the ledger it is for */
static bool ledger_subscription_valid = false;

static void
subscription_rel_callback(uint32 hashvalue)
{
	ledger_subscription_valid = false;
}

Oid
TombstoneLedgerSubscription(void)
{
	Oid			ledger = TombstoneLedgerRelid();
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	if (ledger_subscription_valid && ledger_subscription_of == ledger)
		return ledger_subscription;
	TombstoneOnSyscacheInval(SUBSCRIPTIONRELMAP, subscription_rel_callback);
	/* an invalidation during the scan makes the next call look again */
	ledger_subscription_valid = true;
	ledger_subscription_of = ledger;
	rel = table_open(SubscriptionRelRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_subscription_rel_srrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(ledger));
	scan = systable_beginscan(rel, SubscriptionRelSrrelidSrsubidIndexId, true,
							  NULL, 1, &key);
	tup = systable_getnext(scan);
	ledger_subscription = HeapTupleIsValid(tup) ?
		((Form_pg_subscription_rel) GETSTRUCT(tup))->srsubid : InvalidOid;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return ledger_subscription;
}
