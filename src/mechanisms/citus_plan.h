/*-------------------------------------------------------------------------
 *
 * citus_plan.h
 *	  What the planner hook adds to a statement on a Citus table.
 *
 * src/mechanisms/citus_plan.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_CITUS_PLAN_H
#define TOMBSTONE_CITUS_PLAN_H

#include "nodes/parsenodes.h"
#include "foundation/catalog.h"

extern TargetEntry *TombstoneCitusChangeTarget(const TombstoneRel *trel,
											   Expr *tenant);
extern TargetEntry *TombstoneChangeCallTarget(Oid funcid,
											  const TombstoneRel *trel,
											  Expr *tenant);
extern Expr *TombstoneCitusPinnedTenant(Query *query, const TombstoneRel *trel);

#endif							/* TOMBSTONE_CITUS_PLAN_H */
