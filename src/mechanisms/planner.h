/*-------------------------------------------------------------------------
 *
 * planner.h
 *	  The planner hooks: DELETE becomes a tombstone, tombstones are hidden.
 *
 * src/mechanisms/planner.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_PLANNER_H
#define TOMBSTONE_PLANNER_H

extern void TombstonePlannerInit(void);

#endif							/* TOMBSTONE_PLANNER_H */
