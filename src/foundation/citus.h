/*-------------------------------------------------------------------------
 *
 * citus.h
 *	  What pg_tombstone knows about Citus, read at run time from Citus's
 *	  catalog (no link-time dependency).
 *
 * src/foundation/citus.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_CITUS_H
#define TOMBSTONE_CITUS_H

#include "access/attnum.h"

/* partmethod of a table distributed by hash (the others: see citus.c) */
#define TOMBSTONE_CITUS_HASH		'h'

extern bool TombstoneCitusInstalled(void);
extern bool TombstoneCitusPresent(void);
extern bool TombstoneCitusDestructive(Oid funcid);
extern void TombstoneCitusCoordinate(void);
extern bool TombstoneCitusTrustedBackend(void);
extern void TombstoneCitusRelation(Oid relid, char *method,
								   AttrNumber *dist_attno);

#endif							/* TOMBSTONE_CITUS_H */
