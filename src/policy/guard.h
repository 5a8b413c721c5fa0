/*-------------------------------------------------------------------------
 *
 * guard.h
 *	  The blast-radius guard: which changes need a signed change token.
 *
 * src/policy/guard.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_GUARD_H
#define TOMBSTONE_GUARD_H

#include "nodes/pg_list.h"
#include "policy/token.h"

extern void TombstoneGuardInit(void);
extern void TombstoneGuardRow(Oid root, const char *tenant, bool registry,
							  int64 change);
extern bool TombstoneGuardDdlAllowed(Oid relid);
extern void TombstoneGuardCharge(int64 rows, const char *what);
extern const TombstoneToken *TombstoneGuardTokenFor(int64 change);
extern void TombstoneGuardRequireRewind(List *roots, const char *tenant);
extern void TombstoneGuardRewindDone(int64 change);
extern char *TombstoneGuardWho(void);

#endif							/* TOMBSTONE_GUARD_H */
