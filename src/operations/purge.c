/*-------------------------------------------------------------------------
 *
 * purge.c
 *	  Authorised hard deletion of tombstones: tombstone.purge() removes rows
 *	  tombstoned for longer than their table's retention, and
 *	  tombstone.purge_tenant() erases every tombstoned row of one tenant.
 *
 * Rows of a protected table leave it physically only here, and only once
 * they are tombstones: a live row is never removed.  Every call needs a
 * change token of operation "purge" bound to the transaction whose "tables"
 * cover every table and whose "tenants" cover every tenant that has rows to
 * remove, and whose "max_rows" (if any) is not exceeded by the total.  The
 * order of work is what makes a refusal change nothing:
 *
 *	1. count, per table and tenant, with one grouped query per table, the
 *	   rows that would go (and those that stay because other rows still
 *	   reference them, and, for purge_tenant(), the tenant's live rows);
 *	2. check the counts against the bound tokens and charge their budget;
 *	3. delete, table by table, children before parents.
 *
 * The token is the authority, not the caller's privileges: the counting and
 * deleting queries run as the owner of each table (as PostgreSQL's own
 * referential actions do), so the calling role needs no DELETE privilege.
 *
 * A row that some other row still references through a foreign key (from
 * any table, protected or not) is kept and reported in a NOTICE, unless the
 * referencing row goes in the same call: the condition is built recursively
 * down the foreign keys (a cycle, or more than PURGE_MAX_DEPTH levels, counts
 * as "stays").  So PostgreSQL's ON DELETE actions never fire from a purge:
 * no cascade reaches a protected child, and no unprotected row is removed
 * along with a purged parent.  A self-referencing table loses one level of
 * such a chain per call.
 *
 * How the physical DELETE gets through: while this file runs one of its own
 * DELETEs it holds a permit (policy/permit.c) saying what that DELETE may
 * remove.  The planner leaves a DELETE physical only when its text starts
 * with TOMBSTONE_INTERNAL_QUERY and the permit's DELETE is being planned;
 * the BEFORE DELETE guard trigger (mechanisms/triggers.c) then lets a row go
 * only if the permit covers it: a row of the table being purged, at the
 * executor depth of the purge's own DELETE, tombstoned, older than the
 * cutoff (purge) or of the tenant being erased (purge_tenant), and of a
 * tenant the token covers.  The permit ends when the DELETE ends, also by
 * error, and at the end of the transaction.
 *
 * A purge is one change on the ledger, of operation "purge", with the rows
 * removed per table and tenant.  The old versions of the purged tables'
 * rows go from their history tables in the same call, under the same kind
 * of permit: versions that ended before the retention cutoff, or for
 * purge_tenant() every version of the tenant.
 *
 * src/operations/purge.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "catalog/partition.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "foundation/catalog.h"
#include "foundation/errcodes.h"
#include "foundation/names.h"
#include "foundation/query.h"
#include "foundation/refuse.h"
#include "foundation/settings.h"
#include "foundation/tenant.h"
#include "policy/guard.h"
#include "policy/permit.h"
#include "policy/token.h"
#include "recording/change.h"
#include "recording/history.h"
#include "mechanisms/fkgraph.h"

PG_FUNCTION_INFO_V1(tombstone_purge);
PG_FUNCTION_INFO_V1(tombstone_purge_tenant);

/* foreign keys followed when deciding whether a referencing row stays */
#define PURGE_MAX_DEPTH		8

/* items named in a refusal's detail before "and N more" */
#define PURGE_DETAIL_ITEMS	10

/* A foreign key (the top-level constraint, not a partition's clone) */
typedef struct PurgeFk
{
	Oid			conrelid;		/* referencing table */
	Oid			confrelid;		/* referenced table */
	int			nkeys;
	char	  **child_cols;
	char	  **parent_cols;
} PurgeFk;

/* The cutoff of one protected root: now() minus its retention */
typedef struct PurgeCutoff
{
	Oid			root;
	TimestampTz cutoff;
} PurgeCutoff;

/* What one call purges */
typedef struct PurgeScope
{
	const char *funcname;
	bool		by_tenant;		/* purge_tenant(): regardless of retention */
	const char *tenant;			/* only this tenant's rows, or NULL */
	bool		all_tables;		/* every protected table */
	List	   *tables;			/* otherwise these (a table and its
								 * descendants) */
	List	   *fks;			/* PurgeFk, every foreign key of the database */
	List	   *cutoffs;		/* PurgeCutoff */
} PurgeScope;

/* One internal query under construction: its text and parameters */
typedef struct PurgeQuery
{
	StringInfoData sql;
	int			nparams;
	int			maxparams;
	Oid		   *argtypes;
	Datum	   *values;
	char	   *nulls;
	Oid		   *param_root;		/* the root whose cutoff a parameter is */
	int			naliases;
} PurgeQuery;

/* Rows of one table and tenant */
typedef struct PurgeGroup
{
	Oid			target;			/* the table purged (a root, or what the
								 * caller named) */
	Oid			root;
	char	   *tenant;			/* NULL for a NULL tenant */
	int64		purgeable;		/* tombstones that would go */
	int64		kept;			/* tombstones still referenced */
	int64		live;			/* purge_tenant(): live rows of the tenant */
	int64		purged;			/* removed in the end */
	int64		carried;		/* of them, tombstones in place: the live
								 * version each carried went with it */
	TombstoneToken *token;		/* the token charged with them */
} PurgeGroup;

/*-------------------------------------------------------------------------
 * Building the queries
 *-------------------------------------------------------------------------
 */

/*
 * Every foreign key of the database (top-level constraints only: the clones
 * a partitioned table gives its partitions say nothing more).
 */
static List *
read_foreign_keys(void)
{
	Relation	conrel;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *fks = NIL;

	conrel = table_open(ConstraintRelationId, AccessShareLock);
	scan = systable_beginscan(conrel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);
		PurgeFk    *fk;
		bool		isnull;
		Datum		d;

		if (con->contype != CONSTRAINT_FOREIGN || OidIsValid(con->conparentid))
			continue;
		fk = palloc0(sizeof(PurgeFk));
		fk->conrelid = con->conrelid;
		fk->confrelid = con->confrelid;
		d = heap_getattr(tup, Anum_pg_constraint_conkey,
						 RelationGetDescr(conrel), &isnull);
		fk->child_cols = TombstoneColumnNames(con->conrelid, d, &fk->nkeys);
		d = heap_getattr(tup, Anum_pg_constraint_confkey,
						 RelationGetDescr(conrel), &isnull);
		fk->parent_cols = TombstoneColumnNames(con->confrelid, d, &fk->nkeys);
		fks = lappend(fks, fk);
	}
	systable_endscan(scan);
	table_close(conrel, AccessShareLock);
	return fks;
}

/*
 * The cutoff of a protected root: the transaction's start (now()) minus
 * the retention recorded by protect().
 */
static TimestampTz
root_cutoff(PurgeScope *scope, Oid root)
{
	ListCell   *lc;
	PurgeCutoff *c;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	bool		isnull;
	Datum		retention;
	MemoryContext oldcxt;

	foreach(lc, scope->cutoffs)
	{
		c = lfirst(lc);
		if (c->root == root)
			return c->cutoff;
	}
	values[0] = ObjectIdGetDatum(root);
	if (TombstoneRunInternal(TOMBSTONE_INTERNAL_QUERY
							 "SELECT t.retention FROM tombstone.tables t WHERE t.relid = $1",
							 1, argtypes, values, NULL, InvalidOid) != 1)
		elog(ERROR, "protected table %u has no retention", root);
	retention = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
							  &isnull);
	if (isnull)
		elog(ERROR, "protected table %u has no retention", root);

	oldcxt = MemoryContextSwitchTo(GetMemoryChunkContext(scope));
	c = palloc(sizeof(PurgeCutoff));
	c->root = root;
	c->cutoff = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
														TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
														retention));
	scope->cutoffs = lappend(scope->cutoffs, c);
	MemoryContextSwitchTo(oldcxt);
	return c->cutoff;
}

static void
query_init(PurgeQuery *q, const char *tenant)
{
	int			n = list_length(TombstoneRootsInOrder(false)) + 4;

	initStringInfo(&q->sql);
	appendStringInfoString(&q->sql, TOMBSTONE_INTERNAL_QUERY);
	q->maxparams = n;
	q->argtypes = palloc(sizeof(Oid) * n);
	q->values = palloc(sizeof(Datum) * n);
	q->nulls = palloc(sizeof(char) * n);
	q->param_root = palloc(sizeof(Oid) * n);
	q->naliases = 0;

	/* $1 is always the tenant (NULL when there is no tenant filter) */
	q->argtypes[0] = TEXTOID;
	q->values[0] = tenant ? CStringGetTextDatum(tenant) : (Datum) 0;
	q->nulls[0] = tenant ? ' ' : 'n';
	q->param_root[0] = InvalidOid;
	q->nparams = 1;
}

static int
query_param(PurgeQuery *q, Oid type, Datum value, Oid root)
{
	int			i;

	if (OidIsValid(root))
		for (i = 0; i < q->nparams; i++)
			if (q->param_root[i] == root)
				return i + 1;
	if (q->nparams >= q->maxparams)
	{
		q->maxparams *= 2;
		q->argtypes = repalloc(q->argtypes, sizeof(Oid) * q->maxparams);
		q->values = repalloc(q->values, sizeof(Datum) * q->maxparams);
		q->nulls = repalloc(q->nulls, sizeof(char) * q->maxparams);
		q->param_root = repalloc(q->param_root, sizeof(Oid) * q->maxparams);
	}
	q->argtypes[q->nparams] = type;
	q->values[q->nparams] = value;
	q->nulls[q->nparams] = ' ';
	q->param_root[q->nparams] = root;
	return ++q->nparams;
}

/* "ONLY " for a plain table (foreign keys are not inherited), else "" */
static const char *
only_for(Oid relid)
{
	return get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ";
}

/* Are rows of relid purged by this call (if nothing else keeps them)? */
static bool
in_scope(PurgeScope *scope, Oid relid)
{
	if (TombstoneRelLookup(relid) == NULL)
		return false;
	return scope->all_tables || list_member_oid(scope->tables, relid);
}

/*
 * The tables whose foreign keys can point at a row of relid: relid itself,
 * the partitioned tables it is a partition of, and its partitions or
 * inheritance children.
 */
static List *
referenced_as(Oid relid)
{
	List	   *rels = find_all_inheritors(relid, NoLock, NULL);

	if (get_rel_relispartition(relid))
		rels = list_concat_unique_oid(rels, get_partition_ancestors(relid));
	return rels;
}

static void append_referenced(PurgeQuery *q, PurgeScope *scope, Oid relid,
							  const char *alias, List *path, int depth);

/*
 * The conditions that make a tombstone of relid (row alias) go, apart from
 * references: tombstoned, past the cutoff (purge) or of the tenant
 * (purge_tenant), of the tenant filter if any.
 */
static void
append_condition(PurgeQuery *q, PurgeScope *scope, Oid relid,
				 const char *alias)
{
	const TombstoneRel *trel = TombstoneRelLookup(relid);

	appendStringInfo(&q->sql, "%s.%s IS NOT NULL", alias, TOMBSTONE_DELETED_AT);
	if (!scope->by_tenant)
	{
		TimestampTz cutoff = root_cutoff(scope, trel->root);
		int			p = query_param(q, TIMESTAMPTZOID,
									TimestampTzGetDatum(cutoff), trel->root);

		appendStringInfo(&q->sql, " AND %s.%s < $%d", alias,
						 TOMBSTONE_DELETED_AT, p);
	}
	if (scope->tenant != NULL)
		appendStringInfo(&q->sql, " AND %s.%s::pg_catalog.text = $1", alias,
						 quote_identifier(NameStr(trel->tenant_column)));
}

/*
 * A condition true when row alias of relid goes in this call: it meets the
 * purge's conditions and no row that stays references it.  Tables out of
 * scope, cycles and deep chains: false (the row stays).
 */
static void
append_goes(PurgeQuery *q, PurgeScope *scope, Oid relid, const char *alias,
			List *path, int depth)
{
	const TombstoneRel *trel = TombstoneRelLookup(relid);

	if (!in_scope(scope, relid) || depth >= PURGE_MAX_DEPTH ||
		list_member_oid(path, trel->root))
	{
		appendStringInfoString(&q->sql, "false");
		return;
	}
	appendStringInfoChar(&q->sql, '(');
	append_condition(q, scope, relid, alias);
	appendStringInfoString(&q->sql, " AND NOT (");
	append_referenced(q, scope, relid, alias,
					  lappend_oid(list_copy(path), trel->root), depth + 1);
	appendStringInfoString(&q->sql, "))");
}

/*
 * A condition true when some row that stays after this call references row
 * alias of relid through a foreign key; "false" when no foreign key points
 * at relid.
 */
static void
append_referenced(PurgeQuery *q, PurgeScope *scope, Oid relid,
				  const char *alias, List *path, int depth)
{
	List	   *targets = referenced_as(relid);
	ListCell   *lc;
	bool		any = false;

	foreach(lc, scope->fks)
	{
		PurgeFk    *fk = lfirst(lc);
		char	   *child_alias;
		int			i;

		if (!list_member_oid(targets, fk->confrelid))
			continue;
		child_alias = psprintf("r%d", ++q->naliases);
		if (any)
			appendStringInfoString(&q->sql, " OR ");
		appendStringInfo(&q->sql, "EXISTS (SELECT 1 FROM %s%s %s WHERE ",
						 only_for(fk->conrelid),
						 TombstoneQualifiedName(fk->conrelid), child_alias);
		for (i = 0; i < fk->nkeys; i++)
			appendStringInfo(&q->sql, "%s.%s = %s.%s AND ",
							 child_alias, quote_identifier(fk->child_cols[i]),
							 alias, quote_identifier(fk->parent_cols[i]));
		appendStringInfoString(&q->sql, "NOT ");
		append_goes(q, scope, fk->conrelid, child_alias, path, depth);
		appendStringInfoChar(&q->sql, ')');
		any = true;
	}
	if (!any)
		appendStringInfoString(&q->sql, "false");
}

/*
 * The WHERE clause of the counting and the deleting query on the table
 * purged (alias t).  purge_tenant() finds the tenant's rows, live ones
 * included, through the tenant column in its own type so that an index on
 * it serves.  False when the table cannot hold the tenant at all.
 */
static bool
append_top_where(PurgeQuery *q, PurgeScope *scope, Oid target)
{
	const TombstoneRel *trel = TombstoneRelLookup(target);
	const char *col = quote_identifier(NameStr(trel->tenant_column));

	if (!scope->by_tenant)
	{
		append_condition(q, scope, target, "t");
		return true;
	}
	else
	{
		Oid			coltype = get_atttype(target, trel->tenant_attno);

		if (coltype == TEXTOID || coltype == VARCHAROID)
			appendStringInfo(&q->sql, "t.%s = $1", col);
		else if (TombstoneTryInput(coltype, scope->tenant, NULL))
			appendStringInfo(&q->sql, "t.%s = $1::%s", col,
							 format_type_be_qualified(coltype));
		else
			return false;
	}
	return true;
}

/*-------------------------------------------------------------------------
 * Counting, checking, deleting
 *-------------------------------------------------------------------------
 */

/*
 * Count the rows of one table per tenant and add a group per tenant.
 */
static List *
count_table(PurgeScope *scope, Oid target, List *groups, MemoryContext cxt)
{
	const TombstoneRel *trel = TombstoneRelLookup(target);
	PurgeQuery	q;
	uint64		i;
	uint64		n;

	query_init(&q, scope->tenant);
	appendStringInfo(&q.sql,
					 "SELECT x.tenant, count(*) FILTER (WHERE NOT x.live AND NOT x.referenced),"
					 " count(*) FILTER (WHERE NOT x.live AND x.referenced),"
					 " count(*) FILTER (WHERE x.live)"
					 " FROM (SELECT t.%s::pg_catalog.text AS tenant,"
					 " t.%s IS NULL AS live, t.%s IS NOT NULL AND (",
					 quote_identifier(NameStr(trel->tenant_column)),
					 TOMBSTONE_DELETED_AT, TOMBSTONE_DELETED_AT);
	append_referenced(&q, scope, target, "t", list_make1_oid(trel->root), 0);
	appendStringInfo(&q.sql, ") AS referenced FROM %s t WHERE ",
					 TombstoneQualifiedName(target));
	if (!append_top_where(&q, scope, target))
		return groups;
	appendStringInfoString(&q.sql, ") x GROUP BY 1 ORDER BY 1");

	n = TombstoneRunInternal(q.sql.data, q.nparams, q.argtypes, q.values,
							 q.nulls, TombstoneRelationOwner(target));
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *tenant = SPI_getvalue(tup, desc, 1);
		MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
		PurgeGroup *g = palloc0(sizeof(PurgeGroup));

		g->target = target;
		g->root = trel->root;
		g->tenant = tenant ? pstrdup(tenant) : NULL;
		g->purgeable = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		g->kept = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		g->live = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		groups = lappend(groups, g);
		MemoryContextSwitchTo(oldcxt);
	}
	return groups;
}

static const char *
tenant_label(const char *tenant)
{
	return tenant ? quote_literal_cstr(tenant) : "NULL";
}

/* a bounded list: at most PURGE_DETAIL_ITEMS items, then "and N more" */
static void
append_item(StringInfo buf, int *nitems, const char *item)
{
	(*nitems)++;
	if (*nitems > PURGE_DETAIL_ITEMS)
		return;
	if (*nitems > 1)
		appendStringInfoString(buf, ", ");
	appendStringInfoString(buf, item);
}

static void
finish_items(StringInfo buf, int nitems)
{
	if (nitems > PURGE_DETAIL_ITEMS)
		appendStringInfo(buf, " and %d more", nitems - PURGE_DETAIL_ITEMS);
	appendStringInfoChar(buf, '.');
}

/* What the call was asked to purge, for messages */
static char *
scope_description(PurgeScope *scope, Oid tbl)
{
	if (scope->by_tenant)
		return psprintf("every tombstoned row of tenant %s",
						tenant_label(scope->tenant));
	return psprintf("tombstones older than the retention of %s%s%s",
					OidIsValid(tbl) ? psprintf("table %s", TombstoneQualifiedName(tbl)) :
					"every protected table",
					scope->tenant ? ", tenant " : "",
					scope->tenant ? tenant_label(scope->tenant) : "");
}

/*
 * The purge tokens bound to the transaction; refuse when there is none,
 * before anything is read.
 */
static List *
purge_tokens(PurgeScope *scope, Oid tbl)
{
	List	   *tokens = NIL;
	ListCell   *lc;

	foreach(lc, TombstoneTokensBound())
	{
		TombstoneToken *token = lfirst(lc);

		if (strcmp(token->op, "purge") == 0)
			tokens = lappend(tokens, token);
	}
	if (tokens == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_PURGE),
				 errmsg("%s() needs a change token of operation \"purge\"",
						scope->funcname),
				 errdetail("No change token of operation \"purge\" is bound to the current transaction; it was asked to remove %s.",
						   scope_description(scope, tbl)),
				 errhint("Authorise a token of operation \"purge\" naming the tables and tenants to purge with tombstone.authorize() in the same transaction.")));
	return tokens;
}

/*
 * Refuse, before anything goes, a purge of rows more rows than the budget
 * of a bound token has room for.
 */
static void
check_budgets(PurgeScope *scope, int64 rows)
{
	ListCell   *lc;

	if (rows <= 0)
		return;
	foreach(lc, TombstoneTokensBound())
	{
		TombstoneToken *token = lfirst(lc);

		if (token->max_rows >= 0 && token->rows_used + rows > token->max_rows)
			ereport(ERROR,
					(errcode(ERRCODE_TOMBSTONE_MAX_ROWS),
					 errmsg("%s() would exceed the row budget of change token \"%s\"",
							scope->funcname, token->jti),
					 errdetail("The purge would remove " INT64_FORMAT " rows while token \"%s\" is bound, whose max_rows is " INT64_FORMAT " with " INT64_FORMAT " already used in this transaction.",
							   rows, token->jti, token->max_rows,
							   token->rows_used),
					 errhint("Authorise a token of operation \"purge\" with a larger max_rows with tombstone.authorize(), or purge one table or tenant at a time.")));
	}
}

/*
 * Check every group that has rows to purge against the bound purge tokens:
 * each needs a token whose tables and tenants cover it.  Then the budget:
 * every bound token (of any operation) counts every row purged while it is
 * bound, so each must have room for the total.  Then charge the budgets.
 */
static void
check_tokens(PurgeScope *scope, List *groups, List *tokens)
{
	StringInfoData uncovered;
	int			nuncovered = 0;
	int64		nrows_uncovered = 0;
	int64		total = 0;
	ListCell   *lc;

	initStringInfo(&uncovered);
	foreach(lc, groups)
	{
		PurgeGroup *g = lfirst(lc);
		ListCell   *lt;

		if (g->purgeable == 0)
			continue;
		foreach(lt, tokens)
		{
			TombstoneToken *token = lfirst(lt);

			if (TombstoneTokenCoversTable(token, g->target) &&
				TombstoneTokenCoversTenant(token, g->tenant))
			{
				g->token = token;
				break;
			}
		}
		if (g->token == NULL)
		{
			append_item(&uncovered, &nuncovered,
						psprintf("table %s tenant %s (" INT64_FORMAT " %s)",
								 TombstoneQualifiedName(g->target),
								 tenant_label(g->tenant), g->purgeable,
								 g->purgeable == 1 ? "row" : "rows"));
			nrows_uncovered += g->purgeable;
			continue;
		}
		total += g->purgeable;
	}

	if (nuncovered > 0)
	{
		finish_items(&uncovered, nuncovered);
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_PURGE),
				 errmsg("change token does not cover every table and tenant %s() would purge",
						scope->funcname),
				 errdetail("Not covered (" INT64_FORMAT " %s in all): %s",
						   nrows_uncovered, nrows_uncovered == 1 ? "row" : "rows",
						   uncovered.data),
				 errhint("Authorise a token of operation \"purge\" naming these tables in \"tables\" and these tenants in \"tenants\" with tombstone.authorize().")));
	}

	check_budgets(scope, total);
	TombstoneGuardCharge(total, "purged");
}

/*
 * A Citus table's rows are deleted on the workers, whose guard trigger
 * knows nothing of this purge's permit: tombstone.citus_purge tells it,
 * set with SET LOCAL while citus.propagate_set_commands is "local", which
 * has Citus send it to the workers in this transaction (a purge always
 * runs in the transaction that authorised its token).  Set off again
 * right after the delete.  The row guard on the worker still lets only
 * tombstones go, and only over Citus's own connections (triggers.c).
 */
static void
citus_purge_begin(bool on)
{
	if (on && SPI_execute("SET LOCAL citus.propagate_set_commands = 'local'",
						  false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not set citus.propagate_set_commands");
	if (SPI_execute(on ? "SET LOCAL tombstone.citus_purge = on" :
					"SET LOCAL tombstone.citus_purge = off",
					false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not set tombstone.citus_purge");
}

/*
 * Delete the counted rows of one table, as its owner, and record what went
 * per tenant in the groups and on the ledger.
 */
static void
delete_table(PurgeScope *scope, Oid target, List *groups)
{
	const TombstoneRel *trel = TombstoneRelLookup(target);
	const char *col = quote_identifier(NameStr(trel->tenant_column));
	PurgeQuery	q;
	List	   *tenants = NIL;
	bool		null_tenant = false;
	Datum	   *elems;
	int			nelems = 0;
	int			p;
	ListCell   *lc;
	uint64		i;
	volatile uint64 n = 0;
	TombstonePermit permit;
	char	   *carried;

	elems = palloc(sizeof(Datum) * (list_length(groups) + 1));
	foreach(lc, groups)
	{
		PurgeGroup *g = lfirst(lc);

		if (g->target != target || g->purgeable == 0)
			continue;
		if (g->tenant == NULL)
			null_tenant = true;
		else
		{
			tenants = lappend(tenants, g->tenant);
			elems[nelems++] = CStringGetTextDatum(g->tenant);
		}
	}
	if (tenants == NIL && !null_tenant)
		return;

	query_init(&q, scope->tenant);
	appendStringInfo(&q.sql, "WITH d AS (DELETE FROM %s t WHERE ",
					 TombstoneQualifiedName(target));
	if (!append_top_where(&q, scope, target))
		return;
	if (scope->by_tenant)
		appendStringInfo(&q.sql, " AND t.%s IS NOT NULL", TOMBSTONE_DELETED_AT);
	appendStringInfoString(&q.sql, " AND NOT (");
	append_referenced(&q, scope, target, "t", list_make1_oid(trel->root), 0);
	p = query_param(&q, TEXTARRAYOID,
					PointerGetDatum(construct_array(elems, nelems, TEXTOID,
													-1, false, TYPALIGN_INT)),
					InvalidOid);
	/*
	 * A tombstone in place carries its last live version, which leaves with
	 * it (recording/history.c): counted with the old versions removed.
	 */
	carried = trel->valid_from_attno != InvalidAttrNumber ?
		psprintf("t.%s < t.%s", TOMBSTONE_VALID_FROM, TOMBSTONE_DELETED_AT) :
		"false";
	appendStringInfo(&q.sql, ") AND (t.%s::pg_catalog.text = ANY ($%d)%s%s%s)"
					 " RETURNING t.%s::pg_catalog.text AS tenant, %s AS carried)"
					 " SELECT d.tenant, count(*), count(*) FILTER (WHERE d.carried)"
					 " FROM d GROUP BY 1",
					 col, p,
					 null_tenant ? " OR t." : "",
					 null_tenant ? col : "",
					 null_tenant ? " IS NULL" : "",
					 col, carried);

	memset(&permit, 0, sizeof(permit));
	permit.root = trel->root;
	permit.by_tenant = scope->by_tenant;
	permit.cutoff = scope->by_tenant ? 0 : root_cutoff(scope, trel->root);
	permit.tenant = scope->tenant;
	permit.tenants = tenants;
	permit.null_tenant = null_tenant;
	TombstonePermitGrant(&permit);
	PG_TRY();
	{
		/* the shards of a Citus table: see citus_purge_begin() */
		if (trel->citus_method != '\0')
			citus_purge_begin(true);
		n = TombstoneRunInternal(q.sql.data, q.nparams, q.argtypes, q.values,
								 q.nulls, TombstoneRelationOwner(target));
		if (trel->citus_method != '\0')
		{
			/* the rows deleted are read below: keep them */
			SPITupleTable *deleted = SPI_tuptable;

			citus_purge_begin(false);
			SPI_tuptable = deleted;
		}
	}
	PG_FINALLY();
	{
		TombstonePermitRevoke();
	}
	PG_END_TRY();

	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *tenant = SPI_getvalue(tup, desc, 1);
		bool		isnull;
		int64		rows = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		PurgeGroup *match = NULL;

		foreach(lc, groups)
		{
			PurgeGroup *g = lfirst(lc);

			if (g->target == target && g->purgeable > 0 &&
				((g->tenant == NULL && tenant == NULL) ||
				 (g->tenant && tenant && strcmp(g->tenant, tenant) == 0)))
			{
				match = g;
				break;
			}
		}
		if (match == NULL || match->token == NULL)
			elog(ERROR, "purge removed rows of table \"%s\" tenant %s that were not authorised",
				 get_rel_name(target), tenant_label(tenant));

		/*
		 * Rows tombstoned meanwhile by a transaction that started before the
		 * cutoff can add to the count: charge them too, within the budget.
		 */
		if (rows > match->purgeable)
		{
			ListCell   *lt;

			foreach(lt, TombstoneTokensBound())
			{
				TombstoneToken *token = lfirst(lt);

				if (token->max_rows >= 0 &&
					token->rows_used + rows - match->purgeable > token->max_rows)
					ereport(ERROR,
							(errcode(ERRCODE_TOMBSTONE_MAX_ROWS),
							 errmsg("%s() would exceed the row budget of change token \"%s\"",
									scope->funcname, token->jti),
							 errdetail("Table \"%s\" had " INT64_FORMAT " rows to purge when it was deleted from, " INT64_FORMAT " more than counted, beyond the token's max_rows of " INT64_FORMAT ".",
									   get_rel_name(target), rows,
									   rows - match->purgeable, token->max_rows),
							 errhint("Run the purge again.")));
			}
		}
		/* the budgets were charged with what was counted */
		TombstoneGuardCharge(rows - match->purgeable, "purged");
		match->purged = rows;
		match->carried = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		TombstoneChangeAddPurged(trel->root, tenant, rows);
	}
}

/* One DELETE from history table histrelid, which its guard trigger allows */
static uint64
delete_history_run(const char *sql, Oid *argtypes, Datum *values,
				   Oid histrelid)
{
	volatile uint64 n = 0;
	TombstonePermit permit;

	memset(&permit, 0, sizeof(permit));
	permit.history_relid = histrelid;
	TombstonePermitGrant(&permit);
	PG_TRY();
	{
		n = TombstoneRunInternal(sql, 2, argtypes, values, NULL,
								 TombstoneRelationOwner(histrelid));
	}
	PG_FINALLY();
	{
		TombstonePermitRevoke();
	}
	PG_END_TRY();
	return n;
}

/*
 * The versions that tombstones in place of target still carry (those the
 * purge could not remove: other rows reference them) and that ended before
 * the cutoff go as the history table's do: their valid_from moves to their
 * deleted_at (recording/history.c).  Returns how many.
 */
static uint64
drop_carried_run(const char *sql, Oid *argtypes, Datum *values, Oid target)
{
	volatile uint64 n = 0;

	TombstoneHistoryDropCarried(true);
	PG_TRY();
	{
		n = TombstoneRunInternal(sql, 2, argtypes, values, NULL,
								 TombstoneRelationOwner(target));
	}
	PG_FINALLY();
	{
		TombstoneHistoryDropCarried(false);
	}
	PG_END_TRY();
	return n;
}

/*
 * Remove the old versions of the target's rows from its history table: for
 * purge(), versions that ended before the retention cutoff (as_of() refuses
 * times before it), for purge_tenant(), every version of the tenant.  Only
 * tenants a purge token covers lose history.  The versions that tombstones
 * in place carried went with them (delete_table) and count as removed.
 */
static void
delete_history(PurgeScope *scope, Oid target, List *tokens, List *groups)
{
	const TombstoneRel *trel = TombstoneRelLookup(target);
	Oid			histrelid;
	Oid			argtypes[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		values[2];
	char	   *col;
	char	   *sql;
	char	   *carried_sql;
	List	   *tenants = NIL;
	ListCell   *lc;
	uint64		i;
	uint64		n;
	int64		removed = 0;

	if (trel == NULL || OidIsValid(trel->parent) ||
		!OidIsValid(trel->history_relid))
		return;
	histrelid = trel->history_relid;
	col = psprintf("%s::pg_catalog.text", quote_identifier(NameStr(trel->tenant_column)));
	values[1] = TimestampTzGetDatum(scope->by_tenant ? DT_NOEND :
									root_cutoff(scope, target));

	/* the tenants whose versions would go, each checked against the tokens */
	if (scope->tenant != NULL)
		tenants = list_make1(pstrdup(scope->tenant));
	else
	{
		sql = psprintf(TOMBSTONE_INTERNAL_QUERY
					   "SELECT %s FROM %s WHERE valid_to < $1"
					   " UNION SELECT %s FROM %s WHERE %s < $1 AND %s < %s",
					   col, TombstoneQualifiedName(histrelid),
					   col, TombstoneQualifiedName(target), TOMBSTONE_DELETED_AT,
					   TOMBSTONE_VALID_FROM, TOMBSTONE_DELETED_AT);
		n = TombstoneRunInternal(sql, 1, &argtypes[1], &values[1], NULL,
								 TombstoneRelationOwner(histrelid));
		for (i = 0; i < n; i++)
		{
			char	   *tenant = SPI_getvalue(SPI_tuptable->vals[i],
											  SPI_tuptable->tupdesc, 1);

			if (tenant != NULL)
				tenants = lappend(tenants, tenant);
		}
	}

	sql = psprintf(TOMBSTONE_INTERNAL_QUERY
				   "DELETE FROM %s WHERE %s = $1 AND valid_to < $2",
				   TombstoneQualifiedName(histrelid), col);
	carried_sql = psprintf(TOMBSTONE_INTERNAL_QUERY
						   "UPDATE %s SET %s = %s WHERE %s = $1 AND %s < $2 AND %s < %s",
						   TombstoneQualifiedName(target), TOMBSTONE_VALID_FROM,
						   TOMBSTONE_DELETED_AT, col, TOMBSTONE_DELETED_AT,
						   TOMBSTONE_VALID_FROM, TOMBSTONE_DELETED_AT);
	foreach(lc, tenants)
	{
		char	   *tenant = lfirst(lc);
		bool		covered = false;
		ListCell   *tc;

		foreach(tc, tokens)
		{
			TombstoneToken *t = lfirst(tc);

			if (TombstoneTokenCoversTable(t, target) &&
				TombstoneTokenCoversTenant(t, tenant))
				covered = true;
		}
		if (!covered)
			continue;
		values[0] = CStringGetTextDatum(tenant);
		removed += delete_history_run(sql, argtypes, values, histrelid);
		removed += drop_carried_run(carried_sql, argtypes, values, target);
	}
	foreach(lc, groups)
	{
		PurgeGroup *g = lfirst(lc);

		if (g->target == target)
			removed += g->carried;
	}
	if (removed > 0)
		ereport(NOTICE,
				(errmsg_plural("removed " INT64_FORMAT " old row version of table \"%s\" from its history",
							   "removed " INT64_FORMAT " old row versions of table \"%s\" from its history",
							   removed, removed, get_rel_name(target))));
}

/*
 * Tell the caller what stayed: tombstones still referenced by other rows,
 * and, for purge_tenant(), the tenant's live rows.
 */
static void
report_kept(PurgeScope *scope, List *groups)
{
	ListCell   *lc;

	foreach(lc, groups)
	{
		PurgeGroup *g = lfirst(lc);

		if (g->kept > 0)
			ereport(NOTICE,
					(errmsg_plural("kept " INT64_FORMAT " tombstoned row of table \"%s\", tenant %s, that other rows still reference",
								   "kept " INT64_FORMAT " tombstoned rows of table \"%s\", tenant %s, that other rows still reference",
								   g->kept, g->kept, get_rel_name(g->target),
								   tenant_label(g->tenant)),
					 errdetail("A row referenced through a foreign key is purged only once no remaining row references it."),
					 errhint("Purge the referencing rows first; they go in the same call when they are purged too.")));
		if (g->live > 0)
			ereport(NOTICE,
					(errmsg_plural(INT64_FORMAT " live row of tenant %s in table \"%s\" was not purged",
								   INT64_FORMAT " live rows of tenant %s in table \"%s\" were not purged",
								   g->live, g->live, tenant_label(g->tenant),
								   get_rel_name(g->target)),
					 errdetail("purge_tenant() removes tombstoned rows only."),
					 errhint("Delete the tenant (or these rows) first, then purge again.")));
	}
}

/*
 * The work shared by purge() and purge_tenant(): count, check, delete,
 * return one row per table and tenant purged.
 */
static void
run_purge(FunctionCallInfo fcinfo, PurgeScope *scope, Oid tbl)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt = CurrentMemoryContext;
	List	   *tokens;
	List	   *targets;
	List	   *groups = NIL;
	ListCell   *lc;
	void	   *change_scope;

	InitMaterializedSRF(fcinfo, 0);
	tokens = purge_tokens(scope, tbl);

	if (OidIsValid(tbl))
		targets = list_make1_oid(tbl);
	else
		targets = list_copy(TombstoneRootsInOrder(false));
	scope->fks = read_foreign_keys();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* 1. count */
	foreach(lc, targets)
		groups = count_table(scope, lfirst_oid(lc), groups, cxt);

	/* 2. check and charge */
	check_tokens(scope, groups, tokens);

	/* 3. delete, children first, as one change of its own */
	change_scope = TombstoneChangeBegin("purge", 0);
	foreach(lc, targets)
		delete_table(scope, lfirst_oid(lc), groups);

	/* 4. old row versions */
	foreach(lc, targets)
		delete_history(scope, lfirst_oid(lc), tokens, groups);
	SPI_finish();
	TombstoneChangeEnd(change_scope);

	report_kept(scope, groups);
	foreach(lc, groups)
	{
		PurgeGroup *g = lfirst(lc);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (g->purged == 0)
			continue;
		values[0] = ObjectIdGetDatum(g->target);
		values[1] = g->tenant ? CStringGetTextDatum(g->tenant) : (Datum) 0;
		nulls[1] = (g->tenant == NULL);
		values[2] = Int64GetDatum(g->purged);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

static void
require_preloaded(const char *funcname)
{
	if (!tombstone_preloaded)
		TombstoneRefuseNotPreloaded(psprintf("%s() removes rows of protected tables only with the library loaded at server start, which checks each row it removes.",
											 funcname));
}

/*
 * tombstone.purge(tbl regclass DEFAULT NULL, tenant text DEFAULT NULL)
 *
 * Remove the tombstones older than their table's retention, of tbl (with
 * its partitions or children) or of every protected table, of one tenant or
 * all.
 */
Datum
tombstone_purge(PG_FUNCTION_ARGS)
{
	PurgeScope *scope = palloc0(sizeof(PurgeScope));
	Oid			tbl = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);

	scope->funcname = "tombstone.purge";
	scope->tenant = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	require_preloaded(scope->funcname);

	/*
	 * A table that is given must exist: 0 (what '-'::regclass is) would
	 * otherwise read as "no table", which purges every protected table.
	 */
	if (!PG_ARGISNULL(0) && (!OidIsValid(tbl) || get_rel_name(tbl) == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", tbl),
				 errdetail("tombstone.purge() was asked to purge a table that does not exist; nothing was purged."),
				 errhint("Name a protected table, or call tombstone.purge() with table NULL to purge every protected table.")));

	if (OidIsValid(tbl))
	{
		if (TombstoneRelLookup(tbl) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("table \"%s\" is not protected",
							get_rel_name(tbl) ? get_rel_name(tbl) : "?"),
					 errdetail("tombstone.purge() removes tombstones of protected tables only."),
					 errhint("See tombstone.protected_tables, or call tombstone.purge() without a table to purge every protected table.")));
		scope->tables = find_all_inheritors(tbl, NoLock, NULL);
	}
	else
		scope->all_tables = true;

	run_purge(fcinfo, scope, tbl);
	return (Datum) 0;
}

/*
 * tombstone.purge_tenant(tenant text)
 *
 * An erasure request: remove every tombstoned row of the tenant in every
 * protected table, regardless of retention.  Live rows stay (a NOTICE says
 * how many).
 */
Datum
tombstone_purge_tenant(PG_FUNCTION_ARGS)
{
	PurgeScope *scope = palloc0(sizeof(PurgeScope));

	scope->funcname = "tombstone.purge_tenant";
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tenant of tombstone.purge_tenant() must not be null"),
				 errdetail("Called with tenant NULL."),
				 errhint("Give the id of the tenant whose tombstoned rows are to be erased.")));
	scope->tenant = text_to_cstring(PG_GETARG_TEXT_PP(0));
	scope->by_tenant = true;
	scope->all_tables = true;
	require_preloaded(scope->funcname);

	run_purge(fcinfo, scope, InvalidOid);
	return (Datum) 0;
}
