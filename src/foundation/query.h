/*-------------------------------------------------------------------------
 *
 * query.h
 *	  What this backend is running (the executor depth, ALTER TABLE, COPY
 *	  FROM), the extension's own queries, direct inserts into the
 *	  extension's tables, and the writes of its own to them.
 *
 * src/foundation/query.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_QUERY_H
#define TOMBSTONE_QUERY_H

#include "access/genam.h"
#include "access/htup.h"
#include "nodes/execnodes.h"
#include "tcop/dest.h"
#include "utils/relcache.h"

extern int	TombstoneExecDepth(void);
extern int	TombstoneExecDepthEnter(void);
extern void TombstoneExecDepthLeave(void);

/* What this backend is running (mechanisms/ddl_guard.c counts them) */
extern void TombstoneAlterTableEnter(void);
extern void TombstoneAlterTableLeave(void);
extern bool TombstoneInAlterTable(void);
extern void TombstoneCopyFromEnter(void);
extern void TombstoneCopyFromLeave(void);
extern bool TombstoneInCopyFrom(void);

extern bool TombstoneRunningInternal(void);
extern bool TombstoneRowFromInternal(void);
extern bool TombstoneStatementFromInternal(void);
extern uint64 TombstoneRunInternal(const char *sql, int nargs, Oid *argtypes,
								   Datum *values, const char *nulls,
								   Oid as_user);
extern uint64 TombstoneRunInternalCustom(const char *sql, int nargs,
										 Oid *argtypes, Datum *values,
										 const char *nulls, Oid as_user);
extern uint64 TombstoneRunInternalTo(const char *sql, int nargs, Oid *argtypes,
									 Datum *values, const char *nulls,
									 Oid as_user, DestReceiver *dest);
extern void TombstoneRunUtilityAs(Oid user, const char *const *cmds, int ncmds);
extern void TombstoneInsertAsOwner(Oid catrelid, const char *sql, int nargs,
								   Oid *argtypes, Datum *values,
								   const char *nulls);
extern void TombstoneInsertTuple(Relation rel, HeapTuple tuple);
extern bool TombstoneIndexOfColumns(const IndexInfo *ii);
extern void TombstoneIndexInsertColumns(Relation idx, IndexInfo *ii,
										Relation heap, ItemPointer tid,
										const Datum *values, const bool *nulls,
										IndexUniqueCheck check);

/* A write of the extension's own to one of its tables */
extern void TombstoneOwnWriteBegin(Oid relid);
extern void TombstoneOwnWriteEnd(void);
extern bool TombstoneOwnWriteAllows(Oid relid);

#endif							/* TOMBSTONE_QUERY_H */
