/*-------------------------------------------------------------------------
 *
 * ddl_guard.h
 *	  The utility and object-access hooks that refuse destructive DDL.
 *
 * src/mechanisms/ddl_guard.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_DDL_GUARD_H
#define TOMBSTONE_DDL_GUARD_H

extern void TombstoneDdlGuardInit(void);

#endif							/* TOMBSTONE_DDL_GUARD_H */
