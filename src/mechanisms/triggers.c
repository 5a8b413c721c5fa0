/*-------------------------------------------------------------------------
 *
 * triggers.c
 *	  Row and statement triggers that make a protected table fail closed.
 *
 * With the library preloaded, the planner turns every DELETE into a
 * tombstone and no physical delete ever reaches a protected table.  These
 * triggers are the net under that: whatever still tries to remove a row or
 * empty the table (the library not preloaded, a DELETE through an
 * unprotected parent, TRUNCATE, a TRUNCATE cascading from another table) is
 * refused with an error.  protect() creates them ENABLE ALWAYS, so they fire
 * with session_replication_role = replica as well, and the DDL guard refuses
 * to disable them.  A logical replication worker applying a publisher's
 * change is let through (see replica_applying()), and so is a TRUNCATE of a
 * table that holds no tuple at all.
 *
 * The BEFORE UPDATE trigger is also where the bookkeeping of changes
 * starts (bookkeep(), below, for the statements that do not leave the
 * trigger out; see mechanisms/executor.c), and where the old version of a
 * row goes to its history table (recording/history.c).
 *
 * The guard triggers of the extension's own tables are here too: history
 * tables and the ledger are written only by the extension, and rows leave
 * them only by an authorised purge (on a subscriber: a publisher's purge,
 * applied by logical replication); its catalog, tenant registry, keys and
 * token uses are written only by its own statements (foundation/query.c
 * marks them), for superusers too.  An INSERT into one of them while it is
 * empty is a restore of a dump, and is let through.  (Their DDL is guarded
 * by mechanisms/record_guard.c.)
 *
 * One physical delete is legitimate: an UPDATE that moves a row to another
 * partition is executed as a DELETE on the old partition and an INSERT into
 * the new one.  The BEFORE UPDATE trigger remembers the row it just let
 * through, and the BEFORE DELETE trigger lets exactly that row go.
 *
 * src/mechanisms/triggers.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "executor/spi.h"
#include "replication/logicalworker.h"
#include "utils/lsyscache.h"

#include "foundation/catalog.h"
#include "foundation/citus.h"
#include "foundation/errcodes.h"
#include "foundation/internal.h"
#include "foundation/names.h"
#include "foundation/query.h"
#include "foundation/refuse.h"
#include "foundation/settings.h"
#include "foundation/tenant.h"
#include "policy/guard.h"
#include "policy/permit.h"
#include "recording/change.h"
#include "recording/history.h"
#include "mechanisms/cascade.h"
#include "mechanisms/citus_guard.h"

PG_FUNCTION_INFO_V1(tombstone_guard_delete);
PG_FUNCTION_INFO_V1(tombstone_before_update);
PG_FUNCTION_INFO_V1(tombstone_guard_truncate);
PG_FUNCTION_INFO_V1(tombstone_history_guard);
PG_FUNCTION_INFO_V1(tombstone_ledger_guard);
PG_FUNCTION_INFO_V1(tombstone_catalog_guard);

/* the row an UPDATE of a partition last let through: it may move */
static Oid	moving_relid = InvalidOid;
static ItemPointerData moving_tid;
static TransactionId moving_xid = InvalidTransactionId;
static CommandId moving_cid = InvalidCommandId;

static TriggerData *
trigger_data(FunctionCallInfo fcinfo, const char *funcname)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager",
						funcname)));
	return (TriggerData *) fcinfo->context;
}

/* The statement a trigger fired for, as a refusal's detail names it */
static const char *
trigger_event_name(TriggerEvent event)
{
	if (TRIGGER_FIRED_BY_INSERT(event))
		return "INSERT";
	if (TRIGGER_FIRED_BY_UPDATE(event))
		return "UPDATE";
	if (TRIGGER_FIRED_BY_DELETE(event))
		return "DELETE";
	return "TRUNCATE";
}

/*
 * Is a logical replication worker applying a publisher's change to this
 * database right now?  The apply and table sync workers change rows without
 * the executor's hooks (executor depth 0); a trigger of the user's that they
 * fire runs its queries at depth 1 and up, and those are guarded as usual.
 * What they apply was decided, recorded and authorised on the publisher: a
 * subscriber is a copy of what is published, tombstones, history and purges
 * included, and refusing a change there would stop the subscription for
 * good.  So the triggers let such rows through unchanged: no change id, no
 * history of the subscriber's own, no rewritten valid_from, and physical
 * deletes and TRUNCATE (a publisher's purge or authorised TRUNCATE) apply.
 */
static bool
replica_applying(void)
{
	return IsLogicalWorker() && TombstoneExecDepth() == 0;
}

/*
 * A row moving between partitions is deleted from its partition and then
 * routed to the new one, where a BEFORE INSERT row trigger returning NULL
 * would silently discard it.  Allow the move only when no partition of the
 * tree has such a trigger.  The answer is remembered for the rest of the
 * statement, so a bulk move looks at the partitions once.
 */
static void
check_move_cannot_lose(Relation rel)
{
	static Oid	checked_root = InvalidOid;
	static TransactionId checked_xid = InvalidTransactionId;
	static CommandId checked_cid = InvalidCommandId;
	List	   *ancestors;
	Oid			root;
	ListCell   *lc;

	ancestors = get_partition_ancestors(RelationGetRelid(rel));
	root = ancestors != NIL ? llast_oid(ancestors) : RelationGetRelid(rel);
	if (root == checked_root &&
		checked_xid == GetCurrentTransactionIdIfAny() &&
		checked_cid == GetCurrentCommandId(false))
		return;

	foreach(lc, find_all_inheritors(root, AccessShareLock, NULL))
	{
		Relation	part = table_open(lfirst_oid(lc), NoLock);
		bool		discards = part->trigdesc != NULL &&
			part->trigdesc->trig_insert_before_row;
		char	   *partname = pstrdup(RelationGetRelationName(part));

		table_close(part, NoLock);
		if (discards)
			ereport(ERROR,
					(errcode(ERRCODE_TOMBSTONE_PHYSICAL_DELETE),
					 errmsg("cannot move a row of protected table \"%s\" to another partition",
							get_rel_name(root)),
					 errdetail("Partition \"%s\" has a BEFORE INSERT trigger, which could discard the moved row after it left partition \"%s\".",
							   partname, RelationGetRelationName(rel)),
					 errhint("Insert the row with its new key and then DELETE the old one, or make the trigger an AFTER trigger.")));
	}
	checked_root = root;
	checked_xid = GetCurrentTransactionIdIfAny();
	checked_cid = GetCurrentCommandId(false);
}

/*
 * Is this the physical delete of a tombstone on a shard of a protected
 * Citus table, by a purge that the coordinator authorised?  The purge sets
 * tombstone.citus_purge, which Citus carries to the workers, and the
 * delete comes over one of Citus's own connections; the row must be a
 * tombstone.
 */
static bool
citus_purge_allows(Relation rel, HeapTuple tuple)
{
	int			attno;
	bool		isnull;

	if (!tombstone_citus_purge || !TombstoneCitusPresent() ||
		TombstoneRelLookup(RelationGetRelid(rel)) != NULL ||
		!TombstoneCitusTrustedBackend())
		return false;
	attno = SPI_fnumber(RelationGetDescr(rel), TOMBSTONE_DELETED_AT);
	if (attno <= 0)
		return false;
	(void) heap_getattr(tuple, attno, RelationGetDescr(rel), &isnull);
	return !isnull;
}

/*
 * BEFORE DELETE FOR EACH ROW on every protected table.
 */
Datum
tombstone_guard_delete(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = trigger_data(fcinfo, "tombstone_guard_delete");
	Relation	rel = trigdata->tg_relation;
	HeapTuple	tuple = trigdata->tg_trigtuple;

	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		elog(ERROR, "tombstone_guard_delete must be a BEFORE DELETE row trigger");

	/* the first half of a cross-partition UPDATE */
	if (RelationGetRelid(rel) == moving_relid &&
		ItemPointerEquals(&tuple->t_self, &moving_tid) &&
		moving_xid == GetCurrentTransactionIdIfAny() &&
		moving_cid == GetCurrentCommandId(false))
	{
		moving_relid = InvalidOid;
		check_move_cannot_lose(rel);
		return PointerGetDatum(tuple);
	}

	TombstoneRequirePreloaded(RelationGetRelationName(rel));

	/* a publisher's purge, applied by logical replication */
	if (replica_applying())
		return PointerGetDatum(tuple);

	/* an authorised purge of a row tombstoned longer than the retention */
	if (TombstonePermitAllowsRow(rel, tuple))
		return PointerGetDatum(tuple);

	/*
	 * On a Citus worker: a purge authorised on the coordinator removes a
	 * tombstone of a shard (see tombstone.citus_purge in
	 * mechanisms/citus_guard.c); never a live row.
	 */
	if (citus_purge_allows(rel, tuple))
		return PointerGetDatum(tuple);

	/*
	 * A bound "ddl" token covering the table allows TRUNCATE and DROP of it,
	 * and so a physical delete: pg_partman moving rows out of a default
	 * partition (see is_physical_move() in mechanisms/planner.c).
	 */
	if (TombstoneGuardDdlAllowed(RelationGetRelid(rel)))
		return PointerGetDatum(tuple);

	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_PHYSICAL_DELETE),
			 errmsg("cannot physically delete rows of protected table \"%s\"",
					RelationGetRelationName(rel)),
			 errdetail("A physical delete reached table \"%s\" without being turned into a tombstone, as a DELETE through an unprotected parent table does.",
					   RelationGetRelationName(rel)),
			 errhint("Delete through the protected table itself, or protect its parent table; rows of protected tables are removed physically only by an authorised purge.")));
	PG_RETURN_NULL();			/* keep compiler quiet */
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
	return TombstoneTenantText(value, TupleDescAttr(desc, attno - 1)->atttypid);
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
static HeapTuple
bookkeep(Relation rel, HeapTuple oldtup, HeapTuple newtup)
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
	int64		change;
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
		if (TombstoneExecDepth() == 0 || change_attno == InvalidAttrNumber)
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

	if (TombstoneExecDepth() == 0 || change_attno == InvalidAttrNumber)
		return newtup;

	change = TombstoneChangeOpenRow();
	id = Int64GetDatum(change);
	replcol = change_attno;
	newtup = heap_modify_tuple_by_cols(newtup, desc, 1, &replcol,
									   &id, &id_null);

	tenant = trel->tenant_attno != InvalidAttrNumber ?
		tenant_text(newtup, desc, trel->tenant_attno) : NULL;
	TombstoneChangeCount(trel->root, tenant, !new_live);
	if (!new_live && !TombstoneChangeIsPreview())
		TombstoneGuardRow(trel->root, tenant,
						  trel->root == TombstoneRegistry(NULL), change);

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

/*
 * BEFORE UPDATE FOR EACH ROW on every protected table.  Records tombstones
 * and undeletes (bookkeep), keeps the old version of the row
 * (recording/history.c), and remembers the row of a partition being
 * updated, in case the update moves it.
 */
Datum
tombstone_before_update(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = trigger_data(fcinfo, "tombstone_before_update");
	Relation	rel = trigdata->tg_relation;
	HeapTuple	newtup;

	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		elog(ERROR, "tombstone_before_update must be a BEFORE UPDATE row trigger");

	/* the row as the publisher wrote it: see replica_applying() */
	if (replica_applying())
		return PointerGetDatum(trigdata->tg_newtuple);

	if (rel->rd_rel->relispartition)
	{
		moving_relid = RelationGetRelid(rel);
		moving_tid = trigdata->tg_trigtuple->t_self;
		moving_xid = GetCurrentTransactionId();
		moving_cid = GetCurrentCommandId(false);
	}
	newtup = bookkeep(rel, trigdata->tg_trigtuple, trigdata->tg_newtuple);
	newtup = TombstoneHistoryWrite(fcinfo->flinfo, rel, trigdata->tg_trigtuple,
								   newtup);
	return PointerGetDatum(newtup);
}

/*
 * BEFORE TRUNCATE FOR EACH STATEMENT on every protected table, partitions
 * included (statement triggers are not inherited).  A TRUNCATE of an empty
 * table loses nothing and is let through (TombstoneRelationIsEmpty() in
 * foundation/catalog.c).
 */
Datum
tombstone_guard_truncate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = trigger_data(fcinfo, "tombstone_guard_truncate");

	if (replica_applying() ||
		TombstoneGuardDdlAllowed(RelationGetRelid(trigdata->tg_relation)) ||
		TombstoneRelationIsEmpty(trigdata->tg_relation))
		return PointerGetDatum(NULL);
	TombstoneRefuseTruncate(RelationGetRelationName(trigdata->tg_relation));
	PG_RETURN_NULL();			/* keep compiler quiet */
}

/*
 * tombstone._history_guard(): BEFORE UPDATE OR DELETE FOR EACH ROW, BEFORE
 * INSERT FOR EACH STATEMENT and BEFORE TRUNCATE on every history table.
 * History is written only by the extension (directly, never firing these)
 * and removed only by an authorised purge (or, for TRUNCATE, with a "ddl"
 * token naming the protected table; emptying an empty one loses nothing).
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
		TombstonePermitAllowsHistory(RelationGetRelid(rel)))
		return PointerGetDatum(trigdata->tg_trigtuple);

	/*
	 * A publisher's old versions, purge or TRUNCATE, applied by logical
	 * replication
	 */
	if (!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) && replica_applying())
		return TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ?
			PointerGetDatum(trigdata->tg_trigtuple) : PointerGetDatum(NULL);

	/* an INSERT into an empty history table is the restore of a dump */
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) &&
		TombstoneRelationHasNoRows(rel))
		return PointerGetDatum(NULL);

	base = TombstoneHistoryBase(RelationGetRelid(rel));
	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) &&
		((OidIsValid(base) && TombstoneGuardDdlAllowed(base)) ||
		 TombstoneRelationIsEmpty(rel)))
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

/*
 * tombstone._ledger_guard(): BEFORE UPDATE OR DELETE row trigger, BEFORE
 * INSERT statement trigger and BEFORE TRUNCATE trigger of the ledger, which
 * only the extension appends to.
 */
Datum
tombstone_ledger_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager",
						"tombstone_ledger_guard")));
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		/*
		 * The extension inserts its entries directly, never firing this;
		 * an INSERT into an empty ledger is a restore of a dump, and one
		 * by logical replication brings a publisher's entries.
		 */
		if (TombstoneExtensionScript() || replica_applying() ||
			TombstoneRelationHasNoRows(trigdata->tg_relation))
			return PointerGetDatum(NULL);
	}
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_LEDGER),
			 errmsg("cannot change the ledger \"%s\"",
					RelationGetRelationName(trigdata->tg_relation)),
			 errdetail("Only pg_tombstone appends to the ledger, which records every change to protected tables; %s was refused.",
					   trigger_event_name(trigdata->tg_event)),
			 errhint("Undo a change with tombstone.undelete_change(), which records the undo as a change of its own.")));
	PG_RETURN_NULL();			/* keep compiler quiet */
}

/*
 * tombstone._catalog_guard(): BEFORE INSERT OR UPDATE OR DELETE and BEFORE
 * TRUNCATE statement trigger of tombstone.tables, tenant_registry, keys and
 * token_uses.  They are written by the extension only (which writes
 * token_uses directly, and the others through statements it marks as its
 * own), for superusers too; an INSERT into an empty table is a restore.
 */
Datum
tombstone_catalog_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = trigger_data(fcinfo, "tombstone_catalog_guard");
	Relation	rel = trigdata->tg_relation;

	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		elog(ERROR, "tombstone_catalog_guard must be a BEFORE statement trigger");
	if (TombstoneOwnWriteAllows(RelationGetRelid(rel)) ||
		TombstoneExtensionScript())
		return PointerGetDatum(NULL);
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) &&
		TombstoneRelationHasNoRows(rel))
		return PointerGetDatum(NULL);
	TombstoneRefuseOwnTableChange(RelationGetRelationName(rel),
								  trigger_event_name(trigdata->tg_event),
								  false);
	PG_RETURN_NULL();			/* keep compiler quiet */
}
