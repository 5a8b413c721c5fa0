/*-------------------------------------------------------------------------
 *
 * permit.h
 *	  The physical delete of an authorised purge.
 *
 * src/policy/permit.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_PERMIT_H
#define TOMBSTONE_PERMIT_H

#include "access/htup.h"
#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "utils/relcache.h"

/* What one DELETE of a purge may remove */
typedef struct TombstonePermit
{
	Oid			root;			/* tombstones of this protected root */
	bool		by_tenant;		/* purge_tenant(): regardless of retention */
	TimestampTz cutoff;			/* otherwise: tombstoned before this */
	const char *tenant;			/* only this tenant's rows, or NULL */
	List	   *tenants;		/* tenants the tokens cover (char *) */
	bool		null_tenant;	/* rows with a NULL tenant are covered */
	Oid			history_relid;	/* or: old versions in this history table */
} TombstonePermit;

extern void TombstonePermitGrant(const TombstonePermit *granted);
extern void TombstonePermitRevoke(void);
extern bool TombstonePermitActive(void);
extern bool TombstonePermitPlanning(void);
extern bool TombstonePermitAllowsRow(Relation rel, HeapTuple tuple);
extern bool TombstonePermitAllowsHistory(Oid histrelid);

#endif							/* TOMBSTONE_PERMIT_H */
