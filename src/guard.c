/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  The blast-radius guard (placeholder).
 *
 * src/guard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pg_tombstone.h"
