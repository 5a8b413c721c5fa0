/*-------------------------------------------------------------------------
 *
 * inval.h
 *	  One invalidation dispatcher for every subsystem that caches catalog
 *	  information.
 *
 * src/foundation/inval.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_INVAL_H
#define TOMBSTONE_INVAL_H

/* Called with the relation invalidated, or InvalidOid for all of them */
typedef void (*TombstoneRelcacheInval) (Oid relid);

/* Called with the hash value of the invalidated entry (0: all entries) */
typedef void (*TombstoneSyscacheInval) (uint32 hashvalue);

extern void TombstoneOnRelcacheInval(TombstoneRelcacheInval func);
extern void TombstoneOnSyscacheInval(int cacheid, TombstoneSyscacheInval func);

#endif							/* TOMBSTONE_INVAL_H */
