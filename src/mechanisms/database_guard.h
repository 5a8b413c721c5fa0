/*-------------------------------------------------------------------------
 *
 * database_guard.h
 *	  DROP DATABASE of a database where pg_tombstone keeps protected rows,
 *	  and the mark that tells.
 *
 * src/mechanisms/database_guard.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_DATABASE_GUARD_H
#define TOMBSTONE_DATABASE_GUARD_H

#include "nodes/parsenodes.h"

extern void TombstoneDatabaseGuardInit(void);
extern void TombstoneMarkDatabase(bool on);
extern void TombstoneDatabaseCheckDrop(DropdbStmt *stmt);

#endif							/* TOMBSTONE_DATABASE_GUARD_H */
