/*-------------------------------------------------------------------------
 *
 * internal.h
 *	  The extension's own code paths: which of its functions may call the
 *	  internal ones, and which column renames of history tables are its own.
 *
 * src/foundation/internal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_INTERNAL_H
#define TOMBSTONE_INTERNAL_H

extern void TombstoneInternalInit(void);

/* Calls of the entry points (protect(), unprotect(), the event triggers) */
extern bool TombstoneOwnCode(void);
extern void TombstoneRequireOwnCode(const char *funcname);
extern bool TombstoneExtensionScript(void);

/* A column rename the extension carries over to a history table */
extern void TombstoneHistoryCarryOver(Oid histrelid);
extern bool TombstoneHistoryCarriedOver(Oid histrelid);

#endif							/* TOMBSTONE_INTERNAL_H */
