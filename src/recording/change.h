/*-------------------------------------------------------------------------
 *
 * change.h
 *	  The change of the current statement: its id, its rows per table and
 *	  tenant, and its ledger entry.
 *
 * src/recording/change.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_CHANGE_H
#define TOMBSTONE_CHANGE_H

#include "nodes/pg_list.h"
#include "recording/ledger.h"

extern void TombstoneChangeInit(void);

/* Counting rows */
extern int64 TombstoneChangeOpen(void);
extern int64 TombstoneChangeOpenRow(void);
extern int64 TombstoneChangeOpenStatement(bool from_internal);
extern int64 TombstoneChangeId(void);
extern bool TombstoneChangeIsPreview(void);
extern void TombstoneChangeCount(Oid root, const char *tenant, bool tombstoned);
extern void TombstoneChangeAddPurged(Oid root, const char *tenant, int64 rows);
extern void TombstoneChangeAddRewound(Oid root, const char *tenant, int64 rows);
extern void TombstoneChangeRecountLater(void);
extern void TombstoneChangeCountFromTable(Oid root);

/* An undelete, rewind or purge makes a change of its own */
extern void *TombstoneChangeBegin(const char *operation, int64 undoes);
extern void TombstoneChangeEnd(void *scope);

/* What the change is */
extern void TombstoneChangeMarkTenantDeleted(void);
extern void TombstoneChangeSetTopUnprotectedDelete(bool unprotected_delete);

/* What it did so far (List of TombstoneTally) */
extern int64 TombstoneChangeRows(Oid root, bool tombstoned);
extern List *TombstoneChangeTally(void);

/* Statement boundaries */
extern void TombstoneChangeLevelDone(int depth);
extern void TombstoneChangeClose(void);

/* preview(): a change of its own, rolled back */
extern void *TombstoneChangeSuspend(bool preview);
extern void TombstoneChangeResume(void *saved);

#endif							/* TOMBSTONE_CHANGE_H */
