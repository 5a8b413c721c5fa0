/*-------------------------------------------------------------------------
 *
 * purge.c
 *	  Authorised hard deletion of old tombstones (placeholder).
 *
 * src/purge.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pg_tombstone.h"

bool
TombstonePurgeActive(void)
{
	return false;
}

bool
TombstonePurgeAllows(Relation rel, HeapTuple tuple)
{
	return false;
}
