/*-------------------------------------------------------------------------
 *
 * fkgraph.c
 *	  The graph of foreign keys between protected tables, and the order of
 *	  the protected roots it gives.
 *
 * A tombstone is an UPDATE, so PostgreSQL's ON DELETE actions never fire
 * for it; mechanisms/cascade.c acts for them, and asks here which foreign
 * keys link protected tables: the referencing and referenced table, the
 * action, the columns on both sides, and the columns an ON DELETE SET NULL
 * / SET DEFAULT sets.  The same graph orders the protected roots, parents
 * (referenced tables) first or children first, for the operations that
 * walk every table of a tenant or a change (a tenant deletion, undelete,
 * rewind and purge).
 *
 * The foreign keys are read from pg_constraint once and kept, in
 * CacheMemoryContext, until a relcache invalidation (foundation/inval.c);
 * whoever keeps a link across queries that may process invalidations works
 * from a copy (TombstoneFkLinkCopy()).
 *
 * src/mechanisms/fkgraph.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_constraint.h"
#include "utils/array.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "foundation/catalog.h"
#include "foundation/inval.h"
#include "mechanisms/fkgraph.h"

/* What is known about the protected tables as a whole. */
typedef struct Graph
{
	bool		valid;
	List	   *links;			/* TombstoneFkLink */
	List	   *roots_children_first;
	List	   *roots_parents_first;
} Graph;

static MemoryContext graph_cxt = NULL;
static Graph graph;
static uint64 graph_generation = 0;

/* Any relcache invalidation: read the graph again when next asked. */
static void
graph_invalidate(Oid relid)
{
	graph.valid = false;
	graph_generation++;
}

/*
 * Order the protected roots so that a table comes after every protected
 * table it references (parents first), breaking cycles by OID.
 */
static void
order_roots(List *roots)
{
	List	   *done = NIL;
	List	   *left = list_copy(roots);

	while (left != NIL)
	{
		ListCell   *lc;
		Oid			next = InvalidOid;

		foreach(lc, left)
		{
			Oid			r = lfirst_oid(lc);
			bool		ready = true;
			ListCell   *l2;

			foreach(l2, graph.links)
			{
				TombstoneFkLink *link = lfirst(l2);
				const TombstoneRel *c = TombstoneRelLookup(link->child);
				const TombstoneRel *p = TombstoneRelLookup(link->parent);

				if (c && p && c->root == r && p->root != r &&
					list_member_oid(left, p->root))
				{
					ready = false;
					break;
				}
			}
			if (ready)
			{
				next = r;
				break;
			}
		}
		if (!OidIsValid(next))
			next = linitial_oid(left);	/* a cycle */
		done = lappend_oid(done, next);
		left = list_delete_oid(left, next);
	}
	graph.roots_parents_first = done;
	graph.roots_children_first = NIL;
	{
		ListCell   *lc;

		foreach(lc, done)
			graph.roots_children_first = lcons_oid(lfirst_oid(lc),
												   graph.roots_children_first);
	}
}

/*
 * Read the foreign keys between protected tables from pg_constraint (those
 * of partitions are their parent's), unless the graph is still valid.
 */
static void
graph_build(void)
{
	Relation	conrel;
	SysScanDesc scan;
	HeapTuple	tup;
	MemoryContext oldcxt;
	uint64		generation;

again:
	if (graph.valid)
		return;
	TombstoneOnRelcacheInval(graph_invalidate);
	generation = graph_generation;
	if (graph_cxt == NULL)
		graph_cxt = AllocSetContextCreate(CacheMemoryContext,
										  "pg_tombstone foreign keys",
										  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(graph_cxt);
	memset(&graph, 0, sizeof(graph));
	oldcxt = MemoryContextSwitchTo(graph_cxt);

	conrel = table_open(ConstraintRelationId, AccessShareLock);
	scan = systable_beginscan(conrel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);
		TombstoneFkLink *link;
		bool		isnull;
		Datum		d;

		if (con->contype != CONSTRAINT_FOREIGN || OidIsValid(con->conparentid))
			continue;
		if (TombstoneRelLookup(con->conrelid) == NULL ||
			TombstoneRelLookup(con->confrelid) == NULL)
			continue;
		link = palloc0(sizeof(TombstoneFkLink));
		link->conoid = con->oid;
		link->conname = pstrdup(NameStr(con->conname));
		link->child = con->conrelid;
		link->parent = con->confrelid;
		link->deltype = con->confdeltype;
		d = heap_getattr(tup, Anum_pg_constraint_conkey,
						 RelationGetDescr(conrel), &isnull);
		link->child_cols = TombstoneColumnNames(con->conrelid, d, &link->nkeys);
		d = heap_getattr(tup, Anum_pg_constraint_confkey,
						 RelationGetDescr(conrel), &isnull);
		link->parent_cols = TombstoneColumnNames(con->confrelid, d, &link->nkeys);
		d = heap_getattr(tup, Anum_pg_constraint_confdelsetcols,
						 RelationGetDescr(conrel), &isnull);
		if (!isnull && ARR_DIMS(DatumGetArrayTypeP(d))[0] > 0)
			link->set_cols = TombstoneColumnNames(con->conrelid, d,
												  &link->nsetcols);
		else
		{
			link->set_cols = link->child_cols;
			link->nsetcols = link->nkeys;
		}
		graph.links = lappend(graph.links, link);
	}
	systable_endscan(scan);
	table_close(conrel, AccessShareLock);

	order_roots(TombstoneProtectedRoots());
	MemoryContextSwitchTo(oldcxt);
	/* an invalidation that arrived while reading means: read again */
	graph.valid = (generation == graph_generation);
	if (!graph.valid)
		goto again;
}

/*
 * The protected roots, parents (referenced tables) first, or children
 * first; valid until the next invalidation.
 */
List *
TombstoneRootsInOrder(bool parents_first)
{
	graph_build();
	return parents_first ? graph.roots_parents_first : graph.roots_children_first;
}

/*
 * The foreign keys between protected tables (TombstoneFkLink *); the list
 * and the links are valid until the next invalidation.
 */
List *
TombstoneFkLinks(void)
{
	graph_build();
	return graph.links;
}

/*
 * A copy of orig in the current memory context: the queries that work off
 * mechanisms/cascade.c's queue may process invalidations that rebuild the graph.
 */
TombstoneFkLink *
TombstoneFkLinkCopy(const TombstoneFkLink *orig)
{
	TombstoneFkLink *link = palloc(sizeof(TombstoneFkLink));
	int			i;

	*link = *orig;
	link->conname = pstrdup(orig->conname);
	link->child_cols = palloc(sizeof(char *) * orig->nkeys);
	link->parent_cols = palloc(sizeof(char *) * orig->nkeys);
	for (i = 0; i < orig->nkeys; i++)
	{
		link->child_cols[i] = pstrdup(orig->child_cols[i]);
		link->parent_cols[i] = pstrdup(orig->parent_cols[i]);
	}
	link->set_cols = palloc(sizeof(char *) * orig->nsetcols);
	for (i = 0; i < orig->nsetcols; i++)
		link->set_cols[i] = pstrdup(orig->set_cols[i]);
	return link;
}

/* Follow relcache invalidations; from _PG_init. */
void
TombstoneFkGraphInit(void)
{
	TombstoneOnRelcacheInval(graph_invalidate);
}
