/*-------------------------------------------------------------------------
 *
 * triggers.c
 *	  Row and statement triggers that make a protected table fail closed.
 *
 * With the library preloaded, the planner turns every DELETE into a
 * tombstone and no physical delete ever reaches a protected table.  These
 * triggers are the net under that: whatever still tries to remove a row or
 * empty the table (the library not preloaded, a logical replication apply
 * worker, TRUNCATE, a TRUNCATE cascading from another table) is refused
 * with an error.  protect() creates them ENABLE ALWAYS, so they fire with
 * session_replication_role = replica as well, and the DDL guard refuses to
 * disable them.
 *
 * The BEFORE UPDATE trigger is also where the bookkeeping of changes
 * starts: see TombstoneBookkeep() in ledger.c.
 *
 * One physical delete is legitimate: an UPDATE that moves a row to another
 * partition is executed as a DELETE on the old partition and an INSERT into
 * the new one.  The BEFORE UPDATE trigger remembers the row it just let
 * through, and the BEFORE DELETE trigger lets exactly that row go.
 *
 * src/triggers.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "storage/itemptr.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "pg_tombstone.h"

PG_FUNCTION_INFO_V1(tombstone_guard_delete);
PG_FUNCTION_INFO_V1(tombstone_before_update);
PG_FUNCTION_INFO_V1(tombstone_guard_truncate);
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

/*
 * Refuse because the library is not preloaded: the one configuration in
 * which the planner could not turn a DELETE into a tombstone.
 */
void
TombstoneRequirePreloaded(const char *relname)
{
	if (tombstone_preloaded)
		return;
	TombstoneRefuseNotPreloaded(psprintf("A DELETE on protected table \"%s\" would have removed rows physically instead of tombstoning them, so it was refused.",
										 relname));
}

/*
 * The refusal itself, with a detail saying what was attempted; shared by
 * every path that needs the library loaded at server start.
 */
void
TombstoneRefuseNotPreloaded(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_NOT_PRELOADED),
			 errmsg("pg_tombstone must be loaded via shared_preload_libraries"),
			 errdetail_internal("%s", detail),
			 errhint("Add pg_tombstone to shared_preload_libraries in postgresql.conf and restart the server.")));
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

	/* an authorised purge of a row tombstoned longer than the retention */
	if (TombstonePurgeAllows(rel, tuple))
		return PointerGetDatum(tuple);

	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_PHYSICAL_DELETE),
			 errmsg("cannot physically delete rows of protected table \"%s\"",
					RelationGetRelationName(rel)),
			 errdetail("A physical delete reached table \"%s\" without being turned into a tombstone, as a DELETE through an unprotected parent table or a replicated DELETE does.",
					   RelationGetRelationName(rel)),
			 errhint("Delete through the protected table itself, or protect its parent table; rows of protected tables are removed physically only by an authorised purge.")));
	PG_RETURN_NULL();			/* keep compiler quiet */
}

/*
 * BEFORE UPDATE FOR EACH ROW on every protected table.  Records tombstones
 * and undeletes (ledger.c), keeps the old version of the row (history.c),
 * and remembers the row of a partition being
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

	if (rel->rd_rel->relispartition)
	{
		moving_relid = RelationGetRelid(rel);
		moving_tid = trigdata->tg_trigtuple->t_self;
		moving_xid = GetCurrentTransactionId();
		moving_cid = GetCurrentCommandId(false);
	}
	newtup = TombstoneBookkeep(rel, trigdata->tg_trigtuple,
							   trigdata->tg_newtuple);
	newtup = TombstoneHistoryWrite(fcinfo->flinfo, rel, trigdata->tg_trigtuple,
								   newtup);
	return PointerGetDatum(newtup);
}

/*
 * BEFORE TRUNCATE FOR EACH STATEMENT on every protected table, partitions
 * included (statement triggers are not inherited).
 */
Datum
tombstone_guard_truncate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = trigger_data(fcinfo, "tombstone_guard_truncate");

	if (TombstoneGuardDdlAllowed(RelationGetRelid(trigdata->tg_relation)))
		return PointerGetDatum(NULL);
	TombstoneRefuseTruncate(RelationGetRelationName(trigdata->tg_relation));
	PG_RETURN_NULL();			/* keep compiler quiet */
}

/*
 * The refusal of TRUNCATE, shared by this trigger and the utility hook,
 * which refuses earlier when the library is preloaded.
 */
void
TombstoneRefuseTruncate(const char *relname)
{
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_TRUNCATE),
			 errmsg("cannot truncate protected table \"%s\"", relname),
			 errdetail("TRUNCATE would remove every row of table \"%s\", live and tombstoned.",
					   relname),
			 errhint(TOMBSTONE_DDL_HINT)));
}

/*
 * Does rel have no row that a new snapshot sees?  A restore loads the
 * extension's tables (dumped by pg_extension_config_dump) into the empty
 * tables CREATE EXTENSION made, with their guard triggers in place.
 */
bool
TombstoneRelationIsEmpty(Relation rel)
{
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	TableScanDesc scan;
	bool		empty;

	scan = table_beginscan(rel, snapshot, 0, NULL);
	empty = !table_scan_getnextslot(scan, ForwardScanDirection, slot);
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	return empty;
}

/*
 * The refusal of any change to one of the extension's tables other than the
 * ledger: what was attempted on relname, a statement ("DELETE") when ddl
 * is false, else a phrase ("alter").
 */
void
TombstoneRefuseOwnTableChange(const char *relname, const char *what, bool ddl)
{
	if (ddl)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_OWN_OBJECTS),
				 errmsg("cannot %s table \"%s\" of pg_tombstone", what, relname),
				 errdetail("Table \"%s\" records what pg_tombstone protects and who may authorise what; only the extension's own scripts change it.",
						   relname),
				 errhint("Update the extension with ALTER EXTENSION pg_tombstone UPDATE.")));
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_OWN_OBJECTS),
			 errmsg("cannot change table \"%s\" of pg_tombstone", relname),
			 errdetail("Table \"%s\" records what pg_tombstone protects and who may authorise what; only the extension writes it, and %s was refused.",
					   relname, what),
			 errhint("Use tombstone.protect(), unprotect(), protect_tenants(), set_retention(), add_key() or remove_key().")));
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
	const char *what;

	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		elog(ERROR, "tombstone_catalog_guard must be a BEFORE statement trigger");
	if (TombstoneOwnWriteAllows(RelationGetRelid(rel)) ||
		TombstoneExtensionScript())
		return PointerGetDatum(NULL);
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		if (TombstoneRelationIsEmpty(rel))
			return PointerGetDatum(NULL);
		what = "INSERT";
	}
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		what = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		what = "DELETE";
	else
		what = "TRUNCATE";
	TombstoneRefuseOwnTableChange(RelationGetRelationName(rel), what, false);
	PG_RETURN_NULL();			/* keep compiler quiet */
}
