/*-------------------------------------------------------------------------
 *
 * cascade.h
 *	  What tombstoning or restoring a row does to other rows: foreign-key
 *	  cascades and checks between protected tables, and tenant deletion.
 *
 * src/mechanisms/cascade.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_CASCADE_H
#define TOMBSTONE_CASCADE_H

#include "access/htup.h"
#include "nodes/pg_list.h"
#include "utils/relcache.h"

extern void TombstoneCascadeInit(void);

/* The row trigger queues the rows that other rows depend on */
extern bool TombstonePendingWanted(Relation rel, bool tombstoned);
extern void TombstonePendingAdd(Relation rel, HeapTuple oldtup,
								bool tombstoned);

/* ... and the executor works them off when their query has finished */
extern void TombstonePendingProcess(int level);

/* rewind_tenant() and undelete_change() restore without cascading */
extern void TombstoneCascadeRestores(bool on);

/* The protected roots, parents (referenced tables) first or last */
extern List *TombstoneRootsInOrder(bool parents_first);

#endif							/* TOMBSTONE_CASCADE_H */
