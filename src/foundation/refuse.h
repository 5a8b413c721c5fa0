/*-------------------------------------------------------------------------
 *
 * refuse.h
 *	  Refusals raised alike from several subsystems.
 *
 * src/foundation/refuse.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_REFUSE_H
#define TOMBSTONE_REFUSE_H

#include "foundation/errcodes.h"

/*
 * Hint shared by the refusals that a change token of operation "ddl"
 * authorises (policy/guard.c).
 */
#define TOMBSTONE_DDL_HINT \
	"Authorise a change token of operation \"ddl\" naming the table with tombstone.authorize() in the same transaction."

extern void TombstoneRequirePreloaded(const char *relname);
extern void TombstoneRefuseNotPreloaded(const char *detail) pg_attribute_noreturn();
extern void TombstoneRefuseTruncate(const char *relname) pg_attribute_noreturn();
extern void TombstoneRefuseOwnTableChange(const char *relname, const char *what,
										  bool ddl) pg_attribute_noreturn();

#endif							/* TOMBSTONE_REFUSE_H */
