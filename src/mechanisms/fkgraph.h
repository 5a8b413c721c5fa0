/*-------------------------------------------------------------------------
 *
 * fkgraph.h
 *	  The graph of foreign keys between protected tables, and the order of
 *	  the protected roots it gives.
 *
 * src/mechanisms/fkgraph.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_FKGRAPH_H
#define TOMBSTONE_FKGRAPH_H

#include "nodes/pg_list.h"

/* A foreign key between two protected tables */
typedef struct TombstoneFkLink
{
	Oid			conoid;
	char	   *conname;
	Oid			child;			/* referencing table (conrelid) */
	Oid			parent;			/* referenced table (confrelid) */
	char		deltype;		/* confdeltype */
	int			nkeys;
	char	  **child_cols;
	char	  **parent_cols;
	int			nsetcols;		/* ON DELETE SET NULL / SET DEFAULT: columns */
	char	  **set_cols;		/* it sets (all child_cols unless named) */
} TombstoneFkLink;

extern void TombstoneFkGraphInit(void);

/* The links (TombstoneFkLink *), valid until the next invalidation */
extern List *TombstoneFkLinks(void);

/* A copy of a link in the current memory context, to outlive the graph */
extern TombstoneFkLink *TombstoneFkLinkCopy(const TombstoneFkLink *orig);

/* The protected roots, parents (referenced tables) first or last */
extern List *TombstoneRootsInOrder(bool parents_first);

#endif							/* TOMBSTONE_FKGRAPH_H */
