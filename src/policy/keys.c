/*-------------------------------------------------------------------------
 *
 * keys.c
 *	  The keys that sign change tokens and the uses of each token:
 *	  tombstone.keys, tombstone.key_secrets and tombstone.token_uses, read
 *	  and written as the owner of the catalog; tombstone.add_key() and
 *	  remove_key().
 *
 * Application roles call authorize(), so the catalog tables are read and
 * written as the owner of tombstone.keys (the extension's owner).  On the
 * path of authorize() they are read and written directly, heap and index,
 * as the server does its own catalogs: an SPI statement would spend more on
 * executor start-up and shutdown than the token's checks cost.  The OIDs of
 * the tables and their primary keys are found once per backend and
 * forgotten on any relcache invalidation of one of them (dropping the
 * extension, a new owner, a new index).  Keys are not cached: the key row
 * is visited on every call anyway to lock it.
 *
 * The key row is locked FOR KEY SHARE, as SELECT ... FOR KEY SHARE would,
 * so tombstone.remove_key() waits for every transaction that authorised a
 * token with that key, and a token whose key was removed first is refused.
 * Consuming a use does what INSERT ... ON CONFLICT (jti) DO UPDATE SET uses
 * = uses + 1 WHERE uses < max_uses would: the use row is found with a dirty
 * snapshot, locked and updated, or inserted.  Instead of speculative
 * insertion, authorize() first takes a transaction-long lock on the jti (an
 * object lock in the name of tombstone.token_uses, on a hash of the jti), so
 * of two transactions racing for the last use of a token the second waits
 * and is refused once the first commits (it gets the use if the first
 * aborts); under REPEATABLE READ it gets a serialization failure, as with
 * ON CONFLICT.  The row lock alone would serialise them just as long.
 *
 * HS256 secrets are kept in tombstone.key_secrets, apart from the keys, so
 * that no dump carries them (the table is not dumped): a database restored
 * from a dump has its keys without their secrets until add_key() gives
 * them again.
 *
 * src/policy/keys.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "foundation/catalog.h"
#include "foundation/errcodes.h"
#include "foundation/inval.h"
#include "foundation/names.h"
#include "foundation/query.h"
#include "policy/jws.h"
#include "policy/keys.h"

PG_FUNCTION_INFO_V1(tombstone_add_key);
PG_FUNCTION_INFO_V1(tombstone_remove_key);

#define TOKEN_KEYS_TABLE		"keys"
#define TOKEN_SECRETS_TABLE		"key_secrets"
#define TOKEN_USES_TABLE		"token_uses"

/* Column numbers of tombstone.keys and tombstone.token_uses (extension script) */
#define Anum_keys_key_id		1
#define Anum_keys_alg			2
#define Anum_keys_key			3
#define Anum_keys_ops			4
#define Natts_keys				6
#define Anum_uses_jti			1
#define Anum_uses_key_id		2
#define Anum_uses_uses			3
#define Anum_uses_max_uses		4
#define Anum_uses_first_used	5
#define Anum_uses_last_used		6
#define Anum_uses_exp			7
#define Natts_uses				7
#define HS256_MIN_SECRET		32

/* The operations a token can authorise */
static const char *const token_ops[] = {
	"delete", "delete_tenant", "purge", "rewind", "ddl", "unprotect", NULL
};

/* SPI plans of the key administration functions, prepared once per backend */
static SPIPlanPtr add_key_plan = NULL;
static SPIPlanPtr remove_key_plan = NULL;

/*
 * The catalog tables authorize() reads and writes.  Valid until a relcache
 * invalidation of one of them (or of every relation).
 */
typedef struct TokenCatalog
{
	bool		valid;
	Oid			owner;			/* owner of tombstone.keys */
	Oid			keys_relid;
	Oid			keys_pkey;		/* its primary key, on key_id */
	Oid			uses_relid;
	Oid			uses_pkey;		/* its primary key, on jti */
} TokenCatalog;

static TokenCatalog token_catalog;
static uint64 token_catalog_invalidations = 0;

/*
 * Forget the catalog OIDs when one of the tables or their primary keys is
 * invalidated: the extension may have been dropped and created again, the
 * owner changed, an index added.
 */
static void
token_relcache_callback(Oid relid)
{
	if (!OidIsValid(relid) ||
		relid == token_catalog.keys_relid ||
		relid == token_catalog.keys_pkey ||
		relid == token_catalog.uses_relid ||
		relid == token_catalog.uses_pkey)
	{
		token_catalog.valid = false;
		token_catalog_invalidations++;
	}
}

/* Whether op is an operation change tokens can authorise */
bool
TombstoneIsTokenOp(const char *op)
{
	int			i;

	for (i = 0; token_ops[i] != NULL; i++)
		if (strcmp(op, token_ops[i]) == 0)
			return true;
	return false;
}

/* The operations, for messages */
const char *
TombstoneTokenOpList(void)
{
	return "delete, delete_tenant, purge, rewind, ddl, unprotect";
}

/* ----------------------------------------------------------------
 *		Keys and uses, as the owner of the catalog
 * ----------------------------------------------------------------
 */

static Oid
token_catalog_relid(const char *name)
{
	Oid			nspid = get_namespace_oid(TOMBSTONE_SCHEMA, false);
	Oid			relid = get_relname_relid(name, nspid);

	if (!OidIsValid(relid))
		elog(ERROR, "catalog table %s.%s does not exist", TOMBSTONE_SCHEMA, name);
	return relid;
}

/*
 * The primary key of a catalog table, which must be on its first column
 * alone (key_id, jti), and the table must have "natts" columns.
 */
static Oid
token_catalog_pkey(Oid relid, int natts)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Oid			pkey;
	Relation	idx;
	bool		ok;

	list_free(RelationGetIndexList(rel));
	pkey = rel->rd_pkindex;
	if (RelationGetDescr(rel)->natts != natts || !OidIsValid(pkey))
		elog(ERROR, "catalog table %s.%s does not have the expected columns and primary key",
			 TOMBSTONE_SCHEMA, RelationGetRelationName(rel));
	idx = index_open(pkey, AccessShareLock);
	ok = IndexRelationGetNumberOfKeyAttributes(idx) == 1 &&
		idx->rd_index->indkey.values[0] == 1 &&
		TupleDescAttr(RelationGetDescr(rel), 0)->atttypid == TEXTOID;
	index_close(idx, AccessShareLock);
	if (!ok)
		elog(ERROR, "primary key of catalog table %s.%s is not on its first column",
			 TOMBSTONE_SCHEMA, RelationGetRelationName(rel));
	table_close(rel, AccessShareLock);
	return pkey;
}

/*
 * The catalog tables of tokens, looked up by name once per backend.
 * Opening them may take invalidations that undo the lookup: look again then.
 */
static const TokenCatalog *
token_catalog_get(void)
{
	TombstoneOnRelcacheInval(token_relcache_callback);
	while (!token_catalog.valid)
	{
		uint64		invalidations = token_catalog_invalidations;
		TokenCatalog cat;

		cat.keys_relid = token_catalog_relid(TOKEN_KEYS_TABLE);
		cat.uses_relid = token_catalog_relid(TOKEN_USES_TABLE);
		cat.keys_pkey = token_catalog_pkey(cat.keys_relid, Natts_keys);
		cat.uses_pkey = token_catalog_pkey(cat.uses_relid, Natts_uses);
		cat.owner = TombstoneRelationOwner(cat.keys_relid);
		cat.valid = true;
		token_catalog = cat;
		if (invalidations != token_catalog_invalidations)
			token_catalog.valid = false;
	}
	return &token_catalog;
}

/*
 * Switch to the owner of tombstone.keys for the statements that follow;
 * the caller restores the saved identity (an error restores it too).
 */
static void
become_catalog_owner(Oid *save_userid, int *save_sec_context)
{
	Oid			owner = token_catalog_get()->owner;

	GetUserIdAndSecContext(save_userid, save_sec_context);
	SetUserIdAndSecContext(owner, *save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

static SPIPlanPtr
prepare_kept(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/* An equality scan key on the text column of a one-column index */
static void
text_scan_key(ScanKey skey, Relation idx, const char *value)
{
	ScanKeyEntryInitialize(skey, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   idx->rd_indcollation[0], F_TEXTEQ,
						   CStringGetTextDatum(value));
}

static void
refuse_serialization(const char *what) pg_attribute_noreturn();

/* 40001, as the executor reports a row changed since the snapshot */
static void
refuse_serialization(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("could not serialize access due to concurrent %s", what)));
}

/*
 * Lock the key row at *tid FOR KEY SHARE, as SELECT ... FOR KEY SHARE does
 * (ExecLockRows): wait for a transaction that deletes it, then skip it if
 * it is gone, or under REPEATABLE READ fail.  In READ COMMITTED the newest
 * version is locked and must still be the key "kid".  The row is left in
 * slot.  Returns whether the key is there.
 */
static bool
lock_key_row(Relation rel, ItemPointer tid, TupleTableSlot *slot,
			 const char *kid, Snapshot snapshot)
{
	TM_FailureData tmfd;
	TM_Result	result;
	bool		isnull;
	Datum		d;

	result = table_tuple_lock(rel, tid, snapshot, slot,
							  GetCurrentCommandId(false), LockTupleKeyShare,
							  LockWaitBlock,
							  IsolationUsesXactSnapshot() ? 0 :
							  TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
							  &tmfd);
	switch (result)
	{
		case TM_Ok:
			break;
		case TM_SelfModified:
			/* removed or changed by this transaction since the snapshot */
			return false;
		case TM_Updated:
			if (IsolationUsesXactSnapshot())
				refuse_serialization("update");
			elog(ERROR, "unexpected table_tuple_lock status: %u", result);
			break;
		case TM_Deleted:
			/* ExecLockRows says "update" here too */
			if (IsolationUsesXactSnapshot())
				refuse_serialization("update");
			return false;
		case TM_Invisible:
			elog(ERROR, "attempted to lock invisible tuple");
			break;
		default:
			elog(ERROR, "unrecognized table_tuple_lock status: %u", result);
			break;
	}
	if (!tmfd.traversed)
		return true;
	/* a newer version was locked: it must still be this key */
	d = slot_getattr(slot, Anum_keys_key_id, &isnull);
	return !isnull && strcmp(TextDatumGetCString(d), kid) == 0;
}

/*
 * The HS256 secret of key "kid" from tombstone.key_secrets, read as the
 * catalog's owner (the caller switched to it) through its primary key with
 * snapshot; NULL when it has none.  HS256 secrets live there, out of
 * tombstone.keys, so that no dump carries them: a database restored from a
 * dump has its keys without their secrets until add_key() gives them again.
 */
static bytea *
fetch_secret(const char *kid, Snapshot snapshot)
{
	Oid			nspid = get_namespace_oid(TOMBSTONE_SCHEMA, false);
	Oid			relid = get_relname_relid(TOKEN_SECRETS_TABLE, nspid);
	Relation	rel;
	Relation	idx;
	ScanKeyData skey;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	bytea	   *secret = NULL;

	if (!OidIsValid(relid))
		return NULL;
	rel = table_open(relid, AccessShareLock);
	idx = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	slot = table_slot_create(rel, NULL);
	text_scan_key(&skey, idx, kid);
	scan = index_beginscan(rel, idx, snapshot, 1, 0);
	index_rescan(scan, &skey, 1, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, 2, &isnull);

		if (!isnull)
			secret = DatumGetByteaPCopy(d);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
	return secret;
}

/*
 * Read key "kid" as the catalog's owner, into the caller's memory context.
 * The key row is locked FOR KEY SHARE until the transaction ends, so that
 * removing the key waits for this transaction (for sign() that is harmless).
 * Returns false if there is no such key.  "fname" names the SQL function
 * for the refusal in a read-only transaction, which the executor would
 * have made for the statement.
 *
 * The row is found through the primary key with a new snapshot (the
 * transaction's under REPEATABLE READ), as an SPI statement would.
 */
bool
TombstoneKeyFetch(const char *kid, TombstoneKey *key, const char *fname)
{
	const TokenCatalog *cat = token_catalog_get();
	Oid			save_userid;
	int			save_sec_context;
	Relation	rel;
	Relation	idx;
	ScanKeyData skey;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snapshot;
	ItemPointerData tid;
	bool		found = false;

	/* locking a row writes it, and authorize() writes a use next */
	PreventCommandIfReadOnly(fname);
	PreventCommandIfParallelMode(fname);

	become_catalog_owner(&save_userid, &save_sec_context);
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	snapshot = GetActiveSnapshot();

	rel = table_open(cat->keys_relid, RowShareLock);
	idx = index_open(cat->keys_pkey, AccessShareLock);
	slot = table_slot_create(rel, NULL);
	text_scan_key(&skey, idx, kid);
	scan = index_beginscan(rel, idx, snapshot, 1, 0);
	index_rescan(scan, &skey, 1, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		tid = slot->tts_tid;
		found = true;
	}
	index_endscan(scan);
	index_close(idx, AccessShareLock);

	if (found)
		found = lock_key_row(rel, &tid, slot, kid, snapshot);
	if (found)
	{
		bool		isnull;
		Datum		d;

		key->jws.kid = pstrdup(kid);
		d = slot_getattr(slot, Anum_keys_alg, &isnull);
		key->jws.alg = TextDatumGetCString(d);
		d = slot_getattr(slot, Anum_keys_key, &isnull);
		key->jws.key = isnull ? NULL : DatumGetByteaPCopy(d);
		if (key->jws.key == NULL && strcmp(key->jws.alg, "HS256") == 0)
			key->jws.key = fetch_secret(kid, snapshot);
		d = slot_getattr(slot, Anum_keys_ops, &isnull);
		key->all_ops = isnull;
		key->ops = NIL;
		if (!isnull)
		{
			Datum	   *elems;
			bool	   *nulls;
			int			nelems;
			int			i;

			deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false,
							  TYPALIGN_INT, &elems, &nulls, &nelems);
			for (i = 0; i < nelems; i++)
				if (!nulls[i])
					key->ops = lappend(key->ops, TextDatumGetCString(elems[i]));
		}
	}

	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	PopActiveSnapshot();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	if (found && key->jws.key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_TOKEN_KEY),
				 errmsg("key \"%s\" has no secret in this database", kid),
				 errdetail("HS256 secrets are not part of a dump: key \"%s\" was restored without its secret.",
						   kid),
				 errhint("Give the secret again with tombstone.add_key('%s', 'HS256', <secret>).",
						 kid)));
	return found;
}

/*
 * Find the use row of "jti" and lock it for update, as ON CONFLICT DO
 * UPDATE does with a conflicting row: look with a dirty snapshot, wait for
 * a transaction that is writing the row, lock the row, and start over if it
 * changed meanwhile (under REPEATABLE READ, fail instead, also when the row
 * is not visible to the transaction's snapshot).  The row is left in slot.
 * Returns false if there is no use row.
 */
static bool
lock_use_row(Relation rel, Oid pkey, const char *jti, TupleTableSlot *slot)
{
	Relation	idx = index_open(pkey, AccessShareLock);
	ScanKeyData skey;
	SnapshotData dirty;
	bool		found;

	text_scan_key(&skey, idx, jti);
	InitDirtySnapshot(dirty);
	for (;;)
	{
		IndexScanDesc scan;
		ItemPointerData tid;
		TransactionId xwait = InvalidTransactionId;
		uint32		spec_token = 0;
		TM_FailureData tmfd;
		TM_Result	result;

		found = false;
		scan = index_beginscan(rel, idx, &dirty, 1, 0);
		index_rescan(scan, &skey, 1, NULL, 0);
		if (index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			found = true;
			tid = slot->tts_tid;
			xwait = TransactionIdIsValid(dirty.xmin) ? dirty.xmin : dirty.xmax;
			spec_token = dirty.speculativeToken;
		}
		index_endscan(scan);
		if (!found)
			break;
		if (TransactionIdIsValid(xwait))
		{
			/* being inserted, updated or deleted: wait, then look again */
			if (spec_token != 0)
				SpeculativeInsertionWait(xwait, spec_token);
			else
				XactLockTableWait(xwait, rel, &tid, XLTW_InsertIndexUnique);
			continue;
		}

		result = table_tuple_lock(rel, &tid, GetActiveSnapshot(), slot,
								  GetCurrentCommandId(true),
								  LockTupleNoKeyExclusive, LockWaitBlock, 0,
								  &tmfd);
		if (result == TM_Ok)
		{
			bool		isnull;
			TransactionId xmin;

			if (IsolationUsesXactSnapshot() &&
				!table_tuple_satisfies_snapshot(rel, slot, GetActiveSnapshot()))
			{
				xmin = DatumGetTransactionId(slot_getsysattr(slot,
															 MinTransactionIdAttributeNumber,
															 &isnull));
				if (!TransactionIdIsCurrentTransactionId(xmin))
					refuse_serialization("update");
			}
			break;
		}
		if (result == TM_Updated || result == TM_Deleted)
		{
			if (IsolationUsesXactSnapshot())
				refuse_serialization(result == TM_Updated ? "update" : "delete");
			continue;
		}
		/* every earlier change of this transaction is visible (see caller) */
		elog(ERROR, "unexpected table_tuple_lock status: %u", result);
	}
	index_close(idx, AccessShareLock);
	return found;
}

/*
 * Insert into the indexes of rel the entries of the row in slot (the
 * executor's way, so that any index on the table is kept).
 */
static void
insert_index_entries(Relation rel, TupleTableSlot *slot)
{
	EState	   *estate = CreateExecutorState();
	ResultRelInfo *rri = makeNode(ResultRelInfo);

	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	if (rri->ri_NumIndices > 0)
		(void) ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
}

/*
 * Consume one use of token "jti", as the catalog's owner.  Returns the
 * number of uses including this one, or 0 if every use is taken; *max_uses
 * gets the uses allowed, as recorded at the first use.  Does
 * what INSERT ... ON CONFLICT (jti) DO UPDATE SET uses = uses + 1,
 * last_used = clock_timestamp() WHERE uses < max_uses RETURNING uses,
 * max_uses would, without the executor.  A concurrent transaction
 * consuming the same token waits for this one on the lock of the jti.
 */
int32
TombstoneKeyConsumeUse(const char *jti, const char *kid, int32 max_uses_claimed,
					   TimestampTz exp, int32 *max_uses)
{
	const TokenCatalog *cat = token_catalog_get();
	Oid			save_userid;
	int			save_sec_context;
	Relation	rel;
	TupleTableSlot *oldslot;
	TupleTableSlot *newslot;
	TimestampTz now = GetCurrentTimestamp();
	int32		uses = 0;

	PreventCommandIfReadOnly("tombstone.authorize()");

	/*
	 * The jti lock: one transaction at a time finds or inserts the row.  Two
	 * jtis with the same hash only wait for each other.
	 */
	LockDatabaseObject(cat->uses_relid,
					   hash_bytes((const unsigned char *) jti,
								  strlen(jti)),
					   0, ExclusiveLock);

	become_catalog_owner(&save_userid, &save_sec_context);
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();

	rel = table_open(cat->uses_relid, RowExclusiveLock);
	oldslot = table_slot_create(rel, NULL);
	newslot = table_slot_create(rel, NULL);
	ExecClearTuple(newslot);
	*max_uses = max_uses_claimed;

	if (lock_use_row(rel, cat->uses_pkey, jti, oldslot))
	{
		int32		taken;
		int32		allowed;

		slot_getallattrs(oldslot);
		taken = DatumGetInt32(oldslot->tts_values[Anum_uses_uses - 1]);
		allowed = DatumGetInt32(oldslot->tts_values[Anum_uses_max_uses - 1]);
		*max_uses = allowed;
		if (taken < allowed)
		{
			TM_FailureData tmfd;
			LockTupleMode lockmode;
			bool		update_indexes;
			TM_Result	result;

			memcpy(newslot->tts_values, oldslot->tts_values,
				   sizeof(Datum) * Natts_uses);
			memcpy(newslot->tts_isnull, oldslot->tts_isnull,
				   sizeof(bool) * Natts_uses);
			newslot->tts_values[Anum_uses_uses - 1] = Int32GetDatum(taken + 1);
			newslot->tts_values[Anum_uses_last_used - 1] = TimestampTzGetDatum(now);
			ExecStoreVirtualTuple(newslot);
			result = table_tuple_update(rel, &oldslot->tts_tid, newslot,
										GetCurrentCommandId(true),
										GetActiveSnapshot(), InvalidSnapshot,
										true, &tmfd, &lockmode,
										&update_indexes);
			if (result != TM_Ok)
				elog(ERROR, "could not update locked row of %s.%s: status %u",
					 TOMBSTONE_SCHEMA, TOKEN_USES_TABLE, result);
			if (update_indexes)
				insert_index_entries(rel, newslot);
			uses = taken + 1;
		}
	}
	else
	{
		memset(newslot->tts_isnull, 0, sizeof(bool) * Natts_uses);
		newslot->tts_values[Anum_uses_jti - 1] = CStringGetTextDatum(jti);
		newslot->tts_values[Anum_uses_key_id - 1] = CStringGetTextDatum(kid);
		newslot->tts_values[Anum_uses_uses - 1] = Int32GetDatum(1);
		newslot->tts_values[Anum_uses_max_uses - 1] = Int32GetDatum(max_uses_claimed);
		newslot->tts_values[Anum_uses_first_used - 1] = TimestampTzGetDatum(now);
		newslot->tts_values[Anum_uses_last_used - 1] = TimestampTzGetDatum(now);
		newslot->tts_values[Anum_uses_exp - 1] = TimestampTzGetDatum(exp);
		ExecStoreVirtualTuple(newslot);
		table_tuple_insert(rel, newslot, GetCurrentCommandId(true), 0, NULL);
		insert_index_entries(rel, newslot);
		uses = 1;
	}

	ExecDropSingleTupleTableSlot(oldslot);
	ExecDropSingleTupleTableSlot(newslot);
	table_close(rel, NoLock);
	PopActiveSnapshot();
	/* the next call in this command sees the row, as after a statement */
	CommandCounterIncrement();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return uses;
}

/* Whether key "key" may sign tokens of operation "op" */
bool
TombstoneKeyAllowsOp(const TombstoneKey *key, const char *op)
{
	ListCell   *lc;

	if (key->all_ops)
		return true;
	foreach(lc, key->ops)
		if (strcmp((char *) lfirst(lc), op) == 0)
			return true;
	return false;
}

/*
 * Run one statement that writes table relid of the extension (the kept
 * plan, or else the text sql with its arguments) as the extension's own
 * write, which the table's guard trigger lets through and refuses to
 * anything else; returns SPI_processed.  The caller is connected to SPI as
 * the catalog's owner.
 */
static uint64
own_write(Oid relid, SPIPlanPtr plan, const char *sql, int nargs,
		  Oid *argtypes, Datum *values, const char *nulls, int expected)
{
	int			rc;

	TombstoneOwnWriteBegin(relid);
	PG_TRY();
	{
		if (plan != NULL)
			rc = SPI_execute_plan(plan, values, nulls, false, 0);
		else
			rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls,
									   false, 0);
		if (rc != expected)
			elog(ERROR, "could not write table %s of pg_tombstone: %s",
				 get_rel_name(relid), SPI_result_code_string(rc));
	}
	PG_FINALLY();
	{
		TombstoneOwnWriteEnd();
	}
	PG_END_TRY();
	return SPI_processed;
}

/*
 * tombstone.add_key(key_id text, alg text, key bytea, ops text[])
 *
 * Register a key that change tokens name in "kid": an HS256 secret of at
 * least 32 bytes or an Ed25519 public key (32 raw bytes, or PEM), usable for
 * the operations in "ops" (NULL: all).  EXECUTE is revoked from PUBLIC; the
 * row is written as the owner of tombstone.keys.
 */
Datum
tombstone_add_key(PG_FUNCTION_ARGS)
{
	char	   *kid;
	char	   *alg;
	bytea	   *key;
	int			keylen;
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	Oid			save_userid;
	int			save_sec_context;
	const char *p;
	bool		secrets;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("key_id, alg and key of tombstone.add_key() must not be null"),
				 errhint("Only ops may be null, meaning that the key may sign tokens of every operation.")));
	kid = text_to_cstring(PG_GETARG_TEXT_PP(0));
	alg = text_to_cstring(PG_GETARG_TEXT_PP(1));
	key = PG_GETARG_BYTEA_PP(2);
	keylen = VARSIZE_ANY_EXHDR(key);

	if (kid[0] == '\0' || strlen(kid) > TOMBSTONE_KEY_ID_MAX_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key id must be 1 to %d bytes long", TOMBSTONE_KEY_ID_MAX_LEN)));
	for (p = kid; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key id must not contain control characters")));

	if (strcmp(alg, "HS256") == 0)
	{
		if (keylen < HS256_MIN_SECRET)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("HS256 secret of key \"%s\" is too short", kid),
					 errdetail("The secret is %d bytes long; at least %d are required.",
							   keylen, HS256_MIN_SECRET),
					 errhint("Use 32 random bytes, such as gen_random_bytes(32) of pgcrypto or head -c 32 /dev/urandom.")));
	}
	else if (strcmp(alg, "EdDSA") == 0)
	{
		if (keylen >= 10 && memcmp(VARDATA_ANY(key), "-----BEGIN", 10) == 0)
		{
			if (keylen >= 11 && strstr(pnstrdup(VARDATA_ANY(key), keylen), "PRIVATE KEY") != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("key \"%s\" is a private key", kid),
						 errdetail("The database needs only the public key to verify EdDSA tokens."),
						 errhint("Pass the public key (pg_tombstone_token --print-public-key, or openssl pkey -pubout), and keep the private key where tokens are signed.")));
			key = TombstoneJwsEd25519FromPem(VARDATA_ANY(key), keylen);
			if (key == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("key \"%s\" is not an Ed25519 public key", kid),
						 errdetail("The PEM text is not a SubjectPublicKeyInfo holding an Ed25519 key."),
						 errhint("Pass the 32 bytes of the raw public key (pg_tombstone_token --print-public-key) or its PEM form (openssl pkey -pubout).")));
		}
		else if (keylen != JWS_ED25519_KEY_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("Ed25519 public key of key \"%s\" must be 32 bytes long", kid),
					 errdetail("The key given is %d bytes long.", keylen),
					 errhint("Pass the 32 bytes of the raw public key (pg_tombstone_token --print-public-key) or its PEM form.")));
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("algorithm \"%s\" is not supported", alg),
				 errhint("Use HS256 or EdDSA.")));

	if (!PG_ARGISNULL(3))
	{
		Datum	   *elems;
		bool	   *enulls;
		int			nelems;
		int			i;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), TEXTOID, -1, false,
						  TYPALIGN_INT, &elems, &enulls, &nelems);
		if (nelems == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("ops of key \"%s\" must not be empty", kid),
					 errhint("Pass NULL to allow every operation, or list the operations allowed.")));
		for (i = 0; i < nelems; i++)
			if (enulls[i] || !TombstoneIsTokenOp(TextDatumGetCString(elems[i])))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"%s\" is not an operation of change tokens",
								enulls[i] ? "NULL" : TextDatumGetCString(elems[i])),
						 errhint("Operations are %s.", TombstoneTokenOpList())));
		values[3] = PG_GETARG_DATUM(3);
	}
	else
		nulls[3] = 'n';

	values[0] = CStringGetTextDatum(kid);
	values[1] = CStringGetTextDatum(alg);
	values[2] = PointerGetDatum(key);
	values[4] = DirectFunctionCall1(namein,
									CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
	/* an HS256 secret is kept apart, where no dump reads it */
	secrets = OidIsValid(get_relname_relid(TOKEN_SECRETS_TABLE,
										   get_namespace_oid(TOMBSTONE_SCHEMA, false)));
	if (secrets && strcmp(alg, "HS256") == 0)
		nulls[2] = 'n';

	become_catalog_owner(&save_userid, &save_sec_context);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (nulls[2] == 'n')
	{
		Oid			argtypes[2] = {TEXTOID, BYTEAOID};
		Datum		args[2] = {values[0], PointerGetDatum(key)};

		/*
		 * Restored from a dump, the key is there without its secret: the
		 * secret may be given again.
		 */
		if (own_write(token_catalog_relid(TOKEN_SECRETS_TABLE), NULL,
					  TOMBSTONE_INTERNAL_QUERY
					  "INSERT INTO tombstone.key_secrets (key_id, secret) "
					  "SELECT k.key_id, $2 FROM tombstone.keys k "
					  "WHERE k.key_id OPERATOR(pg_catalog.=) $1 "
					  "AND k.alg OPERATOR(pg_catalog.=) 'HS256' AND k.key IS NULL "
					  "ON CONFLICT (key_id) DO NOTHING",
					  2, argtypes, args, NULL, SPI_OK_INSERT) == 1)
		{
			SPI_finish();
			SetUserIdAndSecContext(save_userid, save_sec_context);
			PG_RETURN_VOID();
		}
	}
	if (add_key_plan == NULL)
	{
		Oid			argtypes[5] = {TEXTOID, TEXTOID, BYTEAOID, TEXTARRAYOID, NAMEOID};

		add_key_plan = prepare_kept(TOMBSTONE_INTERNAL_QUERY
									"INSERT INTO tombstone.keys (key_id, alg, key, ops, added_at, added_by) "
									"VALUES ($1, $2, $3, $4, pg_catalog.now(), $5) "
									"ON CONFLICT (key_id) DO NOTHING",
									5, argtypes);
	}
	if (own_write(token_catalog_relid(TOKEN_KEYS_TABLE), add_key_plan, NULL, 5,
				  NULL, values, nulls, SPI_OK_INSERT) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("key \"%s\" already exists", kid),
				 errhint("Remove it first with tombstone.remove_key(), or choose another key id.")));
	if (nulls[2] == 'n')
	{
		Oid			argtypes[2] = {TEXTOID, BYTEAOID};
		Datum		args[2] = {values[0], PointerGetDatum(key)};

		(void) own_write(token_catalog_relid(TOKEN_SECRETS_TABLE), NULL,
						 TOMBSTONE_INTERNAL_QUERY
						 "INSERT INTO tombstone.key_secrets (key_id, secret) VALUES ($1, $2)",
						 2, argtypes, args, NULL, SPI_OK_INSERT);
	}
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	PG_RETURN_VOID();
}

/*
 * tombstone.remove_key(key_id text)
 *
 * Remove a key: tokens naming it are refused from then on.  Waits for
 * transactions that authorised a token with the key.  Uses recorded in
 * tombstone.token_uses stay, so that a key added again under the same id
 * does not make used tokens usable again.
 */
Datum
tombstone_remove_key(PG_FUNCTION_ARGS)
{
	char	   *kid;
	Datum		arg;
	Oid			save_userid;
	int			save_sec_context;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("key_id of tombstone.remove_key() must not be null")));
	kid = text_to_cstring(PG_GETARG_TEXT_PP(0));
	arg = CStringGetTextDatum(kid);

	become_catalog_owner(&save_userid, &save_sec_context);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (remove_key_plan == NULL)
	{
		Oid			argtypes[1] = {TEXTOID};

		remove_key_plan = prepare_kept(TOMBSTONE_INTERNAL_QUERY
									   "DELETE FROM tombstone.keys k "
									   "WHERE k.key_id OPERATOR(pg_catalog.=) $1",
									   1, argtypes);
	}
	if (own_write(token_catalog_relid(TOKEN_KEYS_TABLE), remove_key_plan, NULL,
				  1, NULL, &arg, NULL, SPI_OK_DELETE) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("key \"%s\" does not exist", kid)));
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	PG_RETURN_VOID();
}
