/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  The blast-radius guard: which changes need a signed change token, and
 *	  whether one of the tokens bound to the transaction covers them.
 *
 * The guard counts what actually happens, row by row, not what the SQL
 * text seems to say.  TombstoneGuardRow() is called for every row that a
 * statement tombstones, by the row trigger or by tombstone._stamp() in the
 * statement's own target list (mechanisms/triggers.c, executor.c), cascades
 * and tenant deletions included, since they run as nested queries whose rows
 * pass the same way.
 * The guard keeps, per transaction, the tables and tenants tombstoned so
 * far; as soon as
 *
 *	- rows of a second tenant are tombstoned in one transaction,
 *	- a row of the tenant registry is tombstoned (a tenant deletion),
 *	- a statement tombstones more rows than tombstone.max_rows_without_token,
 *	- or rows beyond the budget (max_rows) of the token in use are touched,
 *
 * it looks for a bound token of the right operation whose tables and
 * tenants cover everything seen so far, and otherwise raises an error: the
 * statement aborts at that row and nothing it did persists.  Rows restored
 * by an undelete are never refused.
 *
 * Destructive DDL (TRUNCATE, DROP, DISABLE TRIGGER, dropping a tombstone
 * column, DETACH PARTITION) asks TombstoneGuardDdlAllowed(), which wants a
 * bound token of operation "ddl" naming the table; tombstone.unprotect()
 * wants one of operation "unprotect".
 *
 * What a transaction has seen is kept per subtransaction, so that a
 * savepoint rolled back also takes back the tenants it tombstoned.
 *
 * The guard is policy: it decides and refuses, and knows the tokens
 * (policy/token.c); it neither counts changes nor writes anything.
 *
 * src/policy/guard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_inherits.h"
#include "common/hashfn.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "foundation/catalog.h"
#include "foundation/errcodes.h"
#include "foundation/refuse.h"
#include "foundation/settings.h"
#include "policy/guard.h"
#include "policy/token.h"

PG_FUNCTION_INFO_V1(tombstone_ddl_authorized);
PG_FUNCTION_INFO_V1(tombstone_require_token);

/* how many tables or tenants an error detail names before "and N more" */
#define GUARD_DETAIL_ITEMS	10

/* GUC tombstone.max_rows_without_token: 0 is off */
static int	max_rows_without_token = 0;

/* GUC tombstone.guard: whether deletions need tokens at all */
static bool guard_enabled = true;

/* Rows tombstoned per table, tenant and subtransaction */
typedef struct SeenKey
{
	Oid			root;
	const char *tenant;			/* NULL: no tenant column, or NULL */
	SubTransactionId subxid;
} SeenKey;

typedef struct SeenEntry
{
	SeenKey		key;
	int64		rows;
} SeenEntry;

typedef struct GuardState
{
	MemoryContext cxt;			/* in TopTransactionContext */
	HTAB	   *seen;
	List	   *tenants;		/* distinct non-NULL tenants, char * */
	List	   *roots;			/* distinct tables, Oid */
	List	   *deleted_tenants;	/* tenants whose registry row was
									 * tombstoned with a covering token */
	int64		rows;			/* rows tombstoned in the transaction */
	SeenEntry  *last;			/* where the previous row was counted */
	int64		stmt_change;	/* change id the statement counts belong to */
	int64		stmt_rows;
	TombstoneToken *token;		/* the token in use, if any */
	int64		token_change;	/* the change it was first needed for */
	bool		rewinding;		/* rewind_tenant() runs under token */
	List	   *charges;		/* TokenCharge: rows charged to bound tokens */
} GuardState;

/*
 * Rows charged to a bound token within one subtransaction: a savepoint
 * rolled back gives them back to the token's budget.
 */
typedef struct TokenCharge
{
	TombstoneToken *token;
	SubTransactionId subxid;
	int64		rows;
} TokenCharge;

static GuardState guard;

static uint32
seen_hash(const void *key, Size keysize)
{
	const SeenKey *k = key;
	uint32		h = hash_uint32(k->root) ^ hash_uint32(k->subxid);

	if (k->tenant)
		h ^= hash_bytes((const unsigned char *) k->tenant, strlen(k->tenant));
	return h;
}

static int
seen_match(const void *key1, const void *key2, Size keysize)
{
	const SeenKey *a = key1;
	const SeenKey *b = key2;

	if (a->root != b->root || a->subxid != b->subxid)
		return 1;
	if (a->tenant == NULL || b->tenant == NULL)
		return (a->tenant == NULL && b->tenant == NULL) ? 0 : 1;
	return strcmp(a->tenant, b->tenant);
}

static void
guard_open(void)
{
	HASHCTL		ctl;

	if (guard.cxt != NULL)
		return;
	guard.cxt = AllocSetContextCreate(TopTransactionContext,
									  "pg_tombstone guard",
									  ALLOCSET_SMALL_SIZES);
	ctl.keysize = sizeof(SeenKey);
	ctl.entrysize = sizeof(SeenEntry);
	ctl.hash = seen_hash;
	ctl.match = seen_match;
	ctl.hcxt = guard.cxt;
	guard.seen = hash_create("pg_tombstone guard", 16, &ctl,
							 HASH_ELEM | HASH_FUNCTION | HASH_COMPARE |
							 HASH_CONTEXT);
}

static bool
list_member_str(List *list, const char *str)
{
	ListCell   *lc;

	foreach(lc, list)
		if (strcmp((const char *) lfirst(lc), str) == 0)
			return true;
	return false;
}

/* Recompute the distinct tenants and tables from what was seen. */
static void
guard_derive(void)
{
	HASH_SEQ_STATUS status;
	SeenEntry  *entry;
	MemoryContext oldcxt = MemoryContextSwitchTo(guard.cxt);

	guard.tenants = NIL;
	guard.roots = NIL;
	guard.rows = 0;
	hash_seq_init(&status, guard.seen);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->key.tenant != NULL &&
			!list_member_str(guard.tenants, entry->key.tenant))
			guard.tenants = lappend(guard.tenants, (char *) entry->key.tenant);
		guard.roots = list_append_unique_oid(guard.roots, entry->key.root);
		guard.rows += entry->rows;
	}
	MemoryContextSwitchTo(oldcxt);
}

/* tenants that need a "delete" token: all but those deleted as tenants */
static List *
tenants_needing_token(void)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, guard.tenants)
		if (!list_member_str(guard.deleted_tenants, lfirst(lc)))
			result = lappend(result, lfirst(lc));
	return result;
}

typedef struct SeenItem
{
	char	   *table;
	const char *tenant;
	int64		rows;
} SeenItem;

static int
seen_item_cmp(const void *a, const void *b)
{
	const SeenItem *x = a;
	const SeenItem *y = b;
	int			c = strcmp(x->table, y->table);

	if (c != 0)
		return c;
	if (x->tenant == NULL || y->tenant == NULL)
		return (x->tenant == NULL) - (y->tenant == NULL);
	return strcmp(x->tenant, y->tenant);
}

/*
 * Rows seen per table and tenant, for an error detail: sorted, with the
 * counts of subtransactions merged, at most GUARD_DETAIL_ITEMS of them.
 */
static char *
seen_text(void)
{
	StringInfoData buf;
	HASH_SEQ_STATUS status;
	SeenEntry  *entry;
	SeenItem   *items;
	long		nentries = hash_get_num_entries(guard.seen);
	int			n = 0;
	int			i;
	int			shown = 0;

	items = palloc(sizeof(SeenItem) * (nentries + 1));
	hash_seq_init(&status, guard.seen);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		items[n].table = TombstoneQualifiedName(entry->key.root);
		items[n].tenant = entry->key.tenant;
		items[n].rows = entry->rows;
		n++;
	}
	qsort(items, n, sizeof(SeenItem), seen_item_cmp);

	initStringInfo(&buf);
	for (i = 0; i < n; i++)
	{
		int64		rows = items[i].rows;

		/* the same table and tenant from several subtransactions */
		while (i + 1 < n && seen_item_cmp(&items[i], &items[i + 1]) == 0)
			rows += items[++i].rows;
		if (shown < GUARD_DETAIL_ITEMS)
			appendStringInfo(&buf, "%s%s tenant %s: " INT64_FORMAT,
							 shown ? ", " : "", items[i].table,
							 items[i].tenant ? quote_literal_cstr(items[i].tenant) : "NULL",
							 rows);
		shown++;
	}
	if (shown > GUARD_DETAIL_ITEMS)
		appendStringInfo(&buf, " and %d more", shown - GUARD_DETAIL_ITEMS);
	return buf.data;
}

/* A sentence on the bound tokens of an operation, for a detail. */
static char *
bound_text(const char *op)
{
	StringInfoData buf;
	ListCell   *lc;
	int			n = 0;

	initStringInfo(&buf);
	foreach(lc, TombstoneTokensBound())
	{
		TombstoneToken *t = lfirst(lc);

		if (strcmp(t->op, op) != 0)
			continue;
		appendStringInfo(&buf, "%s\"%s\"", n ? ", " : "", t->jti);
		n++;
	}
	if (n == 0)
		return psprintf("No change token of operation \"%s\" is bound to this transaction.",
						op);
	return psprintf("Bound change token(s) %s of operation \"%s\" do not cover it.",
					buf.data, op);
}

/* Does the token cover every table and every tenant in the lists? */
static bool
token_covers(TombstoneToken *t, List *roots, List *tenants)
{
	ListCell   *lc;

	foreach(lc, roots)
		if (!TombstoneTokenCoversTable(t, lfirst_oid(lc)))
			return false;
	foreach(lc, tenants)
		if (!TombstoneTokenCoversTenant(t, lfirst(lc)))
			return false;
	return true;
}

static TombstoneToken *
find_token(const char *op, List *roots, List *tenants)
{
	ListCell   *lc;

	foreach(lc, TombstoneTokensBound())
	{
		TombstoneToken *t = lfirst(lc);

		if (strcmp(t->op, op) == 0 && token_covers(t, roots, tenants))
			return t;
	}
	return NULL;
}

/*
 * The role and application, for the server log: every refusal is logged
 * with them.
 */
char *
TombstoneGuardWho(void)
{
	return psprintf("Refused for role \"%s\", application \"%s\".",
					GetUserNameFromId(GetUserId(), false),
					application_name ? application_name : "");
}

/*
 * Called for every row a statement tombstones, after it was counted in the
 * change: root is the protected table (the root of its tree), tenant the
 * row's tenant as text (NULL for none), registry whether it is a row of the
 * tenant registry, change the id of the change.
 */
void
TombstoneGuardRow(Oid root, const char *tenant, bool registry, int64 change)
{
	SeenKey		key;
	SeenEntry  *entry;
	bool		found;
	bool		check = false;

	if (!guard_enabled)
	{
		/* every bound token's budget counts the row, the guard on or off */
		TombstoneGuardCharge(1, "tombstoned");
		return;
	}
	guard_open();
	key.root = root;
	key.tenant = tenant;
	key.subxid = GetCurrentSubTransactionId();
	entry = guard.last;
	if (entry == NULL || seen_match(&entry->key, &key, sizeof(SeenKey)) != 0)
	{
		entry = hash_search(guard.seen, &key, HASH_FIND, NULL);
		if (entry == NULL)
		{
			key.tenant = tenant ? MemoryContextStrdup(guard.cxt, tenant) : NULL;
			entry = hash_search(guard.seen, &key, HASH_ENTER, &found);
			entry->rows = 0;
			check = true;
		}
		guard.last = entry;
	}
	entry->rows++;
	guard.rows++;
	if (guard.stmt_change != change)
	{
		guard.stmt_change = change;
		guard.stmt_rows = 0;
	}
	guard.stmt_rows++;

	if (check)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(guard.cxt);

		if (tenant != NULL && !list_member_str(guard.tenants, tenant))
			guard.tenants = lappend(guard.tenants, (char *) entry->key.tenant);
		guard.roots = list_append_unique_oid(guard.roots, root);
		MemoryContextSwitchTo(oldcxt);
	}

	/* a tenant deletion: a "delete_tenant" token must name the tenant */
	if (registry && check)
	{
		List	   *one = tenant ? list_make1((char *) tenant) : NIL;
		TombstoneToken *t = find_token("delete_tenant", NIL, one);

		if (t == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_TOMBSTONE_TENANT_DELETE),
					 errmsg("cannot delete tenant %s without a change token",
							tenant ? quote_literal_cstr(tenant) : "NULL"),
					 errdetail("Deleting row %s of tenant registry \"%s\" would tombstone that tenant's rows in every protected table. %s",
							   tenant ? quote_literal_cstr(tenant) : "NULL",
							   TombstoneQualifiedName(root),
							   bound_text("delete_tenant")),
					 errdetail_log("%s", TombstoneGuardWho()),
					 errhint("Authorise a token of operation \"delete_tenant\" naming tenant %s with tombstone.authorize() in the same transaction.",
							 tenant ? quote_literal_cstr(tenant) : "NULL")));
		if (tenant != NULL)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(guard.cxt);

			guard.deleted_tenants = lappend(guard.deleted_tenants,
											pstrdup(tenant));
			MemoryContextSwitchTo(oldcxt);
		}
		if (guard.token == NULL)
		{
			guard.token = t;
			guard.token_change = change;
		}
	}

	if (check && list_length(tenants_needing_token()) > 1)
	{
		List	   *tenants = tenants_needing_token();
		TombstoneToken *t = find_token("delete", guard.roots, tenants);

		if (t == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_TOMBSTONE_MULTI_TENANT),
					 errmsg("cannot tombstone rows of %d tenants in one transaction without a change token",
							list_length(tenants)),
					 errdetail("Rows tombstoned so far (table, tenant: rows): %s. %s",
							   seen_text(), bound_text("delete")),
					 errdetail_log("%s", TombstoneGuardWho()),
					 errhint("Delete one tenant's rows at a time, or authorise a token of operation \"delete\" naming these tables and tenants with tombstone.authorize() in the same transaction.")));
		if (guard.token == NULL || strcmp(guard.token->op, "delete") != 0)
		{
			guard.token = t;
			guard.token_change = change;
		}
	}

	if (max_rows_without_token > 0 && guard.stmt_rows > max_rows_without_token &&
		!guard.rewinding &&
		(guard.token == NULL || strcmp(guard.token->op, "delete") != 0))
	{
		TombstoneToken *t = find_token("delete", guard.roots,
									   tenants_needing_token());

		if (t == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_TOMBSTONE_ROW_THRESHOLD),
					 errmsg("cannot tombstone more than %d rows in one statement without a change token",
							max_rows_without_token),
					 errdetail("Rows tombstoned so far (table, tenant: rows): %s; tombstone.max_rows_without_token is %d. %s",
							   seen_text(), max_rows_without_token,
							   bound_text("delete")),
					 errdetail_log("%s", TombstoneGuardWho()),
					 errhint("Tombstone fewer rows per statement, or authorise a token of operation \"delete\" naming these tables and tenants with tombstone.authorize() in the same transaction.")));
		guard.token = t;
		guard.token_change = change;
	}

	/* the budget of every bound token */
	TombstoneGuardCharge(1, "tombstoned");
}

/*
 * Charge rows (negative: give them back) to the budget of every token bound
 * to the transaction: a token's max_rows counts every row tombstoned,
 * purged or rewound while it is bound, whatever the operation, the tables
 * or the tenants.  Refuses (TB032) when a token's budget is exceeded; what
 * says what happened to the rows ("tombstoned", "purged", "rewound").
 */
void
TombstoneGuardCharge(int64 rows, const char *what)
{
	SubTransactionId subxid = GetCurrentSubTransactionId();
	ListCell   *lc;

	if (rows == 0 || TombstoneTokensBound() == NIL)
		return;
	guard_open();
	foreach(lc, TombstoneTokensBound())
	{
		TombstoneToken *t = lfirst(lc);
		TokenCharge *charge = NULL;
		ListCell   *lch;

		foreach(lch, guard.charges)
		{
			TokenCharge *c = lfirst(lch);

			if (c->token == t && c->subxid == subxid)
			{
				charge = c;
				break;
			}
		}
		if (charge == NULL)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(guard.cxt);

			charge = palloc0(sizeof(TokenCharge));
			charge->token = t;
			charge->subxid = subxid;
			guard.charges = lappend(guard.charges, charge);
			MemoryContextSwitchTo(oldcxt);
		}
		charge->rows += rows;
		t->rows_used += rows;
		if (t->max_rows >= 0 && t->rows_used > t->max_rows)
			ereport(ERROR,
					(errcode(ERRCODE_TOMBSTONE_MAX_ROWS),
					 errmsg("change token \"%s\" allows " INT64_FORMAT " rows, and this transaction %s more",
							t->jti, t->max_rows, what),
					 strcmp(what, "tombstoned") == 0 && guard.seen != NULL ?
					 errdetail("Rows tombstoned so far (table, tenant: rows): %s; token \"%s\" of operation \"%s\" has max_rows " INT64_FORMAT ", which counts every row tombstoned, purged or rewound while it is bound.",
							   seen_text(), t->jti, t->op, t->max_rows) :
					 errdetail("Token \"%s\" of operation \"%s\" has max_rows " INT64_FORMAT ", which counts every row tombstoned, purged or rewound while it is bound; " INT64_FORMAT " were.",
							   t->jti, t->op, t->max_rows, t->rows_used),
					 errdetail_log("%s", TombstoneGuardWho()),
					 errhint("Check which rows the statement reaches; if all of them are meant, authorise a token of operation \"%s\" with a larger max_rows.",
							 t->op)));
	}
}

/*
 * The token that authorised the change with this id, for its ledger entry,
 * or NULL.
 */
const TombstoneToken *
TombstoneGuardTokenFor(int64 change)
{
	if (guard.token != NULL &&
		(guard.token_change == change || guard.rewinding))
		return guard.token;
	return NULL;
}

/*
 * rewind_tenant() of tenant over the tables roots needs a bound token of
 * operation "rewind" covering them; it becomes the token in use (its
 * max_rows limits the rows the rewind tombstones) and is recorded on the
 * rewind's ledger entry.
 */
void
TombstoneGuardRequireRewind(List *roots, const char *tenant)
{
	TombstoneToken *t;
	List	   *one = list_make1((char *) tenant);

	t = find_token("rewind", roots, one);
	if (t == NULL)
	{
		StringInfoData tables;
		ListCell   *lc;

		initStringInfo(&tables);
		foreach(lc, roots)
			appendStringInfo(&tables, "%s%s", tables.len > 0 ? ", " : "",
							 TombstoneQualifiedName(lfirst_oid(lc)));
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_REWIND),
				 errmsg("cannot rewind tenant %s without a change token",
						quote_literal_cstr(tenant)),
				 errdetail("Rewinding tenant %s would change its rows in tables %s. %s",
						   quote_literal_cstr(tenant), tables.data,
						   bound_text("rewind")),
				 errdetail_log("%s", TombstoneGuardWho()),
				 errhint("Authorise a token of operation \"rewind\" naming tenant %s and these tables with tombstone.authorize() in the same transaction.",
						 quote_literal_cstr(tenant))));
	}
	guard_open();
	guard.token = t;
	guard.token_change = 0;
	guard.rewinding = true;
}

/* rewind_tenant() has finished the work of change id change */
void
TombstoneGuardRewindDone(int64 change)
{
	guard.rewinding = false;
	if (guard.token != NULL && strcmp(guard.token->op, "rewind") == 0)
		guard.token_change = change;
}

/*
 * The relations a bound "ddl" or "unprotect" token was found to cover in
 * this transaction, each with its partitions and children as they were
 * then, and the subtransaction that found it.  A token names a table and
 * covers what lies below it; DETACH PARTITION and DROP TABLE remove that
 * link before the later checks of the same command run (the drop of the
 * detached partition's triggers, the sql_drop event trigger,
 * tombstone._unregister()), and those must give the answer the first
 * check gave.
 */
typedef struct DdlCovered
{
	Oid			relid;
	SubTransactionId subxid;
} DdlCovered;

static List *ddl_covered = NIL;	/* in TopTransactionContext */

static bool
ddl_covered_has(Oid relid)
{
	ListCell   *lc;

	foreach(lc, ddl_covered)
		if (((DdlCovered *) lfirst(lc))->relid == relid)
			return true;
	return false;
}

static void
ddl_covered_add(Oid relid)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	SubTransactionId subxid = GetCurrentSubTransactionId();
	ListCell   *lc;

	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
	{
		DdlCovered *c;

		if (ddl_covered_has(lfirst_oid(lc)))
			continue;
		c = palloc(sizeof(DdlCovered));
		c->relid = lfirst_oid(lc);
		c->subxid = subxid;
		ddl_covered = lappend(ddl_covered, c);
	}
	MemoryContextSwitchTo(oldcxt);
}

/* A subtransaction's answers go with its tokens, or pass to its parent. */
static void
ddl_covered_subxact(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid)
{
	ListCell   *lc;

	foreach(lc, ddl_covered)
	{
		DdlCovered *c = lfirst(lc);

		if (c->subxid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			c->subxid = parentSubid;
		else
			ddl_covered = foreach_delete_current(ddl_covered, lc);
	}
}

/*
 * May destructive DDL touch protected relation relid?  Only with a bound
 * token of operation "ddl" naming it (or an ancestor it is protected
 * through), or one of operation "unprotect", which removes the protection
 * altogether and so allows no less.
 */
bool
TombstoneGuardDdlAllowed(Oid relid)
{
	ListCell   *lc;

	if (ddl_covered_has(relid))
		return true;
	foreach(lc, TombstoneTokensBound())
	{
		TombstoneToken *t = lfirst(lc);

		if ((strcmp(t->op, "ddl") == 0 || strcmp(t->op, "unprotect") == 0) &&
			TombstoneTokenCoversTable(t, relid))
		{
			ereport(LOG,
					(errmsg("pg_tombstone: change token \"%s\" of operation \"%s\" authorised a change to table %u",
							t->jti, t->op, relid),
					 errdetail("Subject \"%s\", reason \"%s\".",
							   t->sub ? t->sub : "", t->reason ? t->reason : "")));
			ddl_covered_add(relid);
			return true;
		}
	}
	return false;
}

/*
 * tombstone._ddl_authorized(relid oid): TombstoneGuardDdlAllowed() for the
 * event trigger that guards drops when the library is not preloaded (then
 * no token can be bound, and the answer is false).
 */
Datum
tombstone_ddl_authorized(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || !tombstone_preloaded)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(TombstoneGuardDdlAllowed(PG_GETARG_OID(0)));
}

/*
 * tombstone._require_token(op text, tbl regclass): refuse unless a bound
 * token of operation op names table tbl.  Used by tombstone.unprotect().
 */
Datum
tombstone_require_token(PG_FUNCTION_ARGS)
{
	char	   *op;
	Oid			relid;
	ListCell   *lc;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments of tombstone._require_token() must not be null"),
				 errhint("Give an operation and a table.")));
	op = text_to_cstring(PG_GETARG_TEXT_PP(0));
	relid = PG_GETARG_OID(1);
	(void) TombstoneRelationArg(relid, "tombstone._require_token");
	if (TombstoneRelLookup(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not protected", get_rel_name(relid)),
				 errdetail("tombstone._require_token() checks the tokens for a protected table."),
				 errhint("See tombstone.protected_tables.")));
	if (strcmp(op, "unprotect") != 0 && strcmp(op, "ddl") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tombstone._require_token() checks operations \"unprotect\" and \"ddl\", not \"%s\"",
						pnstrdup(op, pg_mbcliplen(op, strlen(op), 64))),
				 errhint("Give operation \"unprotect\" or \"ddl\".")));
	if (!tombstone_preloaded)
		TombstoneRefuseNotPreloaded(psprintf("Operation \"%s\" on table \"%s\" needs a change token, and tokens can only be checked with the library preloaded.",
											 op, get_rel_name(relid)));
	foreach(lc, TombstoneTokensBound())
	{
		TombstoneToken *t = lfirst(lc);

		if (strcmp(t->op, op) == 0 && TombstoneTokenCoversTable(t, relid))
			PG_RETURN_TEXT_P(cstring_to_text(t->jti));
	}
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_UNPROTECT),
			 errmsg("cannot %s table \"%s\" without a change token",
					op, get_rel_name(relid)),
			 errdetail("Table \"%s\" is protected. %s", TombstoneQualifiedName(relid),
					   bound_text(op)),
			 errdetail_log("%s", TombstoneGuardWho()),
			 errhint("Authorise a token of operation \"%s\" naming table \"%s\" with tombstone.authorize() in the same transaction.",
					 op, TombstoneQualifiedName(relid))));
	PG_RETURN_NULL();
}

/* Forget what a rolled-back subtransaction tombstoned. */
static void
guard_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	HASH_SEQ_STATUS status;
	SeenEntry  *entry;
	List	   *moved = NIL;
	ListCell   *lc;

	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return;
	ddl_covered_subxact(event, mySubid, parentSubid);
	if (guard.cxt == NULL)
		return;

	/* rows charged to tokens: the parent's now, or given back */
	foreach(lc, guard.charges)
	{
		TokenCharge *c = lfirst(lc);

		if (c->subxid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			c->subxid = parentSubid;
		else
		{
			c->token->rows_used -= c->rows;
			guard.charges = foreach_delete_current(guard.charges, lc);
		}
	}

	hash_seq_init(&status, guard.seen);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->key.subxid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
		{
			SeenEntry  *copy = palloc(sizeof(SeenEntry));

			memcpy(copy, entry, sizeof(SeenEntry));
			moved = lappend(moved, copy);
		}
		(void) hash_search(guard.seen, &entry->key, HASH_REMOVE, NULL);
	}
	/* committed: the parent now owns the rows */
	foreach(lc, moved)
	{
		SeenEntry  *copy = lfirst(lc);
		bool		found;

		copy->key.subxid = parentSubid;
		entry = hash_search(guard.seen, &copy->key, HASH_ENTER, &found);
		if (!found)
			entry->rows = 0;
		entry->rows += copy->rows;
	}
	guard.last = NULL;
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		guard_derive();
		/* policy/token.c unbinds the tokens bound in the aborted subtransaction */
		if (guard.token != NULL && guard.token->subxid == mySubid)
			guard.token = NULL;
	}
}

static void
guard_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* the memory goes with TopTransactionContext */
			memset(&guard, 0, sizeof(guard));
			ddl_covered = NIL;
			break;
		default:
			break;
	}
}

void
TombstoneGuardInit(void)
{
	DefineCustomIntVariable("tombstone.max_rows_without_token",
							"Sets how many rows one statement may tombstone without a change token.",
							"0 turns the limit off; statements that tombstone rows of more than one tenant need a token regardless.",
							&max_rows_without_token,
							0, 0, INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("tombstone.guard",
							 "Sets whether deletions that reach across tenants, delete tenants or exceed tombstone.max_rows_without_token need a change token.",
							 "Turning it off lets a superuser's maintenance session tombstone without tokens; deletions stay tombstones and stay on the ledger, and destructive DDL still needs a token.",
							 &guard_enabled,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	RegisterXactCallback(guard_xact_callback, NULL);
	RegisterSubXactCallback(guard_subxact_callback, NULL);
}
