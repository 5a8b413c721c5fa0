/*-------------------------------------------------------------------------
 *
 * token.c
 *	  Signed change tokens (placeholder; filled in by the token work).
 *
 * src/token.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pg_tombstone.h"
#include "token.h"

void
TombstoneTokenInit(void)
{
}

List *
TombstoneTokensBound(void)
{
	return NIL;
}

bool
TombstoneTokenCoversTable(const TombstoneToken *token, Oid relid)
{
	return false;
}

bool
TombstoneTokenCoversTenant(const TombstoneToken *token, const char *tenant)
{
	return false;
}
