/*-------------------------------------------------------------------------
 *
 * observe.c
 *	  Refusal counters (placeholder).
 *
 * src/observe.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pg_tombstone.h"

void
TombstoneObserveInit(void)
{
}
