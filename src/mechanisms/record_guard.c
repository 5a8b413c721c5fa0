/*-------------------------------------------------------------------------
 *
 * record_guard.c
 *	  The DDL guard of the record: history tables, the ledger, and the
 *	  extension's own tables, functions and members.
 *
 * What pg_tombstone keeps about protected rows is a record that must be
 * trusted as much as the rows themselves: the history tables (old versions
 * of rows, which as_of() and rewind_tenant() read), the ledger
 * tombstone.changes (every change, which undelete_change() undoes), and the
 * extension's own tables (tombstone.tables, tenant_registry, keys,
 * token_uses: what is protected and who may authorise what).  Their rows
 * are guarded by triggers (mechanisms/triggers.c); this file refuses the
 * DDL that would destroy, forge or switch off any of them, for the
 * utility guard of mechanisms/ddl_guard.c, which calls it:
 *
 *	- a history table keeps its guard triggers, columns and column types,
 *	  and its schema; it changes only as its protected table changes (the
 *	  extension's DDL event trigger, a column rename carried over by
 *	  recording/history.c) or with a "ddl" token naming that table;
 *	- the ledger and the extension's tables take only what cannot lose or
 *	  forge a row (storage options, statistics, owner, clustering), and no
 *	  trigger or rule of the user's, which could see, change or swallow the
 *	  rows the extension writes;
 *	- nothing of them may be made UNLOGGED, which PostgreSQL empties after
 *	  a crash (a protected table or its history only with a "ddl" token);
 *	- the functions of schema tombstone and the members of the extension
 *	  are changed only by the extension's own scripts: CREATE OR REPLACE of
 *	  a guard trigger's function would switch the guard off for every table.
 *
 * It is a subsystem of its own, beside the DDL guard of protected tables,
 * because these rules are about the extension's record, not about the
 * user's tables; mechanisms/ddl_guard.c asks here and nothing here calls
 * back.
 *
 * src/mechanisms/record_guard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "nodes/parsenodes.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"

#include "foundation/catalog.h"
#include "foundation/errcodes.h"
#include "foundation/internal.h"
#include "foundation/names.h"
#include "foundation/refuse.h"
#include "policy/guard.h"
#include "mechanisms/record_guard.h"

/* Which table of the record relid is; *base: the table a history keeps. */
TombstoneRecordKind
TombstoneRecordKindOf(Oid relid, Oid *base)
{
	Oid			histnsp;

	*base = InvalidOid;
	if (!OidIsValid(relid))
		return RECORD_NONE;
	if (relid == TombstoneLedgerRelid())
		return RECORD_LEDGER;
	if (TombstoneOwnTable(relid))
		return RECORD_OWN;
	histnsp = get_namespace_oid(TOMBSTONE_HISTORY_SCHEMA, true);
	if (OidIsValid(histnsp) && get_rel_namespace(relid) == histnsp &&
		OidIsValid(*base = TombstoneHistoryBase(relid)))
		return RECORD_HISTORY;
	return RECORD_NONE;
}

/*
 * May a table of the record be changed now?  By the extension's script;
 * a history table also as its protected table changes (the DDL event
 * trigger, a rename carried over), or with a "ddl" token naming the
 * protected table.
 */
static bool
record_change_allowed(TombstoneRecordKind kind, Oid relid, Oid base)
{
	if (TombstoneExtensionScript())
		return true;
	if (kind != RECORD_HISTORY)
		return false;
	return TombstoneOwnCode() || TombstoneHistoryCarriedOver(relid) ||
		TombstoneGuardDdlAllowed(base);
}

/*
 * Refuse "what" (a phrase: "drop a column of") on table relid of the
 * record; code is the SQLSTATE for a history table, whose refusals share
 * the codes of the same refusals on protected tables.
 */
void
TombstoneRecordRefuse(TombstoneRecordKind kind, Oid relid, Oid base,
					  const char *what, int code)
{
	char	   *relname = get_rel_name(relid);

	if (record_change_allowed(kind, relid, base))
		return;
	if (kind == RECORD_LEDGER)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_LEDGER),
				 errmsg("cannot %s the ledger \"%s\"", what, relname),
				 errdetail("Only pg_tombstone appends to the ledger, which records every change to protected tables."),
				 errhint("The ledger can only be appended to by pg_tombstone.")));
	if (kind == RECORD_OWN)
		TombstoneRefuseOwnTableChange(relname, what, true);
	ereport(ERROR,
			(errcode(code),
			 errmsg("cannot %s history table \"%s\"", what, relname),
			 errdetail("History table \"%s\" keeps the old versions of the rows of table %s; only pg_tombstone changes it, as that table changes.",
					   relname, TombstoneQualifiedName(base)),
			 errhint("Change table %s instead, and its history table follows; a change token of operation \"ddl\" naming it authorises changing the history table itself.",
					 TombstoneQualifiedName(base))));
}

/*
 * The guard triggers of the ledger keep it append-only: disabling them,
 * changing their firing, renaming or replacing them is refused, with a
 * token too.
 */
void
TombstoneRefuseLedgerTriggerChange(Oid relid, const char *action)
{
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_LEDGER),
			 errmsg("cannot %s the triggers of the ledger \"%s\"",
					action, get_rel_name(relid)),
			 errdetail("The triggers of the ledger keep it append-only."),
			 errhint("The ledger can only be appended to by pg_tombstone.")));
}

/*
 * ALTER TABLE ... SET UNLOGGED: after a crash PostgreSQL empties an
 * unlogged table.  A protected table needs a "ddl" token naming it, a
 * history table one naming its protected table; the ledger and the
 * extension's other tables are never made unlogged.
 */
void
TombstoneRefuseUnlogged(Oid relid, TombstoneRecordKind kind, Oid base)
{
	char	   *relname = get_rel_name(relid);

	if (TombstoneExtensionScript())
		return;
	if (kind == RECORD_NONE && TombstoneGuardDdlAllowed(relid))
		return;
	if (kind == RECORD_HISTORY && record_change_allowed(kind, relid, base))
		return;
	if (kind == RECORD_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_UNLOGGED),
				 errmsg("cannot make protected table \"%s\" unlogged", relname),
				 errdetail("After a crash PostgreSQL empties an unlogged table: every row of %s, tombstones included, would be lost.",
						   TombstoneQualifiedName(relid)),
				 errhint(TOMBSTONE_DDL_HINT)));
	if (kind == RECORD_HISTORY)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_UNLOGGED),
				 errmsg("cannot make history table \"%s\" unlogged", relname),
				 errdetail("After a crash PostgreSQL empties an unlogged table: the old versions of the rows of table %s would be lost.",
						   TombstoneQualifiedName(base)),
				 errhint("Authorise a change token of operation \"ddl\" naming table %s with tombstone.authorize() in the same transaction.",
						 TombstoneQualifiedName(base))));
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_UNLOGGED),
			 errmsg("cannot make %s \"%s\" of pg_tombstone unlogged",
					get_rel_relkind(relid) == RELKIND_SEQUENCE ? "sequence" : "table",
					relname),
			 errdetail("After a crash PostgreSQL empties an unlogged %s: %s of %s would be lost.",
					   get_rel_relkind(relid) == RELKIND_SEQUENCE ? "sequence" : "table",
					   get_rel_relkind(relid) == RELKIND_SEQUENCE ? "the change ids" : "every row",
					   TombstoneQualifiedName(relid)),
			 errhint("Keep the tables and the sequence of pg_tombstone logged.")));
}

/*
 * ALTER TABLE of a table of the record.  A history table keeps its guard
 * triggers, columns and types; the ledger and the extension's other tables
 * take only what cannot lose or forge a row (storage options, statistics,
 * owner, clustering).  ENABLE or DISABLE TRIGGER ALL or USER, which
 * pg_dump --disable-triggers wraps around each table's data, passes when
 * the ProcessUtility hook runs the statement (all_triggers_ok): it sets
 * pg_tombstone's triggers back to ALWAYS afterwards, and returns true for
 * that.
 */
bool
TombstoneRecordCheckAlterTable(AlterTableStmt *stmt, TombstoneRecordKind kind,
							   Oid relid, Oid base, bool all_triggers_ok)
{
	ListCell   *lc;
	bool		all_triggers = false;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->subtype == AT_SetUnLogged)
		{
			TombstoneRefuseUnlogged(relid, kind, base);
			continue;
		}
		if (all_triggers_ok &&
			(cmd->subtype == AT_DisableTrigAll ||
			 cmd->subtype == AT_DisableTrigUser ||
			 cmd->subtype == AT_EnableTrigAll ||
			 cmd->subtype == AT_EnableTrigUser))
		{
			all_triggers = true;
			continue;
		}
		if (kind == RECORD_HISTORY)
		{
			switch (cmd->subtype)
			{
				case AT_DisableTrig:
				case AT_EnableTrig:
				case AT_EnableReplicaTrig:
					if (TombstoneIsTriggerName(cmd->name))
						TombstoneRecordRefuse(kind, relid, base,
											  "disable or change the firing of a trigger of",
											  ERRCODE_TOMBSTONE_DISABLE_TRIGGER);
					break;
				case AT_DisableTrigAll:
				case AT_DisableTrigUser:
				case AT_EnableTrigAll:
				case AT_EnableTrigUser:
					TombstoneRecordRefuse(kind, relid, base,
										  "disable or change the firing of the triggers of",
										  ERRCODE_TOMBSTONE_DISABLE_TRIGGER);
					break;
				case AT_DropColumn:
					TombstoneRecordRefuse(kind, relid, base, "drop a column of",
										  ERRCODE_TOMBSTONE_HISTORY_DDL);
					break;
				case AT_AlterColumnType:
					TombstoneRecordRefuse(kind, relid, base,
										  "change the type of a column of",
										  ERRCODE_TOMBSTONE_HISTORY_DDL);
					break;
				default:
					break;
			}
			continue;
		}
		switch (cmd->subtype)
		{
			case AT_DisableTrig:
			case AT_EnableTrig:
			case AT_EnableReplicaTrig:
			case AT_DisableTrigAll:
			case AT_DisableTrigUser:
			case AT_EnableTrigAll:
			case AT_EnableTrigUser:
				if (kind == RECORD_LEDGER)
					TombstoneRefuseLedgerTriggerChange(relid,
													   (cmd->subtype == AT_DisableTrig ||
														cmd->subtype == AT_DisableTrigAll ||
														cmd->subtype == AT_DisableTrigUser) ?
													   "disable" : "change the firing of");
				TombstoneRecordRefuse(kind, relid, base,
									  "disable or change the firing of the triggers of",
									  ERRCODE_TOMBSTONE_OWN_OBJECTS);
				break;
			case AT_SetRelOptions:
			case AT_ResetRelOptions:
			case AT_ReplaceRelOptions:
			case AT_SetStatistics:
			case AT_SetStorage:
			case AT_SetCompression:
			case AT_ClusterOn:
			case AT_DropCluster:
			case AT_ChangeOwner:
			case AT_ReplicaIdentity:
			case AT_EnableAlwaysTrig:
				break;
			default:
				TombstoneRecordRefuse(kind, relid, base, "alter",
									  ERRCODE_TOMBSTONE_OWN_OBJECTS);
		}
	}
	return all_triggers;
}

/*
 * The extension's functions and views are replaced or changed only by its
 * script: CREATE OR REPLACE of a guard trigger's function would switch the
 * guard off for every table.
 */
static void
refuse_own_object(const char *what)
{
	if (TombstoneExtensionScript())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_OWN_OBJECTS),
			 errmsg("cannot %s", what),
			 errdetail("The objects of schema %s guard the protected tables; only the extension's own scripts change them.",
					   TOMBSTONE_SCHEMA),
			 errhint("Update the extension with ALTER EXTENSION pg_tombstone UPDATE.")));
}

/* Is function funcid one of the extension's (in its schema)? */
static bool
own_function(Oid funcid)
{
	return OidIsValid(funcid) &&
		get_func_namespace(funcid) == get_namespace_oid(TOMBSTONE_SCHEMA, true);
}

/* CREATE [OR REPLACE] FUNCTION in schema tombstone */
void
TombstoneRecordCheckCreateFunction(CreateFunctionStmt *stmt)
{
	char	   *name;
	Oid			nspid = QualifiedNameGetCreationNamespace(stmt->funcname, &name);

	if (nspid == get_namespace_oid(TOMBSTONE_SCHEMA, true))
		refuse_own_object(psprintf("%s function %s in the schema of pg_tombstone",
								   stmt->replace ? "create or replace" : "create",
								   quote_qualified_identifier(TOMBSTONE_SCHEMA, name)));
}

/* ALTER, RENAME or SET SCHEMA of a function of schema tombstone */
void
TombstoneRecordCheckAlterFunction(ObjectType objtype, ObjectWithArgs *func)
{
	Oid			funcid = LookupFuncWithArgs(objtype, func, true);

	if (own_function(funcid))
		refuse_own_object(psprintf("alter function %s of pg_tombstone",
								   format_procedure(funcid)));
}

/* CREATE RULE on the ledger or one of the extension's tables */
void
TombstoneRecordCheckCreateRule(RuleStmt *stmt)
{
	Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	Oid			base;
	TombstoneRecordKind kind = TombstoneRecordKindOf(relid, &base);

	if (kind == RECORD_OWN || kind == RECORD_LEDGER)
		TombstoneRecordRefuse(kind, relid, base, "create a rule on",
							  ERRCODE_TOMBSTONE_OWN_OBJECTS);
}

/* ALTER TABLE ... SET SCHEMA of a table of the record, ALTER FUNCTION ... SET SCHEMA */
void
TombstoneRecordCheckAlterSchema(AlterObjectSchemaStmt *stmt)
{
	if (stmt->objectType == OBJECT_TABLE && stmt->relation != NULL)
	{
		Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
		Oid			base;
		TombstoneRecordKind kind = TombstoneRecordKindOf(relid, &base);

		if (kind != RECORD_NONE)
			TombstoneRecordRefuse(kind, relid, base, "move to another schema",
								  kind == RECORD_HISTORY ? ERRCODE_TOMBSTONE_HISTORY_DDL :
								  ERRCODE_TOMBSTONE_OWN_OBJECTS);
	}
	else if (stmt->objectType == OBJECT_FUNCTION ||
			 stmt->objectType == OBJECT_PROCEDURE ||
			 stmt->objectType == OBJECT_ROUTINE)
		TombstoneRecordCheckAlterFunction(stmt->objectType,
										  castNode(ObjectWithArgs, stmt->object));
}

/* ALTER EXTENSION pg_tombstone ADD/DROP: only its scripts change its members */
void
TombstoneRecordCheckAlterExtension(AlterExtensionContentsStmt *stmt)
{
	if (strcmp(stmt->extname, "pg_tombstone") == 0)
		refuse_own_object(stmt->action > 0 ? "add a member to extension pg_tombstone" :
						  "remove a member from extension pg_tombstone");
}
