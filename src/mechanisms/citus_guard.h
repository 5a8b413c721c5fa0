/*-------------------------------------------------------------------------
 *
 * citus_guard.h
 *	  The guard of Citus's functions that destroy the shards of a table.
 *
 * src/mechanisms/citus_guard.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_CITUS_GUARD_H
#define TOMBSTONE_CITUS_GUARD_H

#include "nodes/plannodes.h"

extern bool tombstone_citus_purge;

extern void TombstoneCitusGuardInit(void);
extern void TombstoneCitusGuardQuery(Query *parse);
extern void TombstoneCitusGuardShardDml(PlannedStmt *pstmt);
extern void TombstoneCitusGuardUtility(Node *parsetree);

#endif							/* TOMBSTONE_CITUS_GUARD_H */
