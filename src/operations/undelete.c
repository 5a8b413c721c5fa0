/*-------------------------------------------------------------------------
 *
 * undelete.c
 *	  Bringing rows back: tombstone.undelete(), undelete_change() and
 *	  undelete_tenant().
 *
 * An undelete is an UPDATE that sets deleted_at back to NULL, run as the
 * caller (so privileges and row-level security apply as to a hand-written
 * UPDATE).  Everything else follows from the row trigger: the rows get the
 * undelete's change id, the child rows that the same change tombstoned by
 * cascade come back with their parents, restored rows whose parent is
 * still tombstoned are refused, and the ledger records one "undelete"
 * change that undelete_change() can undo in turn.
 *
 * A restored row whose unique key is now held by a live row fails with
 * the unique violation of the index; the error is re-raised naming the
 * table, the key and what to do.
 *
 * src/operations/undelete.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_operator.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "foundation/catalog.h"
#include "foundation/names.h"
#include "foundation/query.h"
#include "foundation/refuse.h"
#include "foundation/settings.h"
#include "foundation/tenant.h"
#include "recording/change.h"
#include "recording/ledger.h"
#include "mechanisms/cascade.h"
#include "mechanisms/fkgraph.h"

PG_FUNCTION_INFO_V1(tombstone_undelete);
PG_FUNCTION_INFO_V1(tombstone_undelete_change);
PG_FUNCTION_INFO_V1(tombstone_undelete_tenant);

static void
require_preloaded(const char *funcname)
{
	if (!tombstone_preloaded)
		TombstoneRefuseNotPreloaded(psprintf("%s() records its work as a change, which needs the library loaded at server start.",
											 funcname));
}

/*
 * Run an undelete query as the caller; a unique violation becomes an error
 * that says a live row holds the key of a row being restored.
 */
static uint64
run_restore(const char *sql, int nargs, Oid *argtypes, Datum *values,
			const char *nulls)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile uint64 n = 0;

	PG_TRY();
	{
		n = TombstoneRunInternal(sql, nargs, argtypes, values, nulls,
								 InvalidOid);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION &&
			edata->sqlerrcode != ERRCODE_EXCLUSION_VIOLATION)
			PG_RE_THROW();
		FlushErrorState();
		edata->message = psprintf("cannot undelete rows of table \"%s\": a live row holds the same key",
								  edata->table_name ? edata->table_name : "?");
		edata->detail = psprintf("%s%sA restored row of table \"%s\" would duplicate the key of a live row under constraint \"%s\".",
								 edata->detail ? edata->detail : "",
								 edata->detail ? " " : "",
								 edata->table_name ? edata->table_name : "?",
								 edata->constraint_name ? edata->constraint_name : "?");
		edata->hint = pstrdup("Delete or change the live row first, or restore the other rows with tombstone.undelete() and a narrower match.");
		ReThrowError(edata);
	}
	PG_END_TRY();
	return n;
}

/*-------------------------------------------------------------------------
 * tombstone.undelete(tbl regclass, match jsonb)
 *-------------------------------------------------------------------------
 */

typedef struct MatchContext
{
	const char *column;
	const char *table;
} MatchContext;

static void
match_error_callback(void *arg)
{
	MatchContext *mc = (MatchContext *) arg;

	errcontext("value for column \"%s\" of table \"%s\" in the match of tombstone.undelete()",
			   mc->column, mc->table);
}

/*
 * The text of one JSON value of the match, for the input function of a
 * column of type typid; NULL for JSON null.
 */
static char *
match_value_text(JsonbValue *v, Oid typid, const char *column,
				 const char *table)
{
	switch (v->type)
	{
		case jbvNull:
			return NULL;
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			if (typid == JSONBOID || typid == JSONOID)
				return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("value for column \"%s\" of table \"%s\" must be a JSON scalar",
							column, table),
					 errdetail("The match gives column \"%s\" (of type %s) a JSON object or array.",
							   column, format_type_be(typid)),
					 errhint("Give the value as a JSON string or number, as in {\"%s\": \"...\"}.",
							 column)));
	}
	return NULL;				/* keep compiler quiet */
}

Datum
tombstone_undelete(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Jsonb	   *match;
	const TombstoneRel *trel;
	const char *relname;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	StringInfoData sql;
	Datum	   *values;
	Oid		   *argtypes;
	char	   *nulls;
	int			nargs = 0;
	int			maxargs;
	uint64		n;
	void	   *scope;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments of tombstone.undelete() must not be null"),
				 errdetail("Called with tbl %s and match %s.",
						   PG_ARGISNULL(0) ? "NULL" : "given",
						   PG_ARGISNULL(1) ? "NULL" : "given"),
				 errhint("Name a protected table and the column values of the rows to restore, as in tombstone.undelete('orders', '{\"id\": 42}').")));
	relid = PG_GETARG_OID(0);
	match = PG_GETARG_JSONB_P(1);
	require_preloaded("tombstone.undelete");

	relname = get_rel_name(relid);
	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if ((trel = TombstoneRelLookup(relid)) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table \"%s\" is not protected", relname),
				 errdetail("Only protected tables keep tombstoned rows to restore."),
				 errhint("See tombstone.protected_tables.")));
	if (!JB_ROOT_IS_OBJECT(match) || JB_ROOT_IS_SCALAR(match))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("match of tombstone.undelete() must be a JSON object"),
				 errdetail("The match was %s.", JsonbToCString(NULL, &match->root, VARSIZE(match))),
				 errhint("Give column names and values, as in '{\"id\": 42}'.")));
	if (JB_ROOT_COUNT(match) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("match of tombstone.undelete() must name at least one column"),
				 errdetail("An empty match would restore every tombstoned row of table \"%s\".",
						   relname),
				 errhint("Name the rows to restore, or undo a whole change with tombstone.undelete_change().")));

	maxargs = JB_ROOT_COUNT(match);
	values = palloc(sizeof(Datum) * maxargs);
	argtypes = palloc(sizeof(Oid) * maxargs);
	nulls = palloc(maxargs + 1);
	memset(nulls, ' ', maxargs);
	nulls[maxargs] = '\0';

	initStringInfo(&sql);
	appendStringInfo(&sql, TOMBSTONE_INTERNAL_QUERY
					 "UPDATE %s t SET %s = NULL WHERE t.%s IS NOT NULL",
					 TombstoneQualifiedName(relid), TOMBSTONE_DELETED_AT,
					 TOMBSTONE_DELETED_AT);

	it = JsonbIteratorInit(&match->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *column;
		AttrNumber	attno;
		Oid			typid;
		int32		typmod;
		char	   *text;

		if (tok != WJB_KEY)
			continue;
		column = pnstrdup(v.val.string.val, v.val.string.len);
		attno = get_attnum(relid, column);
		if (attno <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of table \"%s\" does not exist",
							column, relname),
					 errdetail("The match of tombstone.undelete() names the columns whose values select the rows to restore."),
					 errhint("Name columns of table \"%s\".", relname)));
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		{
			Oid			collid;

			get_atttypetypmodcoll(relid, attno, &typid, &typmod, &collid);
		}
		text = match_value_text(&v, typid, column, relname);

		if (text == NULL)
		{
			appendStringInfo(&sql, " AND t.%s IS NULL", quote_identifier(column));
			continue;
		}
		{
			TypeCacheEntry *tce = lookup_type_cache(typid, TYPECACHE_EQ_OPR);
			Oid			typinput;
			Oid			typioparam;
			MatchContext mc;
			ErrorContextCallback errcb;
			HeapTuple	optup;
			Form_pg_operator opform;

			if (!OidIsValid(tce->eq_opr))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_FUNCTION),
						 errmsg("column \"%s\" of table \"%s\" cannot be matched", column, relname),
						 errdetail("Type %s has no default equality operator.", format_type_be(typid)),
						 errhint("Match the rows by other columns, such as the primary key.")));
			getTypeInputInfo(typid, &typinput, &typioparam);
			mc.column = column;
			mc.table = relname;
			errcb.callback = match_error_callback;
			errcb.arg = &mc;
			errcb.previous = error_context_stack;
			error_context_stack = &errcb;
			values[nargs] = OidInputFunctionCall(typinput, text, typioparam, typmod);
			error_context_stack = errcb.previous;
			argtypes[nargs] = typid;

			optup = SearchSysCache1(OPEROID, ObjectIdGetDatum(tce->eq_opr));
			if (!HeapTupleIsValid(optup))
				elog(ERROR, "cache lookup failed for operator %u", tce->eq_opr);
			opform = (Form_pg_operator) GETSTRUCT(optup);
			appendStringInfo(&sql, " AND t.%s OPERATOR(%s.%s) $%d::%s",
							 quote_identifier(column),
							 quote_identifier(get_namespace_name(opform->oprnamespace)),
							 NameStr(opform->oprname), nargs + 1,
							 format_type_be_qualified(typid));
			ReleaseSysCache(optup);
			nargs++;
		}
	}

	scope = TombstoneChangeBegin("undelete", 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	n = run_restore(sql.data, nargs, argtypes, values, nulls);
	SPI_finish();
	TombstoneChangeEnd(scope);
	PG_RETURN_INT64((int64) n);
}

/*-------------------------------------------------------------------------
 * tombstone.undelete_change(change_id bigint)
 *-------------------------------------------------------------------------
 */

/* one NOTICE per table that the change restored (or tombstoned) rows of */
static void
report_table(Oid root, bool tombstoned)
{
	int64		n = TombstoneChangeRows(root, tombstoned);

	if (n <= 0)
		return;
	if (tombstoned)
		ereport(NOTICE,
				(errmsg_plural("table \"%s\": " INT64_FORMAT " row tombstoned again",
							   "table \"%s\": " INT64_FORMAT " rows tombstoned again",
							   n, get_rel_name(root), n)));
	else
		ereport(NOTICE,
				(errmsg_plural("table \"%s\": " INT64_FORMAT " row restored",
							   "table \"%s\": " INT64_FORMAT " rows restored",
							   n, get_rel_name(root), n)));
}

/*
 * Restore (or, for a change that restored rows, tombstone again) the rows
 * of one table that change id touched.  No index covers deleted_change:
 * one would make every tombstoning UPDATE update an indexed column, never
 * HOT, and cost an index insert per row.  The rows are found through the
 * tenant column instead, for the tenants the ledger counted, so the work
 * grows with those tenants' rows and not with the table.  A table the
 * ledger entry does not name (renamed since), or rows counted without a
 * tenant, are searched by deleted_change alone.
 */
static void
restore_change_rows(Oid root, int64 id, bool restoring)
{
	Oid			argtypes[2] = {INT8OID, InvalidOid};
	Datum		values[2];
	StringInfoData sql;
	int			nargs = 1;

	values[0] = Int64GetDatum(id);
	initStringInfo(&sql);
	appendStringInfo(&sql, TOMBSTONE_INTERNAL_QUERY
					 "UPDATE %s t SET %s = %s WHERE t.%s = $1 AND t.%s IS %sNULL",
					 TombstoneQualifiedName(root), TOMBSTONE_DELETED_AT,
					 restoring ? "NULL" : "now()", TOMBSTONE_DELETED_CHANGE,
					 TOMBSTONE_DELETED_AT, restoring ? "NOT " : "");
	if (TombstoneAppendTenantFilter(&sql, "t", root,
									TombstoneLedgerTenants(id, root), 2,
									&values[1], &argtypes[1]))
		nargs = 2;
	(void) run_restore(sql.data, nargs, argtypes, values, NULL);
}

/*
 * undelete_change()'s work on the tables: those in tables (all of them when
 * all_found is false), restoring pass first, parents before children.
 */
static void
restore_change(int64 id, List *tables, bool all_found, bool any_tombstoned,
			   bool any_restored)
{
	int			pass;

	for (pass = 0; pass < 2; pass++)
	{
		bool		restoring = (pass == 0);
		List	   *roots;
		ListCell   *lc;

		if ((restoring && !any_tombstoned) || (!restoring && !any_restored))
			continue;
		roots = list_copy(TombstoneRootsInOrder(restoring));
		foreach(lc, roots)
		{
			Oid			root = lfirst_oid(lc);

			/* a renamed table is found by looking at every table */
			if (all_found && !list_member_oid(tables, root))
				continue;
			restore_change_rows(root, id, restoring);
			report_table(root, !restoring);
		}
	}
}

/* The same, with cascade restores off (see the caller) */
static void
restore_change_no_cascade(int64 id, List *tables, bool all_found,
						  bool any_tombstoned, bool any_restored)
{
	TombstoneCascadeRestores(false);
	PG_TRY();
	{
		restore_change(id, tables, all_found, any_tombstoned, any_restored);
	}
	PG_FINALLY();
	{
		TombstoneCascadeRestores(true);
	}
	PG_END_TRY();
}

Datum
tombstone_undelete_change(PG_FUNCTION_ARGS)
{
	int64		id;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	bool		isnull;
	int64		tombstoned;
	int64		restored;
	List	   *tables = NIL;
	bool		all_found = true;
	uint64		i;
	void	   *scope;
	int64		changed;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("change id of tombstone.undelete_change() must not be null"),
				 errdetail("Called with change_id NULL."),
				 errhint("Give the id of a change listed in tombstone.changes.")));
	id = PG_GETARG_INT64(0);
	require_preloaded("tombstone.undelete_change");
	values[0] = Int64GetDatum(id);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* the ledger is read as the extension, not as the caller */
	if (TombstoneRunInternal(TOMBSTONE_INTERNAL_QUERY
							 "SELECT (SELECT coalesce(sum((r->>'tombstoned')::bigint), 0)::bigint"
							 "          FROM jsonb_array_elements(c.rows) r),"
							 "       (SELECT coalesce(sum((r->>'restored')::bigint), 0)::bigint"
							 "          FROM jsonb_array_elements(c.rows) r)"
							 "  FROM tombstone.changes c WHERE c.id = $1",
							 1, argtypes, values, NULL, BOOTSTRAP_SUPERUSERID) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("change " INT64_FORMAT " does not exist", id),
				 errdetail("The ledger tombstone.changes has no change with id " INT64_FORMAT ".", id),
				 errhint("See tombstone.changes for the ids of recorded changes.")));
	tombstoned = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1, &isnull));
	restored = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 2, &isnull));

	(void) TombstoneRunInternal(TOMBSTONE_INTERNAL_QUERY
								"SELECT DISTINCT to_regclass(r->>'table')::oid"
								"  FROM tombstone.changes c, jsonb_array_elements(c.rows) r"
								" WHERE c.id = $1",
								1, argtypes, values, NULL, BOOTSTRAP_SUPERUSERID);
	for (i = 0; i < SPI_processed; i++)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
									  1, &isnull);

		if (isnull)
			all_found = false;
		else
			tables = lappend_oid(tables, DatumGetObjectId(d));
	}

	/*
	 * Rows it tombstoned come back, parents first; rows it restored go.
	 * Every table the change touched is restored by a query of its own, so
	 * restoring a parent need not look for its children by key (restored
	 * rows are still checked against their parents).
	 */
	scope = TombstoneChangeBegin(tombstoned > 0 ? "undelete" : "delete", id);
	restore_change_no_cascade(id, tables, all_found, tombstoned > 0,
							  restored > 0);
	/* ON DELETE SET NULL / SET DEFAULT children get their reference back */
	if (tombstoned > 0)
		TombstoneRestoreClearedKeys(id);
	SPI_finish();
	changed = TombstoneChangeRows(InvalidOid, false) +
		TombstoneChangeRows(InvalidOid, true);
	TombstoneChangeEnd(scope);

	PG_RETURN_INT64(changed);
}

/*-------------------------------------------------------------------------
 * tombstone.undelete_tenant(tenant text)
 *-------------------------------------------------------------------------
 */

Datum
tombstone_undelete_tenant(PG_FUNCTION_ARGS)
{
	char	   *tenant;
	Oid			registry;
	char	   *idcol;
	char	   *idtype;
	char	   *sql;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	bool		live;
	Datum		deleted_change;
	List	   *roots;
	ListCell   *lc;
	void	   *scope;
	int64		restored;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tenant of tombstone.undelete_tenant() must not be null"),
				 errdetail("Called with tenant NULL."),
				 errhint("Give the id of a deleted tenant, as stored in the tenant registry.")));
	tenant = text_to_cstring(PG_GETARG_TEXT_PP(0));
	require_preloaded("tombstone.undelete_tenant");
	registry = TombstoneRegistry(&idcol);
	if (!OidIsValid(registry))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("there is no tenant registry"),
				 errdetail("undelete_tenant() restores a tenant deleted from the tenant registry, and none was declared."),
				 errhint("Declare the table of tenants with tombstone.protect_tenants(), or restore rows with tombstone.undelete().")));
	idcol = pstrdup(idcol);
	values[0] = CStringGetTextDatum(tenant);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	idtype = format_type_be_qualified(get_atttype(registry,
												 get_attnum(registry, idcol)));
	sql = psprintf(TOMBSTONE_INTERNAL_QUERY
				   "SELECT t.%s IS NULL, t.%s FROM %s t WHERE t.%s = $1::%s",
				   TOMBSTONE_DELETED_AT, TOMBSTONE_DELETED_CHANGE,
				   TombstoneQualifiedName(registry), quote_identifier(idcol),
				   idtype);
	if (TombstoneRunInternal(sql, 1, argtypes, values, NULL,
							 BOOTSTRAP_SUPERUSERID) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant \"%s\" does not exist", tenant),
				 errdetail("Table \"%s\" has no row with %s = '%s', live or tombstoned.",
						   get_rel_name(registry), idcol, tenant),
				 errhint("Give the id of a deleted tenant, as stored in column \"%s\" of \"%s\".",
						 idcol, get_rel_name(registry))));
	live = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									  1, &isnull));
	deleted_change = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								   2, &isnull);
	if (live)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tenant \"%s\" is not deleted", tenant),
				 errdetail("The row of tenant \"%s\" in table \"%s\" is live.",
						   tenant, get_rel_name(registry)),
				 errhint("Restore single rows of the tenant with tombstone.undelete(), or a change with tombstone.undelete_change().")));

	/* the row trigger brings back every row the tenant deletion took */
	scope = TombstoneChangeBegin("undelete", isnull ? 0 : DatumGetInt64(deleted_change));
	sql = psprintf(TOMBSTONE_INTERNAL_QUERY
				   "UPDATE %s t SET %s = NULL WHERE t.%s = $1::%s AND t.%s IS NOT NULL",
				   TombstoneQualifiedName(registry), TOMBSTONE_DELETED_AT,
				   quote_identifier(idcol), idtype, TOMBSTONE_DELETED_AT);
	(void) run_restore(sql, 1, argtypes, values, NULL);
	SPI_finish();

	roots = list_copy(TombstoneRootsInOrder(true));
	foreach(lc, roots)
		report_table(lfirst_oid(lc), false);
	restored = TombstoneChangeRows(InvalidOid, false);
	TombstoneChangeEnd(scope);
	PG_RETURN_INT64(restored);
}
