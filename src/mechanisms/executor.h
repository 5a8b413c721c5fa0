/*-------------------------------------------------------------------------
 *
 * executor.h
 *	  The executor hooks: statement boundaries, and statements without the
 *	  row trigger.
 *
 * src/mechanisms/executor.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_EXECUTOR_H
#define TOMBSTONE_EXECUTOR_H

extern void TombstoneExecutorInit(void);

#endif							/* TOMBSTONE_EXECUTOR_H */
