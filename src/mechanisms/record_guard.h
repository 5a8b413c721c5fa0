/*-------------------------------------------------------------------------
 *
 * record_guard.h
 *	  The DDL guard of the record: history tables, the ledger, and the
 *	  extension's own tables, functions and members.
 *
 * src/mechanisms/record_guard.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_RECORD_GUARD_H
#define TOMBSTONE_RECORD_GUARD_H

#include "nodes/parsenodes.h"

/*
 * The tables of the record: what happened to protected rows and who may
 * authorise what.  They are guarded like the protected tables themselves.
 */
typedef enum TombstoneRecordKind
{
	RECORD_NONE,
	RECORD_HISTORY,				/* tombstone_history.<t> of a protected <t> */
	RECORD_LEDGER,				/* tombstone.changes */
	RECORD_OWN					/* tombstone.tables, tenant_registry, keys,
								 * token_uses */
} TombstoneRecordKind;

extern TombstoneRecordKind TombstoneRecordKindOf(Oid relid, Oid *base);
extern void TombstoneRecordRefuse(TombstoneRecordKind kind, Oid relid, Oid base,
								  const char *what, int code);
extern void TombstoneRefuseLedgerTriggerChange(Oid relid, const char *action);
extern void TombstoneRefuseUnlogged(Oid relid, TombstoneRecordKind kind,
									Oid base);

/* Utility statements on the record and the extension's objects */
extern bool TombstoneRecordCheckAlterTable(AlterTableStmt *stmt,
										   TombstoneRecordKind kind,
										   Oid relid, Oid base,
										   bool all_triggers_ok);
extern void TombstoneRecordCheckCreateFunction(CreateFunctionStmt *stmt);
extern void TombstoneRecordCheckAlterFunction(ObjectType objtype,
											  ObjectWithArgs *func);
extern void TombstoneRecordCheckCreateRule(RuleStmt *stmt);
extern void TombstoneRecordCheckAlterSchema(AlterObjectSchemaStmt *stmt);
extern void TombstoneRecordCheckAlterExtension(AlterExtensionContentsStmt *stmt);

#endif							/* TOMBSTONE_RECORD_GUARD_H */
