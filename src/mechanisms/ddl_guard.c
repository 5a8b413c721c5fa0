/*-------------------------------------------------------------------------
 *
 * ddl_guard.c
 *	  Refuses the utility commands that would destroy protected rows or
 *	  switch their protection off.
 *
 * Two hooks, because the dangerous paths are of two kinds:
 *
 *	- ProcessUtility_hook inspects a command before it runs, when the
 *	  objects it names are known: TRUNCATE, DROP TABLE and DROP EXTENSION,
 *	  ALTER TABLE subcommands (disabling our triggers, DETACH PARTITION,
 *	  NO INHERIT, dropping or retyping a tombstone column, SET UNLOGGED),
 *	  renames, and ALTER EVENT TRIGGER on the extension's own event
 *	  triggers.
 *
 *	- object_access_hook sees every object PostgreSQL is about to delete,
 *	  including those reached only through dependencies: DROP SCHEMA ...
 *	  CASCADE, DROP OWNED, DROP TYPE ... CASCADE dropping a column, the
 *	  partitions of a dropped table.  Refusing there aborts the command
 *	  before anything is gone.
 *
 * The same statements on the record (history tables, the ledger, the
 * extension's own tables and functions) are refused by
 * mechanisms/record_guard.c, and DROP DATABASE by
 * mechanisms/database_guard.c; the hooks here call both.
 *
 * Without the library preloaded, the extension's event trigger at
 * ddl_command_start (tombstone._on_ddl_start, in C, below) loads the
 * library, which installs both hooks for the rest of the session, and
 * checks that first statement itself; the TRUNCATE and DELETE triggers
 * refuse the rest (see mechanisms/triggers.c).  Event triggers do not fire
 * for ALTER EVENT TRIGGER or DROP DATABASE, so those are guarded only once
 * the library is loaded.
 *
 * A change token of operation "ddl" naming the table authorises these
 * commands (policy/guard.c); every refusal here ends in the same hint.
 *
 * What the DBA's tools send is let through where it loses nothing, and
 * refused before anything changes where it would: a TRUNCATE of a table
 * that holds no tuple passes (pg_restore -j empties each table it has just
 * created); ENABLE or DISABLE TRIGGER ALL or USER passes (pg_dump
 * --disable-triggers), and pg_tombstone's triggers are set back to fire
 * ALWAYS afterwards; over an existing database (pg_restore --clean), the
 * drop of a protected table's primary key is refused (TB060), and so is a
 * COPY FROM into a table whose drop this session was refused (TB061) or
 * into a history table that holds old versions.  While ALTER TABLE or COPY
 * FROM runs, foundation/query.c knows it: the foreign-key checks those
 * commands make read the rows as stored.
 *
 * src/mechanisms/ddl_guard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_event_trigger.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_trigger.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "commands/extension.h"
#include "commands/user.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "foundation/catalog.h"
#include "foundation/errcodes.h"
#include "foundation/names.h"
#include "foundation/query.h"
#include "foundation/refuse.h"
#include "policy/guard.h"
#include "recording/history.h"
#include "mechanisms/citus_guard.h"
#include "mechanisms/database_guard.h"
#include "mechanisms/ddl_guard.h"
#include "mechanisms/record_guard.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static object_access_hook_type prev_object_access_hook = NULL;

/*
 * Relations whose DROP (of the table or of a guard trigger) the guard
 * refused in this session, and whether DROP EXTENSION was refused: a
 * restore over an existing database (pg_restore --clean) then loads their
 * rows again with COPY, which would add them to the rows the refusal kept.
 * Kept in TopMemoryContext for the session.
 */
static List *refused_drops = NIL;
static bool refused_extension_drop = false;

static void
remember_refused_drop(Oid relid)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	refused_drops = list_append_unique_oid(refused_drops, relid);
	MemoryContextSwitchTo(old);
}

/*
 * Is this one of the columns protection depends on: the tombstone columns
 * or the tenant column?
 */
static bool
is_protected_column(const TombstoneRel *trel, const char *colname)
{
	return strcmp(colname, TOMBSTONE_DELETED_AT) == 0 ||
		strcmp(colname, TOMBSTONE_DELETED_CHANGE) == 0 ||
		strcmp(colname, NameStr(trel->tenant_column)) == 0 ||
		(OidIsValid(trel->history_relid) &&
		 strcmp(colname, TOMBSTONE_VALID_FROM) == 0);
}

static void
refuse_drop_table(Oid relid)
{
	char	   *relname = get_rel_name(relid);

	if (TombstoneGuardDdlAllowed(relid))
		return;

	remember_refused_drop(relid);
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_DROP_TABLE),
			 errmsg("cannot drop protected table \"%s\"", relname),
			 errdetail("The command would drop table \"%s\" with all of its rows, live and tombstoned.",
					   relname),
			 errhint(TOMBSTONE_DDL_HINT)));
}

/*
 * A history table goes only with a "ddl" token naming its protected table;
 * once that table was dropped (with a token), its history is an ordinary
 * table the owner may drop.
 */
static void
refuse_drop_history(Oid histrelid)
{
	Oid			base = TombstoneHistoryBase(histrelid);

	if (!OidIsValid(base) || TombstoneGuardDdlAllowed(base))
		return;
	remember_refused_drop(histrelid);
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_DROP_TABLE),
			 errmsg("cannot drop history table \"%s\"", get_rel_name(histrelid)),
			 errdetail("The command would drop the old versions of the rows of protected table %s.",
					   TombstoneQualifiedName(base)),
			 errhint(TOMBSTONE_DDL_HINT)));
}

static void
refuse_drop_column(Oid relid, const char *colname)
{
	char	   *relname = get_rel_name(relid);

	if (TombstoneGuardDdlAllowed(relid))
		return;

	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_DROP_COLUMN),
			 errmsg("cannot drop column \"%s\" of protected table \"%s\"",
					colname, relname),
			 errdetail("Column \"%s\" of table \"%s\" is used by pg_tombstone to keep deleted rows recoverable.",
					   colname, relname),
			 errhint(TOMBSTONE_DDL_HINT)));
}

static void
refuse_trigger_change(Oid relid, const char *trigname, const char *action)
{
	char	   *relname = get_rel_name(relid);

	if (relid == TombstoneLedgerRelid())
		TombstoneRefuseLedgerTriggerChange(relid, action);
	if (TombstoneGuardDdlAllowed(relid))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_DISABLE_TRIGGER),
			 errmsg("cannot %s trigger \"%s\" of protected table \"%s\"",
					action, trigname, relname),
			 errdetail("Trigger \"%s\" keeps rows of table \"%s\" from being deleted physically.",
					   trigname, relname),
			 errhint(TOMBSTONE_DDL_HINT)));
}

/*
 * The extension's event triggers are the DROP guard when the library is not
 * preloaded: renaming, disabling or dropping them is refused alike.
 */
static void
refuse_event_trigger_change(const char *evtname, const char *action)
{
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_EVENT_TRIGGER),
			 errmsg("cannot %s event trigger \"%s\"", action, evtname),
			 errdetail("Event trigger \"%s\" keeps protected tables from being dropped when pg_tombstone is not preloaded.",
					   evtname),
			 errhint(TOMBSTONE_DDL_HINT)));
}

/*
 * Would disabling triggers of relid (and, through recursion, of its
 * partitions and children) reach a protected table?  Returns the first
 * protected one, or InvalidOid.
 */
static Oid
protected_in_tree(Oid relid)
{
	List	   *tree;
	ListCell   *lc;

	if (TombstoneRelLookup(relid) != NULL || relid == TombstoneLedgerRelid())
		return relid;
	tree = find_all_inheritors(relid, NoLock, NULL);
	foreach(lc, tree)
		if (TombstoneRelLookup(lfirst_oid(lc)) != NULL)
			return lfirst_oid(lc);
	return InvalidOid;
}

/*
 * Would TRUNCATE of protected relation relid destroy nothing?  Only when
 * the caller may truncate it and it holds no tuple at all; the relation is
 * then locked as TRUNCATE will lock it, so that it stays empty.
 */
static bool
truncate_loses_nothing(Oid relid)
{
	Relation	rel;
	bool		empty;

	if (pg_class_aclcheck(relid, GetUserId(), ACL_TRUNCATE) != ACLCHECK_OK)
		return false;
	rel = table_open(relid, AccessExclusiveLock);
	empty = TombstoneRelationIsEmpty(rel);
	table_close(rel, NoLock);
	return empty;
}

static void
check_truncate(TruncateStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->relations)
	{
		RangeVar   *rv = lfirst_node(RangeVar, lc);
		Oid			relid = RangeVarGetRelid(rv, NoLock, true);
		List	   *rels;
		ListCell   *lc2;

		if (!OidIsValid(relid))
			continue;
		if (relid == TombstoneLedgerRelid())
			ereport(ERROR,
					(errcode(ERRCODE_TOMBSTONE_LEDGER),
					 errmsg("cannot truncate the ledger \"%s\"", get_rel_name(relid)),
					 errdetail("Only pg_tombstone appends to the ledger, which records every change to protected tables."),
					 errhint("Undo a change with tombstone.undelete_change(), which records the undo as a change of its own.")));

		/* without ONLY, TRUNCATE reaches the partitions and children too */
		rels = rv->inh ? find_all_inheritors(relid, NoLock, NULL) :
			list_make1_oid(relid);
		foreach(lc2, rels)
		{
			Oid			target = lfirst_oid(lc2);

			if (TombstoneRelLookup(target) == NULL ||
				TombstoneGuardDdlAllowed(target) ||
				truncate_loses_nothing(target))
				continue;
			/* named as the command names it, when that is protected */
			TombstoneRefuseTruncate(get_rel_name(TombstoneRelLookup(relid) != NULL ?
												 relid : target));
		}
	}
}

/* Is conname the primary key constraint of relid? */
static bool
is_primary_key(Oid relid, const char *conname)
{
	Oid			conoid = get_relation_constraint_oid(relid, conname, true);
	HeapTuple	tup;
	bool		result = false;

	if (!OidIsValid(conoid))
		return false;
	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (HeapTupleIsValid(tup))
	{
		result = ((Form_pg_constraint) GETSTRUCT(tup))->contype == CONSTRAINT_PRIMARY;
		ReleaseSysCache(tup);
	}
	return result;
}

/*
 * COPY FROM into a table that a restore over an existing database would
 * fill a second time: one whose DROP (or the DROP of whose guard trigger)
 * this session was refused, a table of the extension's once DROP EXTENSION
 * was refused, and a history table that already holds old versions (only
 * pg_tombstone writes history; a restore fills an empty one).
 */
static void
check_copy_from(CopyStmt *stmt)
{
	Oid			relid;
	Oid			histnsp;

	if (stmt->relation == NULL)
		return;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return;
	if (list_member_oid(refused_drops, relid) ||
		(refused_extension_drop &&
		 get_rel_namespace(relid) == get_namespace_oid(TOMBSTONE_SCHEMA, true)))
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_RELOAD),
				 errmsg("cannot load rows into table \"%s\", which this session could not drop",
						get_rel_name(relid)),
				 errdetail("Table \"%s\" kept its rows when its drop was refused; loading a dump's rows now would store them a second time.",
						   get_rel_name(relid)),
				 errhint("Restore into a new database, or run pg_restore --clean with --single-transaction, which is refused before anything changes.")));
	histnsp = get_namespace_oid(TOMBSTONE_HISTORY_SCHEMA, true);
	if (OidIsValid(histnsp) && get_rel_namespace(relid) == histnsp)
	{
		Relation	rel = table_open(relid, ShareLock);
		bool		empty = TombstoneRelationIsEmpty(rel);

		table_close(rel, NoLock);
		if (!empty)
			ereport(ERROR,
					(errcode(ERRCODE_TOMBSTONE_HISTORY_WRITE),
					 errmsg("cannot load rows into history table \"%s\", which holds old versions",
							get_rel_name(relid)),
					 errdetail("Only pg_tombstone writes history; COPY FROM may fill an empty history table, as a restore does."),
					 errhint("Restore into a new database.")));
	}
}

/*
 * After ALTER TABLE ... ENABLE or DISABLE TRIGGER ALL or USER of relid (and,
 * recursing, its partitions and children): the triggers whose function is
 * pg_tombstone's fire ALWAYS again.  Those commands change every trigger of
 * a table; pg_dump --disable-triggers wraps each table's data in them, and
 * ENABLE TRIGGER ALL would leave the guard firing on origin only (off under
 * session_replication_role = replica).  Whether or not the table is listed
 * in tombstone.tables yet: a data-only restore loads the user's tables
 * before the extension's catalog.
 */
static void
keep_guard_triggers_always(Oid relid)
{
	Oid			nspid = get_namespace_oid(TOMBSTONE_SCHEMA, true);
	ListCell   *lc;

	if (!OidIsValid(nspid))
		return;
	CommandCounterIncrement();
	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
	{
		Relation	rel = table_open(lfirst_oid(lc), ShareRowExclusiveLock);
		Relation	tgrel = table_open(TriggerRelationId, AccessShareLock);
		SysScanDesc scan;
		ScanKeyData key;
		HeapTuple	tup;
		List	   *names = NIL;
		ListCell   *lc2;

		ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(RelationGetRelid(rel)));
		scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, NULL,
								  1, &key);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			Form_pg_trigger form = (Form_pg_trigger) GETSTRUCT(tup);

			if (form->tgenabled != TRIGGER_FIRES_ALWAYS &&
				get_func_namespace(form->tgfoid) == nspid)
				names = lappend(names, pstrdup(NameStr(form->tgname)));
		}
		systable_endscan(scan);
		table_close(tgrel, AccessShareLock);
		foreach(lc2, names)
			EnableDisableTrigger(rel, lfirst(lc2), TRIGGER_FIRES_ALWAYS, false,
								 ShareRowExclusiveLock);
		table_close(rel, NoLock);
		/* a partitioned table's call reached its partitions' clones */
		CommandCounterIncrement();
	}
}

/*
 * Refuse what the ALTER TABLE would do to protection; true when it
 * enables or disables every trigger of the table (ALL or USER), after which
 * keep_guard_triggers_always() must run.  Without the hook around the
 * statement (from_hook false) nothing could set them back, so such a
 * statement is refused where it reaches pg_tombstone's triggers.
 */
static bool
check_alter_table(AlterTableStmt *stmt, bool from_hook)
{
	Oid			relid;
	Oid			base;
	TombstoneRecordKind kind;
	const TombstoneRel *trel;
	ListCell   *lc;
	bool		all_triggers = false;

	if (stmt->objtype == OBJECT_SEQUENCE)
	{
		/* the change ids: an unlogged sequence starts again after a crash */
		relid = RangeVarGetRelid(stmt->relation, NoLock, true);
		foreach(lc, stmt->cmds)
			if (OidIsValid(relid) && relid == TombstoneLedgerSeqRelid() &&
				lfirst_node(AlterTableCmd, lc)->subtype == AT_SetUnLogged)
				TombstoneRefuseUnlogged(relid, RECORD_LEDGER, InvalidOid);
		return false;
	}
	if (stmt->objtype != OBJECT_TABLE)
		return false;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return false;
	if ((kind = TombstoneRecordKindOf(relid, &base)) != RECORD_NONE)
		return TombstoneRecordCheckAlterTable(stmt, kind, relid, base,
											  from_hook);
	trel = TombstoneRelLookup(relid);

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		Oid			target;

		switch (cmd->subtype)
		{
			case AT_DisableTrig:
			case AT_EnableTrig:
			case AT_EnableReplicaTrig:
				/* only ENABLE ALWAYS keeps our triggers firing everywhere */
				if (!TombstoneIsTriggerName(cmd->name))
					break;
				target = protected_in_tree(relid);
				if (OidIsValid(target))
					refuse_trigger_change(target, cmd->name,
										  cmd->subtype == AT_DisableTrig ?
										  "disable" : "change the firing of");
				break;
			case AT_DisableTrigAll:
			case AT_DisableTrigUser:
			case AT_EnableTrigAll:
			case AT_EnableTrigUser:
				/* they reach pg_tombstone's triggers, which are set back */
				if (from_hook)
				{
					all_triggers = true;
					break;
				}
				target = protected_in_tree(relid);
				if (OidIsValid(target))
					refuse_trigger_change(target, "tombstone_guard_delete",
										  (cmd->subtype == AT_DisableTrigAll ||
										   cmd->subtype == AT_DisableTrigUser) ?
										  "disable" : "change the firing of");
				break;
			case AT_DetachPartition:
			case AT_DetachPartitionFinalize:
				{
					PartitionCmd *pc = (PartitionCmd *) cmd->def;
					Oid			partid = RangeVarGetRelid(pc->name, NoLock, true);
					const TombstoneRel *ptrel;

					ptrel = OidIsValid(partid) ? TombstoneRelLookup(partid) : NULL;
					if (trel == NULL && (ptrel == NULL || !OidIsValid(ptrel->parent)))
						break;
					if (TombstoneGuardDdlAllowed(relid) ||
						(OidIsValid(partid) && TombstoneGuardDdlAllowed(partid)))
						break;
					ereport(ERROR,
							(errcode(ERRCODE_TOMBSTONE_DETACH),
							 errmsg("cannot detach partition \"%s\" from protected table \"%s\"",
									pc->name->relname, get_rel_name(relid)),
							 errdetail("Detached, partition \"%s\" would no longer be protected through table \"%s\".",
									   pc->name->relname, get_rel_name(relid)),
							 errhint(TOMBSTONE_DDL_HINT)));
				}
				break;
			case AT_DropInherit:
				if (trel == NULL || !OidIsValid(trel->parent))
					break;
				if (TombstoneGuardDdlAllowed(relid))
					break;
				ereport(ERROR,
						(errcode(ERRCODE_TOMBSTONE_DETACH),
						 errmsg("cannot remove inheritance of protected table \"%s\"",
								get_rel_name(relid)),
						 errdetail("Table \"%s\" is protected through table \"%s\" and would no longer be.",
								   get_rel_name(relid), get_rel_name(trel->parent)),
						 errhint(TOMBSTONE_DDL_HINT)));
				break;
			case AT_AddOf:
				/* a typed table's columns follow ALTER TYPE, unguarded */
				if (trel != NULL)
					ereport(ERROR,
							(errcode(ERRCODE_TOMBSTONE_ALTER_COLUMN),
							 errmsg("cannot make protected table \"%s\" a typed table",
									get_rel_name(relid)),
							 errdetail("The columns of a typed table change with ALTER TYPE, which could drop or retype the tombstone columns of \"%s\".",
									   get_rel_name(relid)),
							 errhint("Keep protected tables untyped.")));
				break;
			case AT_DropColumn:
				if (trel != NULL && is_protected_column(trel, cmd->name))
					refuse_drop_column(relid, cmd->name);
				break;
			case AT_DropConstraint:
				if (trel != NULL && is_primary_key(relid, cmd->name) &&
					!TombstoneGuardDdlAllowed(relid))
					ereport(ERROR,
							(errcode(ERRCODE_TOMBSTONE_DROP_PRIMARY_KEY),
							 errmsg("cannot drop the primary key \"%s\" of protected table \"%s\"",
									cmd->name, get_rel_name(relid)),
							 errdetail("Tombstones keep their keys: rewind_tenant() matches rows by the primary key, and without it rows loaded again (as by pg_restore --clean over an existing database) would be stored twice."),
							 errhint(TOMBSTONE_DDL_HINT)));
				break;
			case AT_SetUnLogged:
				if (trel != NULL)
					TombstoneRefuseUnlogged(relid, RECORD_NONE, InvalidOid);
				break;
			case AT_AlterColumnType:
				if (trel != NULL &&
					(strcmp(cmd->name, TOMBSTONE_DELETED_AT) == 0 ||
					 strcmp(cmd->name, TOMBSTONE_DELETED_CHANGE) == 0 ||
					 (OidIsValid(trel->history_relid) &&
					  strcmp(cmd->name, TOMBSTONE_VALID_FROM) == 0)))
					ereport(ERROR,
							(errcode(ERRCODE_TOMBSTONE_ALTER_COLUMN),
							 errmsg("cannot change the type of column \"%s\" of protected table \"%s\"",
									cmd->name, get_rel_name(relid)),
							 errdetail("pg_tombstone relies on the type of column \"%s\".",
									   cmd->name),
							 errhint("Leave the tombstone columns as protect() created them.")));
				break;
			default:
				break;
		}
	}
	return all_triggers;
}

static void
check_rename(RenameStmt *stmt)
{
	Oid			relid;
	const TombstoneRel *trel;

	if (stmt->renameType == OBJECT_EVENT_TRIGGER &&
		TombstoneIsTriggerName(strVal(stmt->object)) &&
		TombstoneAnyProtected())
		refuse_event_trigger_change(strVal(stmt->object), "rename");
	if ((stmt->renameType == OBJECT_FUNCTION ||
		 stmt->renameType == OBJECT_PROCEDURE ||
		 stmt->renameType == OBJECT_ROUTINE) && stmt->object != NULL)
		TombstoneRecordCheckAlterFunction(stmt->renameType,
										  castNode(ObjectWithArgs, stmt->object));

	/* tables of the record: a history table may be renamed itself */
	if (stmt->relation != NULL &&
		(stmt->renameType == OBJECT_TABLE || stmt->renameType == OBJECT_COLUMN ||
		 stmt->renameType == OBJECT_TRIGGER ||
		 stmt->renameType == OBJECT_TABCONSTRAINT))
	{
		Oid			base;
		TombstoneRecordKind kind;

		relid = RangeVarGetRelid(stmt->relation, NoLock, true);
		kind = TombstoneRecordKindOf(relid, &base);
		if (kind == RECORD_LEDGER || kind == RECORD_OWN)
			TombstoneRecordRefuse(kind, relid, base, "rename",
								  ERRCODE_TOMBSTONE_OWN_OBJECTS);
		else if (kind == RECORD_HISTORY && stmt->renameType == OBJECT_COLUMN)
			TombstoneRecordRefuse(kind, relid, base, "rename a column of",
								  ERRCODE_TOMBSTONE_HISTORY_DDL);
		else if (kind == RECORD_HISTORY && stmt->renameType == OBJECT_TRIGGER &&
				 TombstoneIsTriggerName(stmt->subname))
			TombstoneRecordRefuse(kind, relid, base, "rename a trigger of",
								  ERRCODE_TOMBSTONE_DISABLE_TRIGGER);
	}

	if (stmt->renameType != OBJECT_COLUMN && stmt->renameType != OBJECT_TRIGGER)
		return;
	if (stmt->relation == NULL)
		return;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return;
	if (stmt->renameType == OBJECT_TRIGGER &&
		TombstoneIsTriggerName(stmt->subname) &&
		relid == TombstoneLedgerRelid())
		refuse_trigger_change(relid, stmt->subname, "rename");
	if ((trel = TombstoneRelLookup(relid)) == NULL)
		return;

	if (stmt->renameType == OBJECT_TRIGGER &&
		TombstoneIsTriggerName(stmt->subname))
		refuse_trigger_change(relid, stmt->subname, "rename");

	if (stmt->renameType == OBJECT_COLUMN &&
		is_protected_column(trel, stmt->subname))
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_ALTER_COLUMN),
				 errmsg("cannot rename column \"%s\" of protected table \"%s\"",
						stmt->subname, get_rel_name(relid)),
				 errdetail("pg_tombstone finds the column by the name \"%s\".",
						   stmt->subname),
				 errhint("Leave the tombstone and tenant columns as protect() found them.")));

	/* the history table's column follows, in the same transaction */
	if (stmt->renameType == OBJECT_COLUMN)
		TombstoneHistoryRenameColumn(relid, stmt->subname, stmt->newname);
}

static void
refuse_drop_extension(void)
{
	refused_extension_drop = true;
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_DROP_EXTENSION),
			 errmsg("cannot drop extension \"pg_tombstone\" while tables are protected"),
			 errdetail("Dropping the extension would leave the tombstoned rows of every protected table unguarded."),
			 errhint("Tables listed in tombstone.protected_tables must be unprotected first, which needs a signed change token of operation \"unprotect\".")));
}

static bool
in_namespace(Oid relid, void *arg)
{
	return get_rel_namespace(relid) == *(Oid *) arg;
}

static bool
owned_by_any(Oid relid, void *arg)
{
	List	   *roleids = (List *) arg;
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		result = false;

	if (HeapTupleIsValid(tup))
	{
		result = list_member_oid(roleids,
								 ((Form_pg_class) GETSTRUCT(tup))->relowner);
		ReleaseSysCache(tup);
	}
	return result;
}

/*
 * DROP OWNED BY a role that owns a protected table would drop it.
 */
static void
check_drop_owned(DropOwnedStmt *stmt)
{
	List	   *roleids = roleSpecsToIds(stmt->roles);
	Oid			relid = TombstoneFindProtected(owned_by_any, roleids);

	if (OidIsValid(relid))
		refuse_drop_table(relid);
}

static void
check_drop(DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->removeType == OBJECT_TABLE)
	{
		foreach(lc, stmt->objects)
		{
			RangeVar   *rv = makeRangeVarFromNameList(lfirst(lc));
			Oid			relid = RangeVarGetRelid(rv, NoLock, true);

			if (OidIsValid(relid) && TombstoneRelLookup(relid) != NULL)
				refuse_drop_table(relid);
			else if (OidIsValid(relid) &&
					 get_rel_namespace(relid) == get_namespace_oid(TOMBSTONE_HISTORY_SCHEMA, true))
				refuse_drop_history(relid);
		}
	}
	else if (stmt->removeType == OBJECT_SCHEMA)
	{
		foreach(lc, stmt->objects)
		{
			Oid			nspid = get_namespace_oid(strVal(lfirst(lc)), true);
			Oid			relid;

			if (!OidIsValid(nspid))
				continue;
			if (nspid == get_rel_namespace(TombstoneCatalogRelid()) &&
				TombstoneAnyProtected())
				refuse_drop_extension();
			relid = TombstoneFindProtected(in_namespace, &nspid);
			if (OidIsValid(relid))
				refuse_drop_table(relid);
		}
	}
	else if (stmt->removeType == OBJECT_TRIGGER)
	{
		/* the ledger's guard triggers; DROP EXTENSION removes them itself */
		foreach(lc, stmt->objects)
		{
			List	   *names = lfirst(lc);
			RangeVar   *rv;
			Oid			relid;
			char	   *trigname = strVal(llast(names));

			rv = makeRangeVarFromNameList(list_truncate(list_copy(names),
														list_length(names) - 1));
			relid = RangeVarGetRelid(rv, NoLock, true);
			if (OidIsValid(relid) && TombstoneIsTriggerName(trigname))
			{
				Oid			base;
				TombstoneRecordKind kind = TombstoneRecordKindOf(relid, &base);

				if (kind == RECORD_OWN)
					TombstoneRecordRefuse(kind, relid, base, "drop a trigger of",
										  ERRCODE_TOMBSTONE_OWN_OBJECTS);
				if (kind == RECORD_HISTORY)
					TombstoneRecordRefuse(kind, relid, base, "drop a trigger of",
										  ERRCODE_TOMBSTONE_DROP_TRIGGER);
			}
			if (OidIsValid(relid) && relid == TombstoneLedgerRelid() &&
				TombstoneIsTriggerName(trigname))
				ereport(ERROR,
						(errcode(ERRCODE_TOMBSTONE_LEDGER),
						 errmsg("cannot drop trigger \"%s\" of the ledger \"%s\"",
								trigname, get_rel_name(relid)),
						 errdetail("Trigger \"%s\" keeps the ledger append-only.",
								   trigname),
						 errhint("The ledger can only be appended to by pg_tombstone.")));
		}
	}
	else if (stmt->removeType == OBJECT_EXTENSION)
	{
		foreach(lc, stmt->objects)
		{
			if (strcmp(strVal(lfirst(lc)), "pg_tombstone") == 0 &&
				TombstoneAnyProtected())
				refuse_drop_extension();
		}
	}
}

/*
 * CREATE OR REPLACE TRIGGER with the name of a guard trigger would swap its
 * function and reset its firing to ORIGIN.
 */
/*
 * Is this the trigger pg_repack puts on a table while it copies it: "AFTER
 * INSERT OR DELETE OR UPDATE ... FOR EACH ROW" calling its own
 * repack.repack_trigger(), which logs the rows for the copy?  An AFTER row
 * trigger can neither change nor swallow a row, and pg_repack keeps every
 * row of the ledger and of the extension's tables (see is_copy() in
 * mechanisms/planner.c).
 */
static bool
is_repack_trigger(CreateTrigStmt *stmt)
{
	Oid			ext = get_extension_oid("pg_repack", true);
	Oid			funcid;

	if (!OidIsValid(ext) || strcmp(stmt->trigname, "repack_trigger") != 0 ||
		!stmt->row || stmt->timing != TRIGGER_TYPE_AFTER || stmt->replace)
		return false;
	funcid = LookupFuncName(stmt->funcname, 0, NULL, true);
	return OidIsValid(funcid) &&
		getExtensionOfObject(NamespaceRelationId,
							 get_func_namespace(funcid)) == ext;
}

static void
check_create_trigger(CreateTrigStmt *stmt)
{
	Oid			relid;
	Oid			base;
	TombstoneRecordKind kind;

	/*
	 * A trigger or rule of the user's on the ledger or the extension's
	 * catalog would see, and could change or swallow, the rows the
	 * extension writes through SQL.
	 */
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	kind = TombstoneRecordKindOf(relid, &base);
	if ((kind == RECORD_OWN || kind == RECORD_LEDGER) && !is_repack_trigger(stmt))
		TombstoneRecordRefuse(kind, relid, base, "create a trigger on",
							  ERRCODE_TOMBSTONE_OWN_OBJECTS);

	if (!stmt->replace || !TombstoneIsTriggerName(stmt->trigname))
		return;
	if (OidIsValid(relid) && (TombstoneRelLookup(relid) != NULL ||
							  relid == TombstoneLedgerRelid()))
		refuse_trigger_change(relid, stmt->trigname, "replace");
	if (kind == RECORD_HISTORY)
		TombstoneRecordRefuse(kind, relid, base, "replace a trigger of",
							  ERRCODE_TOMBSTONE_DISABLE_TRIGGER);
}

static void
check_alter_event_trigger(AlterEventTrigStmt *stmt)
{
	if (!TombstoneIsTriggerName(stmt->trigname) ||
		stmt->tgenabled == TRIGGER_FIRES_ALWAYS ||
		!TombstoneAnyProtected())
		return;
	refuse_event_trigger_change(stmt->trigname, "change the firing of");
}

/*
 * How many utility statements our ProcessUtility hook is running, nested:
 * when it runs the one whose ddl_command_start event fires, the event
 * trigger has nothing left to check.
 */
static int	hook_depth = 0;

/*
 * Refuse a utility statement that would destroy protected rows, the record
 * of what happened to them, or switch their protection off.  Called by the
 * ProcessUtility hook (from_hook) and, for a statement that hook did not see
 * (the library loaded on demand), by the ddl_command_start event trigger.
 * Returns true for an ALTER TABLE that enables or disables every trigger of
 * a table whose pg_tombstone triggers the hook must then set back to ALWAYS.
 */
static bool
check_utility(Node *parsetree, bool from_hook)
{
	bool		all_triggers = false;

	/* from any database, with or without the extension */
	if (IsA(parsetree, DropdbStmt))
		TombstoneDatabaseCheckDrop((DropdbStmt *) parsetree);
	if (OidIsValid(TombstoneCatalogRelid()))
	{
		switch (nodeTag(parsetree))
		{
			case T_TruncateStmt:
				check_truncate((TruncateStmt *) parsetree);
				break;
			case T_CopyStmt:
				if (((CopyStmt *) parsetree)->is_from)
					check_copy_from((CopyStmt *) parsetree);
				break;
			case T_AlterTableStmt:
				all_triggers = check_alter_table((AlterTableStmt *) parsetree,
												 from_hook);
				break;
			case T_RenameStmt:
				check_rename((RenameStmt *) parsetree);
				break;
			case T_DropStmt:
				check_drop((DropStmt *) parsetree);
				break;
			case T_DropOwnedStmt:
				check_drop_owned((DropOwnedStmt *) parsetree);
				break;
			case T_CreateTrigStmt:
				check_create_trigger((CreateTrigStmt *) parsetree);
				break;
			case T_RuleStmt:
				TombstoneRecordCheckCreateRule((RuleStmt *) parsetree);
				break;
			case T_AlterEventTrigStmt:
				check_alter_event_trigger((AlterEventTrigStmt *) parsetree);
				break;
			case T_AlterObjectSchemaStmt:
				TombstoneRecordCheckAlterSchema((AlterObjectSchemaStmt *) parsetree);
				break;
			case T_CreateFunctionStmt:
				TombstoneRecordCheckCreateFunction((CreateFunctionStmt *) parsetree);
				break;
			case T_AlterFunctionStmt:
				TombstoneRecordCheckAlterFunction(((AlterFunctionStmt *) parsetree)->objtype,
												  ((AlterFunctionStmt *) parsetree)->func);
				break;
			case T_AlterExtensionContentsStmt:
				TombstoneRecordCheckAlterExtension((AlterExtensionContentsStmt *) parsetree);
				break;
			default:
				break;
		}
	}
	return all_triggers;
}

static void
tombstone_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
						 bool readOnlyTree, ProcessUtilityContext context,
						 ParamListInfo params, QueryEnvironment *queryEnv,
						 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	bool		all_triggers;
	bool		alter_table = IsA(parsetree, AlterTableStmt);
	bool		copy_from = IsA(parsetree, CopyStmt) &&
		((CopyStmt *) parsetree)->is_from;

	/* on a Citus worker: the shards of protected tables */
	TombstoneCitusGuardUtility(parsetree);
	all_triggers = check_utility(parsetree, true);

	/* what the planner and _ri_tolerant() ask (foundation/query.c) */
	if (alter_table)
		TombstoneAlterTableEnter();
	if (copy_from)
		TombstoneCopyFromEnter();
	hook_depth++;
	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
		if (all_triggers)
		{
			Oid			relid = RangeVarGetRelid(((AlterTableStmt *) parsetree)->relation,
												 NoLock, true);

			if (OidIsValid(relid))
				keep_guard_triggers_always(relid);
		}
	}
	PG_FINALLY();
	{
		hook_depth--;
		if (alter_table)
			TombstoneAlterTableLeave();
		if (copy_from)
			TombstoneCopyFromLeave();
	}
	PG_END_TRY();
}

PG_FUNCTION_INFO_V1(tombstone_on_ddl_start);

/*
 * tombstone._on_ddl_start(): event trigger at ddl_command_start, written in
 * C so that calling it loads the library.  With the library preloaded the
 * ProcessUtility hook has checked the statement already; without it (a
 * restart with a mistaken configuration, a restored server) the library is
 * loaded here, which installs the DDL guard's hooks for the rest of the
 * session, and this statement is checked from its parse tree.  Nothing
 * runs after this statement to set triggers back to ALWAYS, so here ENABLE
 * and DISABLE TRIGGER ALL or USER are refused where they reach
 * pg_tombstone's triggers.
 */
Datum
tombstone_on_ddl_start(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by the event trigger manager",
						"tombstone_on_ddl_start")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (hook_depth == 0)
		(void) check_utility(trigdata->parsetree, false);
	PG_RETURN_NULL();
}

/*
 * The relation and name of a trigger, or false when it does not exist.
 */
static bool
trigger_identity(Oid trigoid, Oid *relid, NameData *name)
{
	Relation	tgrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	bool		found = false;

	tgrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(trigoid));
	scan = systable_beginscan(tgrel, TriggerOidIndexId, true, NULL, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_trigger form = (Form_pg_trigger) GETSTRUCT(tup);

		*relid = form->tgrelid;
		*name = form->tgname;
		found = true;
	}
	systable_endscan(scan);
	table_close(tgrel, AccessShareLock);
	return found;
}

/*
 * Check one object about to be deleted.
 */
static void
check_object_drop(Oid classId, Oid objectId, int subId)
{
	if (classId == RelationRelationId)
	{
		const TombstoneRel *trel = TombstoneRelLookup(objectId);
		char	   *colname;

		if (trel == NULL)
		{
			Oid			base;

			/* a history table, or one of its columns (DROP TYPE CASCADE) */
			if (TombstoneRecordKindOf(objectId, &base) != RECORD_HISTORY)
				return;
			if (subId == 0)
				refuse_drop_history(objectId);
			colname = get_attname(objectId, subId, true);
			trel = TombstoneRelLookup(base);

			/*
			 * A cascade (DROP TYPE, DROP DOMAIN) reaching a column the
			 * protected table has too: refused as for that table
			 */
			if (colname != NULL && trel != NULL && is_protected_column(trel, colname))
				refuse_drop_column(base, colname);
			TombstoneRecordRefuse(RECORD_HISTORY, objectId, base,
								  "drop a column of",
								  ERRCODE_TOMBSTONE_HISTORY_DDL);
			return;
		}
		if (subId == 0)
			refuse_drop_table(objectId);
		colname = get_attname(objectId, subId, true);
		if (colname != NULL && is_protected_column(trel, colname))
			refuse_drop_column(objectId, colname);
	}
	else if (classId == TriggerRelationId)
	{
		Oid			relid;
		NameData	name;

		Oid			base;

		if (trigger_identity(objectId, &relid, &name) &&
			TombstoneIsTriggerName(NameStr(name)) &&
			TombstoneRelLookup(relid) == NULL &&
			TombstoneRecordKindOf(relid, &base) == RECORD_HISTORY)
			TombstoneRecordRefuse(RECORD_HISTORY, relid, base, "drop a trigger of",
								  ERRCODE_TOMBSTONE_DROP_TRIGGER);
		if (trigger_identity(objectId, &relid, &name) &&
			TombstoneIsTriggerName(NameStr(name)) &&
			TombstoneRelLookup(relid) != NULL &&
			!TombstoneGuardDdlAllowed(relid))
		{
			remember_refused_drop(relid);
			ereport(ERROR,
					(errcode(ERRCODE_TOMBSTONE_DROP_TRIGGER),
					 errmsg("cannot drop trigger \"%s\" of protected table \"%s\"",
							NameStr(name), get_rel_name(relid)),
					 errdetail("Trigger \"%s\" keeps rows of table \"%s\" from being deleted physically.",
							   NameStr(name), get_rel_name(relid)),
					 errhint(TOMBSTONE_DDL_HINT)));
		}
		/* the guard triggers of a history table, until its table goes */
		if (get_rel_namespace(relid) == get_namespace_oid(TOMBSTONE_HISTORY_SCHEMA, true))
		{
			Oid			base = TombstoneHistoryBase(relid);

			if (!OidIsValid(base) || TombstoneGuardDdlAllowed(base))
				return;
			remember_refused_drop(relid);
			ereport(ERROR,
					(errcode(ERRCODE_TOMBSTONE_DROP_TRIGGER),
					 errmsg("cannot drop trigger \"%s\" of history table \"%s\"",
							NameStr(name), get_rel_name(relid)),
					 errdetail("Trigger \"%s\" keeps the old versions of the rows of table %s from being changed or removed.",
							   NameStr(name), TombstoneQualifiedName(base)),
					 errhint(TOMBSTONE_DDL_HINT)));
		}
	}
	else if (classId == ExtensionRelationId)
	{
		if (objectId == get_extension_oid("pg_tombstone", true) &&
			TombstoneAnyProtected())
			refuse_drop_extension();
	}
	else if (classId == EventTriggerRelationId)
	{
		HeapTuple	tup = SearchSysCache1(EVENTTRIGGEROID,
										  ObjectIdGetDatum(objectId));

		if (HeapTupleIsValid(tup))
		{
			NameData	name = ((Form_pg_event_trigger) GETSTRUCT(tup))->evtname;

			ReleaseSysCache(tup);
			if (TombstoneIsTriggerName(NameStr(name)) &&
				TombstoneAnyProtected())
				refuse_event_trigger_change(NameStr(name), "drop");
		}
	}
}

static void
tombstone_object_access(ObjectAccessType access, Oid classId, Oid objectId,
						int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if (access != OAT_DROP)
		return;
	/* dropped last, after its tables: nothing left to keep */
	if (classId == ExtensionRelationId &&
		objectId == get_extension_oid("pg_tombstone", true) &&
		!OidIsValid(TombstoneCatalogRelid()))
		TombstoneMarkDatabase(false);
	if (OidIsValid(TombstoneCatalogRelid()))
		check_object_drop(classId, objectId, subId);
}

/*
 * Install the hooks, once per backend: from _PG_init, whether the library
 * is preloaded or loaded on demand (by this file's event trigger, or any
 * other function of the extension).
 */
void
TombstoneDdlGuardInit(void)
{
	static bool done = false;

	if (done)
		return;
	done = true;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = tombstone_ProcessUtility;
	prev_object_access_hook = object_access_hook;
	object_access_hook = tombstone_object_access;
}
