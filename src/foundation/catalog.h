/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  Which relations are protected or can be, and the extension's own
 *	  relations.
 *
 * src/foundation/catalog.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_CATALOG_H
#define TOMBSTONE_CATALOG_H

#include "access/attnum.h"
#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "utils/relcache.h"

/*
 * What the backend knows about one protected relation.  Attribute numbers
 * are those of this relation (a partition may number its columns differently
 * from its parent).
 */
typedef struct TombstoneRel
{
	Oid			relid;			/* hash key */
	bool		is_protected;	/* false: a cached negative answer */
	Oid			parent;			/* protected through this ancestor, or InvalidOid */
	Oid			root;			/* parent if valid, else relid */
	AttrNumber	deleted_at_attno;
	AttrNumber	deleted_change_attno;
	AttrNumber	tenant_attno;
	NameData	tenant_column;
	Oid			history_relid;	/* the root's history table, or InvalidOid */
	AttrNumber	valid_from_attno;	/* with history: start of the row's validity */
	Interval	retention;		/* of the root */
	TimestampTz history_since;	/* the root's protected_at: history begins */
	char		citus_method;	/* Citus partmethod, '\0': not a Citus table */
	AttrNumber	citus_dist_attno;	/* the column Citus distributes it by */
} TombstoneRel;

extern void TombstoneCatalogInit(void);
extern const TombstoneRel *TombstoneRelLookup(Oid relid);
extern Oid	TombstoneCatalogRelid(void);
extern bool TombstoneAnyProtected(void);
extern Oid	TombstoneFindProtected(bool (*match) (Oid relid, void *arg),
								   void *arg);
extern List *TombstoneProtectedRoots(void);
extern Oid	TombstoneHistoryBase(Oid histrelid);
extern Oid	TombstoneLedgerRelid(void);
extern Oid	TombstoneLedgerSeqRelid(void);
extern Oid	TombstoneRelationOwner(Oid relid);
extern char *TombstoneQualifiedName(Oid relid);
extern char **TombstoneColumnNames(Oid relid, Datum keys, int *nkeys);
extern bool TombstoneOwnTable(Oid relid);

/* Which relations can be protected */
extern char *TombstoneRelationArg(Oid relid, const char *funcname);
extern void TombstoneCheckProtectable(Oid relid, const char *funcname);
extern void TombstoneCheckRegistration(Oid relid, const char *tenant_column,
									   bool history, Oid parent,
									   Oid history_table);
extern bool TombstoneRelationIsEmpty(Relation rel);
extern bool TombstoneRelationHasNoRows(Relation rel);

#endif							/* TOMBSTONE_CATALOG_H */
