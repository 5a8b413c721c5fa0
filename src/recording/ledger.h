/*-------------------------------------------------------------------------
 *
 * ledger.h
 *	  The ledger tombstone.changes: one entry per change.
 *
 * src/recording/ledger.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_LEDGER_H
#define TOMBSTONE_LEDGER_H

#include "nodes/pg_list.h"
#include "policy/token.h"

/* One row of a change's tally: what it did to one table and tenant */
typedef struct TombstoneTally
{
	Oid			root;
	char	   *tenant;			/* NULL for a NULL tenant */
	int64		tombstoned;
	int64		restored;
	int64		purged;
	int64		rewound;
} TombstoneTally;

extern Datum TombstoneLedgerRows(List *tally, int64 *tombstoned,
								 int64 *restored, int64 *purged,
								 int64 *rewound);
extern void TombstoneLedgerAppend(int64 id, Oid role, const char *operation,
								  int64 undoes, const char *statement,
								  Datum rows, const TombstoneToken *token);
extern List *TombstoneLedgerTenants(int64 id, Oid root);

#endif							/* TOMBSTONE_LEDGER_H */
