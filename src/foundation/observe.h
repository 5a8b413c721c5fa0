/*-------------------------------------------------------------------------
 *
 * observe.h
 *	  Refusal counters in shared memory.
 *
 * src/foundation/observe.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_OBSERVE_H
#define TOMBSTONE_OBSERVE_H

extern void TombstoneObserveInit(void);

#endif							/* TOMBSTONE_OBSERVE_H */
