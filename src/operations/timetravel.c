/*-------------------------------------------------------------------------
 *
 * timetravel.c
 *	  Time travel per tenant: tombstone.as_of() reads one tenant's rows of a
 *	  protected table as of a past time, tombstone.rewind_tenant() puts them
 *	  back in place (extract_tenant() is SQL over as_of()).
 *
 * A version of a row is visible at time T when valid_from <= T < valid_to
 * (valid_to is infinite for the live row) and it is not a tombstone, so
 * as_of() reads the live table and the history table (written by
 * recording/history.c) with that condition, both through their tenant
 * indexes.  A tombstone made in place keeps its last live version in the
 * live table, valid from valid_from until deleted_at, and is read as that
 * version: deleted_at and deleted_change NULL, as they were then.  rewind_tenant() makes a tenant's rows equal to what as_of()
 * returns, with two kinds of UPDATE per table: rows live now and not then
 * are tombstoned, rows live then get their old values back.
 *
 * src/operations/timetravel.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "executor/spi.h"
#include "executor/tstoreReceiver.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "foundation/catalog.h"
#include "foundation/errcodes.h"
#include "foundation/names.h"
#include "foundation/query.h"
#include "foundation/refuse.h"
#include "foundation/settings.h"
#include "policy/guard.h"
#include "recording/change.h"
#include "mechanisms/cascade.h"
#include "mechanisms/fkgraph.h"

PG_FUNCTION_INFO_V1(tombstone_as_of);
PG_FUNCTION_INFO_V1(tombstone_rewind_tenant);

/*-------------------------------------------------------------------------
 * Reading the past
 *-------------------------------------------------------------------------
 */

/*
 * The catalog entry of relid, which must be a protected root with history,
 * checked for the caller: privileges mode on it, and no row-level security
 * that the history could not apply.
 */
static const TombstoneRel *
history_table_for(Oid relid, const char *funcname, AclMode mode)
{
	const TombstoneRel *trel = TombstoneRelLookup(relid);
	AclResult	aclresult;

	if (trel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_NO_HISTORY),
				 errmsg("table \"%s\" is not protected", get_rel_name(relid)),
				 errdetail("%s() reads the row history that tombstone.protect() keeps.",
						   funcname),
				 errhint("Protect the table with tombstone.protect(..., history => true).")));
	if (OidIsValid(trel->parent))
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_NO_HISTORY),
				 errmsg("table \"%s\" is protected through table \"%s\"",
						get_rel_name(relid), get_rel_name(trel->parent)),
				 errdetail("The history of table \"%s\" is kept with that of table \"%s\".",
						   get_rel_name(relid), get_rel_name(trel->parent)),
				 errhint("Call %s() with the row type of table \"%s\".",
						 funcname, get_rel_name(trel->parent))));
	if (!OidIsValid(trel->history_relid))
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_NO_HISTORY),
				 errmsg("table \"%s\" has no row history", get_rel_name(relid)),
				 errdetail("Table \"%s\" was protected with history => false.",
						   get_rel_name(relid)),
				 errhint("Only tables protected with history => true can be read as of a past time.")));

	aclresult = pg_class_aclcheck(relid, GetUserId(), mode);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_TABLE, get_rel_name(relid));
	if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s() cannot apply the row-level security of table \"%s\"",
						funcname, get_rel_name(relid)),
				 errdetail("Row-level security applies to the current role on table \"%s\", and its history table has no policies.",
						   get_rel_name(relid)),
				 errhint("Call %s() as a role that row-level security does not restrict, such as the table's owner.",
						 funcname)));
	return trel;
}

/* Refuse a time the history cannot answer for. */
static void
check_as_of_time(const TombstoneRel *trel, TimestampTz at, const char *funcname)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz oldest;

	if (at > now)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_HISTORY_RANGE),
				 errmsg("%s() cannot read table \"%s\" as of a time in the future",
						funcname, get_rel_name(trel->relid)),
				 errdetail("Time %s was given; it is now %s.",
						   pstrdup(timestamptz_to_str(at)), pstrdup(timestamptz_to_str(now))),
				 errhint("Give a past time.")));
	/* before protect(), rows had no valid_from and no old versions */
	if (at < trel->history_since)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_HISTORY_RANGE),
				 errmsg("%s() cannot read table \"%s\" as of a time before its history began",
						funcname, get_rel_name(trel->relid)),
				 errdetail("Time %s was given; table \"%s\" has kept history since it was protected, at %s.",
						   pstrdup(timestamptz_to_str(at)), get_rel_name(trel->relid),
						   pstrdup(timestamptz_to_str(trel->history_since))),
				 errhint("Give a time after %s.",
						 pstrdup(timestamptz_to_str(trel->history_since)))));
	oldest = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
													 TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
													 IntervalPGetDatum(&trel->retention)));
	if (at < oldest)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_HISTORY_RANGE),
				 errmsg("%s() cannot read table \"%s\" as of a time before its retention",
						funcname, get_rel_name(trel->relid)),
				 errdetail("Time %s was given; table \"%s\" keeps history for %s, since %s.",
						   pstrdup(timestamptz_to_str(at)), get_rel_name(trel->relid),
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(&trel->retention))),
						   pstrdup(timestamptz_to_str(oldest))),
				 errhint("Give a time within the retention; older versions may have been purged.")));
}

/*
 * The query of the tenant's rows of root as of $2 (tenant $1 as text), in
 * the column order of root.  Identifiers come from the catalogs, quoted.
 * A tombstone in place comes as it is stored, deleted_at set: as_of()
 * gives it as its live version (CarriedReceiver, below), rewind_tenant()
 * uses only the user columns.  The live table's rows are selected as
 * stored, so that they reach the tuplestore without a projection.
 * *at_pos and *change_pos get the output positions (from 1) of deleted_at
 * and deleted_change, 0 for none.
 */
static char *
as_of_query(Oid root, const TombstoneRel *trel, int *at_pos, int *change_pos)
{
	Relation	rel = table_open(root, AccessShareLock);
	Relation	hist = table_open(trel->history_relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	TupleDesc	hdesc = RelationGetDescr(hist);
	StringInfoData live;
	StringInfoData past;
	Form_pg_attribute tatt;
	char	   *tenant_cond;
	int			pos = 0;
	int			i;

	*at_pos = *change_pos = 0;
	initStringInfo(&live);
	initStringInfo(&past);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = quote_identifier(NameStr(att->attname));
		int			j;
		bool		found = false;

		if (att->attisdropped)
			continue;
		pos++;
		if (strcmp(NameStr(att->attname), TOMBSTONE_DELETED_AT) == 0)
			*at_pos = pos;
		else if (strcmp(NameStr(att->attname), TOMBSTONE_DELETED_CHANGE) == 0)
			*change_pos = pos;
		appendStringInfo(&live, "%s%s", live.len > 0 ? ", " : "", name);
		if (past.len > 0)
			appendStringInfoString(&past, ", ");
		for (j = 0; j < hdesc->natts && !found; j++)
		{
			Form_pg_attribute hatt = TupleDescAttr(hdesc, j);

			found = !hatt->attisdropped &&
				strcmp(NameStr(hatt->attname), NameStr(att->attname)) == 0;
		}
		if (found)
			appendStringInfoString(&past, name);
		else
			appendStringInfo(&past, "NULL::%s",
							 format_type_with_typemod(att->atttypid, att->atttypmod));
	}
	tatt = TupleDescAttr(desc, trel->tenant_attno - 1);
	tenant_cond = psprintf("%s = CAST($1 AS %s)",
						   quote_identifier(NameStr(tatt->attname)),
						   format_type_with_typemod(tatt->atttypid, tatt->atttypmod));
	table_close(hist, AccessShareLock);
	table_close(rel, AccessShareLock);

	return psprintf("SELECT %s FROM %s WHERE %s AND %s <= $2 AND (%s IS NULL OR %s > $2)"
					" UNION ALL "
					"SELECT %s FROM %s WHERE %s AND %s > $2 AND %s <= $2 AND %s IS NULL",
					live.data, TombstoneQualifiedName(root), tenant_cond,
					TOMBSTONE_VALID_FROM, TOMBSTONE_DELETED_AT, TOMBSTONE_DELETED_AT,
					past.data, TombstoneQualifiedName(trel->history_relid),
					tenant_cond, TOMBSTONE_VALID_TO, TOMBSTONE_VALID_FROM,
					TOMBSTONE_DELETED_AT);
}

/*
 * The receiver of as_of()'s rows: passes them on to the tuplestore, and a
 * tombstone in place (a row of the live table with deleted_at set, which
 * the query selects only while it was live) as the live version it
 * carries: deleted_at and deleted_change NULL, as they were then (a
 * tombstone is made in place only over a NULL deleted_change:
 * recording/history.c).  Live rows pass as they are.
 */
typedef struct CarriedReceiver
{
	DestReceiver pub;
	DestReceiver *inner;
	int			at_pos;
	int			change_pos;
	TupleTableSlot *live;		/* the version of a tombstone in place */
} CarriedReceiver;

static bool
carried_receive(TupleTableSlot *slot, DestReceiver *self)
{
	CarriedReceiver *r = (CarriedReceiver *) self;
	bool		isnull;

	(void) slot_getattr(slot, r->at_pos, &isnull);
	if (isnull)
		return r->inner->receiveSlot(slot, r->inner);
	slot_getallattrs(slot);
	ExecClearTuple(r->live);
	memcpy(r->live->tts_values, slot->tts_values,
		   sizeof(Datum) * slot->tts_tupleDescriptor->natts);
	memcpy(r->live->tts_isnull, slot->tts_isnull,
		   sizeof(bool) * slot->tts_tupleDescriptor->natts);
	r->live->tts_isnull[r->at_pos - 1] = true;
	if (r->change_pos > 0)
		r->live->tts_isnull[r->change_pos - 1] = true;
	ExecStoreVirtualTuple(r->live);
	return r->inner->receiveSlot(r->live, r->inner);
}

static void
carried_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	CarriedReceiver *r = (CarriedReceiver *) self;

	r->live = MakeSingleTupleTableSlot(typeinfo, &TTSOpsVirtual);
	r->inner->rStartup(r->inner, operation, typeinfo);
}

static void
carried_shutdown(DestReceiver *self)
{
	CarriedReceiver *r = (CarriedReceiver *) self;

	r->inner->rShutdown(r->inner);
	if (r->live != NULL)
		ExecDropSingleTupleTableSlot(r->live);
	r->live = NULL;
}

static void
carried_destroy(DestReceiver *self)
{
	CarriedReceiver *r = (CarriedReceiver *) self;

	r->inner->rDestroy(r->inner);
	pfree(r);
}

static DestReceiver *
carried_receiver(DestReceiver *inner, int at_pos, int change_pos)
{
	CarriedReceiver *r = palloc0(sizeof(CarriedReceiver));

	r->pub.receiveSlot = carried_receive;
	r->pub.rStartup = carried_startup;
	r->pub.rShutdown = carried_shutdown;
	r->pub.rDestroy = carried_destroy;
	r->pub.mydest = DestNone;
	r->inner = inner;
	r->at_pos = at_pos;
	r->change_pos = change_pos;
	return &r->pub;
}

/*
 * Refuse without the library preloaded, and NULL arguments first..nargs - 1
 * (as_of's first argument is a NULL of the row type).
 */
static void
require_args(FunctionCallInfo fcinfo, int first, int nargs, const char *funcname)
{
	int			i;

	if (!tombstone_preloaded)
		TombstoneRefuseNotPreloaded(psprintf("%s() reads row history, which the library keeps only when it is preloaded.",
											 funcname));
	for (i = first; i < nargs; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of %s() must not be null", i + 1, funcname),
					 errhint("Give the tenant and the time.")));
}

/*
 * tombstone.as_of(rowtype anyelement, tenant text, at timestamptz)
 *		RETURNS SETOF anyelement
 */
Datum
tombstone_as_of(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 0);
	Oid			relid;
	const TombstoneRel *trel;
	TimestampTz at;
	char	   *sql;
	Oid			argtypes[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		values[2];
	DestReceiver *dest;
	Oid			owner;
	int			at_pos;
	int			change_pos;

	require_args(fcinfo, 1, 3, "tombstone.as_of");
	relid = OidIsValid(typid) ? get_typ_typrelid(typid) : InvalidOid;
	if (!OidIsValid(relid) || get_rel_relkind(relid) == RELKIND_COMPOSITE_TYPE)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("tombstone.as_of() needs the row type of a protected table, not type %s",
						OidIsValid(typid) ? format_type_be(typid) : "unknown"),
				 errhint("Call it as tombstone.as_of(NULL::schema.table, tenant, time).")));
	trel = history_table_for(relid, "tombstone.as_of", ACL_SELECT);
	at = PG_GETARG_TIMESTAMPTZ(2);
	check_as_of_time(trel, at, "tombstone.as_of");
	owner = TombstoneRelationOwner(relid);
	sql = psprintf(TOMBSTONE_INTERNAL_QUERY "%s",
				   as_of_query(relid, trel, &at_pos, &change_pos));

	InitMaterializedSRF(fcinfo, 0);
	dest = CreateDestReceiver(DestTuplestore);
	SetTuplestoreDestReceiverParams(dest, rsinfo->setResult,
									rsinfo->econtext->ecxt_per_query_memory,
									false, rsinfo->setDesc,
									gettext_noop("as_of query returned rows unlike the table's"));
	if (at_pos > 0)
		dest = carried_receiver(dest, at_pos, change_pos);
	values[0] = PG_GETARG_DATUM(1);
	values[1] = TimestampTzGetDatum(at);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	(void) TombstoneRunInternalTo(sql, 2, argtypes, values, NULL, owner, dest);
	SPI_finish();
	dest->rDestroy(dest);
	return (Datum) 0;
}

/*-------------------------------------------------------------------------
 * Rewinding a tenant
 *-------------------------------------------------------------------------
 */

/*
 * The two statements that rewind table root for a tenant: first tombstone
 * the rows that are live now and were not then ($1 tenant, $2 time), then
 * give the rows that were live then their old values, restoring the
 * tombstoned ones.  Rows are matched by primary key.
 */
static void
rewind_queries(Oid root, const TombstoneRel *trel, char **tombstone_sql,
			   char **restore_sql)
{
	Relation	rel = table_open(root, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			pkoid;
	Relation	pkrel;
	StringInfoData match;
	StringInfoData set;
	StringInfoData differ;
	int			at_pos;
	int			change_pos;
	char	   *asof = as_of_query(root, trel, &at_pos, &change_pos);
	Form_pg_attribute tatt = TupleDescAttr(desc, trel->tenant_attno - 1);
	char	   *tenant_cond;
	int			i;

	RelationGetIndexList(rel);
	pkoid = rel->rd_pkindex;
	if (!OidIsValid(pkoid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot rewind table \"%s\" without a primary key",
						RelationGetRelationName(rel)),
				 errdetail("rewind_tenant() matches the rows of table \"%s\" with their old versions by primary key.",
						   RelationGetRelationName(rel)),
				 errhint("Add a primary key to the table.")));

	initStringInfo(&match);
	pkrel = index_open(pkoid, AccessShareLock);
	for (i = 0; i < pkrel->rd_index->indnkeyatts; i++)
	{
		AttrNumber	attno = pkrel->rd_index->indkey.values[i];
		const char *name = quote_identifier(NameStr(TupleDescAttr(desc, attno - 1)->attname));

		appendStringInfo(&match, "%ss.%s = t.%s", i > 0 ? " AND " : "",
						 name, name);
	}

	initStringInfo(&set);
	initStringInfo(&differ);
	appendStringInfo(&set, "%s = NULL", TOMBSTONE_DELETED_AT);
	appendStringInfo(&differ, "t.%s IS NOT NULL", TOMBSTONE_DELETED_AT);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = quote_identifier(NameStr(att->attname));
		bool		is_key = false;
		int			k;
		TypeCacheEntry *tc;

		if (att->attisdropped || att->attgenerated || att->attnum == trel->tenant_attno ||
			strcmp(NameStr(att->attname), TOMBSTONE_DELETED_AT) == 0 ||
			strcmp(NameStr(att->attname), TOMBSTONE_DELETED_CHANGE) == 0 ||
			strcmp(NameStr(att->attname), TOMBSTONE_VALID_FROM) == 0)
			continue;
		for (k = 0; k < pkrel->rd_index->indnkeyatts; k++)
			if (pkrel->rd_index->indkey.values[k] == att->attnum)
				is_key = true;
		if (is_key)
			continue;
		appendStringInfo(&set, ", %s = s.%s", name, name);
		/* types without equality (json, point, ...) compare as text */
		tc = lookup_type_cache(att->atttypid, TYPECACHE_EQ_OPR);
		if (OidIsValid(tc->eq_opr))
			appendStringInfo(&differ, " OR t.%s IS DISTINCT FROM s.%s", name, name);
		else
			appendStringInfo(&differ, " OR t.%s::text IS DISTINCT FROM s.%s::text",
							 name, name);
	}
	index_close(pkrel, AccessShareLock);

	tenant_cond = psprintf("t.%s = CAST($1 AS %s)",
						   quote_identifier(NameStr(tatt->attname)),
						   format_type_with_typemod(tatt->atttypid, tatt->atttypmod));
	*tombstone_sql = psprintf(TOMBSTONE_INTERNAL_QUERY
							  "UPDATE %s t SET %s = now() WHERE %s AND t.%s IS NULL"
							  " AND NOT EXISTS (SELECT FROM (%s) s WHERE %s)",
							  TombstoneQualifiedName(root), TOMBSTONE_DELETED_AT,
							  tenant_cond, TOMBSTONE_DELETED_AT, asof, match.data);
	*restore_sql = psprintf(TOMBSTONE_INTERNAL_QUERY
							"UPDATE %s t SET %s FROM (%s) s WHERE %s AND %s AND (%s)",
							TombstoneQualifiedName(root), set.data, asof,
							match.data, tenant_cond, differ.data);
	table_close(rel, AccessShareLock);
}

/*
 * tombstone.rewind_tenant(tenant text, at timestamptz)
 *		RETURNS TABLE (table_name regclass, tombstoned bigint, rewound bigint)
 *
 * Makes the tenant's rows in every protected table with history what they
 * were at time at, as one change of operation "rewind": rows live now but
 * not then are tombstoned (children first), rows live then get their old
 * values back, tombstoned ones restored (parents first).  Needs a bound
 * token of operation "rewind" covering the tenant and the tables.
 */
Datum
tombstone_rewind_tenant(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *tenant;
	TimestampTz at;
	List	   *parents_first;
	List	   *roots = NIL;
	ListCell   *lc;
	Oid			argtypes[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		values[2];
	int			n;
	int			i;
	Oid		   *relids;
	int64	   *tombstoned;
	int64	   *rewound;
	char	  **tombstone_sqls;
	char	  **restore_sqls;
	void	   *scope;

	require_args(fcinfo, 0, 2, "tombstone.rewind_tenant");
	tenant = text_to_cstring(PG_GETARG_TEXT_PP(0));
	at = PG_GETARG_TIMESTAMPTZ(1);

	parents_first = list_copy(TombstoneRootsInOrder(true));
	foreach(lc, parents_first)
	{
		Oid			root = lfirst_oid(lc);
		const TombstoneRel *trel = TombstoneRelLookup(root);

		if (trel == NULL)
			continue;
		if (!OidIsValid(trel->history_relid))
		{
			ereport(NOTICE,
					(errmsg("table \"%s\" has no row history; its rows of tenant %s are left as they are",
							get_rel_name(root), quote_literal_cstr(tenant))));
			continue;
		}
		(void) history_table_for(root, "tombstone.rewind_tenant",
								 ACL_SELECT | ACL_UPDATE);
		check_as_of_time(trel, at, "tombstone.rewind_tenant");
		roots = lappend_oid(roots, root);
	}
	if (roots == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_NO_HISTORY),
				 errmsg("no protected table has row history"),
				 errdetail("rewind_tenant() was called for tenant %s.",
						   quote_literal_cstr(tenant)),
				 errhint("Protect tables with tombstone.protect(..., history => true).")));
	TombstoneGuardRequireRewind(roots, tenant);

	n = list_length(roots);
	relids = palloc(sizeof(Oid) * n);
	tombstoned = palloc0(sizeof(int64) * n);
	rewound = palloc0(sizeof(int64) * n);
	tombstone_sqls = palloc(sizeof(char *) * n);
	restore_sqls = palloc(sizeof(char *) * n);
	i = 0;
	foreach(lc, roots)
	{
		relids[i] = lfirst_oid(lc);
		rewind_queries(relids[i], TombstoneRelLookup(relids[i]),
					   &tombstone_sqls[i], &restore_sqls[i]);
		i++;
	}

	scope = TombstoneChangeBegin("rewind", 0);
	values[0] = PG_GETARG_DATUM(0);
	values[1] = TimestampTzGetDatum(at);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	TombstoneCascadeRestores(false);
	PG_TRY();
	{
		/* rows created since: children first, so no cascade is needed */
		for (i = n - 1; i >= 0; i--)
			tombstoned[i] = TombstoneRunInternal(tombstone_sqls[i], 2, argtypes,
												 values, NULL,
												 TombstoneRelationOwner(relids[i]));
		/* rows as they were: parents first, so children find them live */
		for (i = 0; i < n; i++)
		{
			rewound[i] = TombstoneRunInternal(restore_sqls[i], 2, argtypes,
											  values, NULL,
											  TombstoneRelationOwner(relids[i]));
			TombstoneChangeAddRewound(relids[i], tenant, rewound[i]);
			/* bound tokens' budgets count rows rewound, as rows tombstoned */
			TombstoneGuardCharge(rewound[i], "rewound");
		}
	}
	PG_FINALLY();
	{
		TombstoneCascadeRestores(true);
		TombstoneGuardRewindDone(TombstoneChangeId());
	}
	PG_END_TRY();
	SPI_finish();
	TombstoneChangeEnd(scope);

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < n; i++)
	{
		Datum		row[3];
		bool		nulls[3] = {false, false, false};

		row[0] = ObjectIdGetDatum(relids[i]);
		row[1] = Int64GetDatum(tombstoned[i]);
		row[2] = Int64GetDatum(rewound[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, nulls);
	}
	return (Datum) 0;
}
