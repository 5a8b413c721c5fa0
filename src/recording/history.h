/*-------------------------------------------------------------------------
 *
 * history.h
 *	  The row history writer.
 *
 * src/recording/history.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_HISTORY_H
#define TOMBSTONE_HISTORY_H

#include "access/htup.h"
#include "fmgr.h"
#include "nodes/execnodes.h"
#include "nodes/primnodes.h"
#include "utils/relcache.h"

extern void TombstoneHistoryInit(void);

/* The BEFORE UPDATE row trigger's part */
extern HeapTuple TombstoneHistoryWrite(FmgrInfo *flinfo, Relation rel,
									   HeapTuple oldtup, HeapTuple newtup);

/* The purge's dropping of the versions tombstones in place carry */
extern void TombstoneHistoryDropCarried(bool on);

/* An UPDATE without the row trigger, at its statement's boundaries */
extern void TombstoneVersionStart(EState *estate, Relation rel,
								  const FuncExpr *call, bool tombstoning,
								  const AttrNumber *attnos);
extern void *TombstoneVersionRunBegin(EState *estate);
extern void TombstoneVersionRunEnd(void *prev);
extern void TombstoneVersionFinish(EState *estate);

/* ALTER TABLE ... RENAME COLUMN of a protected table */
extern void TombstoneHistoryRenameColumn(Oid relid, const char *oldname,
										 const char *newname);

#endif							/* TOMBSTONE_HISTORY_H */
