/*-------------------------------------------------------------------------
 *
 * ledger.c
 *	  The ledger tombstone.changes: writing one entry per change, and
 *	  reading back which tenants a change counted.
 *
 * An entry records a change (recording/change.c): its id, when, by which
 * role and application, the operation, the statement, the token that
 * authorised it, and its rows per table and tenant as a JSON array.  The
 * row is inserted directly into the heap and the indexes, as the extension
 * and not as the user: application roles have no privilege on the ledger,
 * and its guard trigger refuses UPDATE, DELETE and TRUNCATE
 * (mechanisms/triggers.c).
 *
 * src/recording/ledger.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_authid.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
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
	TombstoneInsertTuple(rel, heap_form_tuple(RelationGetDescr(rel), values, nulls));
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
