/*-------------------------------------------------------------------------
 *
 * protect.c
 *	  Registering protected tables: the internal functions behind
 *	  tombstone.protect(), protect_tenants() and unprotect().
 *
 * protect(), protect_tenants(), unprotect() and check() are written in SQL
 * in the extension script; what they cannot do as the calling user is
 * here: writing the extension's catalog (as its owner, once the caller's
 * ownership of the table is checked), creating a history table in the
 * extension's schema, and forgetting a table only once a token allows it.
 * These internal functions refuse a direct call (foundation/internal.c) and
 * check what they are given as protect() would (foundation/catalog.c), since
 * they must stay callable by every role that may protect a table.  The
 * extension's catalog is written only here, as the extension's own write
 * (foundation/query.c), which its guard trigger lets through; so is
 * set_retention(), the one change of a registration after protect().
 * Each ends by invalidating the table's relcache entry, which re-plans
 * every cached plan that uses it and drops every backend's cached answer
 * (foundation/catalog.c).
 *
 * src/operations/protect.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "foundation/catalog.h"
#include "foundation/errcodes.h"
#include "foundation/internal.h"
#include "foundation/names.h"
#include "foundation/query.h"
#include "foundation/refuse.h"
#include "foundation/settings.h"
#include "policy/guard.h"
#include "mechanisms/database_guard.h"

PG_FUNCTION_INFO_V1(tombstone_register);
PG_FUNCTION_INFO_V1(tombstone_register_tenants);
PG_FUNCTION_INFO_V1(tombstone_unregister);
PG_FUNCTION_INFO_V1(tombstone_create_history);
PG_FUNCTION_INFO_V1(tombstone_check_protectable);
PG_FUNCTION_INFO_V1(tombstone_set_retention);

/*
 * tombstone._register(tbl, tenant_column, retention, history, parent,
 *					   history_table)
 *
 * Records one relation in tombstone.tables.  Called by protect() and by the
 * DDL event trigger that adopts new partitions, both running as the user who
 * owns the table.  Application roles cannot write the catalog, so after
 * checking ownership the row is inserted as the catalog's owner.  Finally
 * the relation's relcache entry is invalidated, which re-plans every cached
 * plan that uses it and drops this and other backends' cached answer.
 */
Datum
tombstone_register(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Oid			catrelid;
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	Oid			argtypes[6] = {REGCLASSOID, NAMEOID, INTERVALOID, BOOLOID,
	REGCLASSOID, REGCLASSOID};
	int			i;

	TombstoneRequireOwnCode("tombstone._register");
	for (i = 0; i < 4; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of tombstone._register() must not be null", i + 1),
					 errhint("Protect tables with tombstone.protect().")));
	relid = PG_GETARG_OID(0);
	TombstoneCheckRegistration(relid, NameStr(*PG_GETARG_NAME(1)),
							   PG_GETARG_BOOL(3),
							   PG_ARGISNULL(4) ? InvalidOid : PG_GETARG_OID(4),
							   PG_ARGISNULL(5) ? InvalidOid : PG_GETARG_OID(5));

	catrelid = TombstoneCatalogRelid();
	if (!OidIsValid(catrelid))
		elog(ERROR, "catalog table tombstone.tables does not exist");

	for (i = 0; i < 6; i++)
	{
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		if (PG_ARGISNULL(i))
			nulls[i] = 'n';
	}

	TombstoneInsertAsOwner(catrelid,
						   "INSERT INTO tombstone.tables "
						   "(relid, tenant_column, retention, history, parent, history_table) "
						   "VALUES ($1, $2, $3, $4, $5, $6)",
						   6, argtypes, values, nulls);
	CacheInvalidateRelcacheByRelid(relid);
	/* a database copied from a template lacks the mark (database_guard.c) */
	TombstoneMarkDatabase(true);
	PG_RETURN_VOID();
}

/*
 * tombstone._check_protectable(tbl regclass): what protect() checks first,
 * for every table it is about to protect (foundation/catalog.c).  Changes
 * nothing.
 */
Datum
tombstone_check_protectable(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument of tombstone._check_protectable() must not be null"),
				 errhint("Name a table.")));
	TombstoneCheckProtectable(PG_GETARG_OID(0), "tombstone.protect");
	PG_RETURN_VOID();
}

/*
 * tombstone._register_tenants(tbl, id_column)
 *
 * Records the tenant registry.  Called by protect_tenants() as the user who
 * owns the table, after protect() has protected it.
 */
Datum
tombstone_register_tenants(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Oid			nspid;
	Oid			regrelid;
	const char *relname;
	const TombstoneRel *trel;
	Datum		values[2];
	Oid			argtypes[2] = {REGCLASSOID, NAMEOID};

	TombstoneRequireOwnCode("tombstone._register_tenants");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments of tombstone._register_tenants() must not be null"),
				 errhint("Declare the tenant registry with tombstone.protect_tenants().")));
	relid = PG_GETARG_OID(0);
	relname = TombstoneRelationArg(relid, "tombstone._register_tenants");
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, relname);
	trel = TombstoneRelLookup(relid);
	if (trel == NULL || OidIsValid(trel->parent) ||
		get_attnum(relid, NameStr(*PG_GETARG_NAME(1))) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" cannot be the tenant registry with id column \"%s\"",
						relname, NameStr(*PG_GETARG_NAME(1))),
				 errdetail("The tenant registry is a protected table, protected on its own, and its id column exists."),
				 errhint("Declare the tenant registry with tombstone.protect_tenants().")));

	/*
	 * Deleting a tenant cascades to its rows in every protected table
	 * through the registry's row trigger, which does not fire for rows on
	 * Citus's shards: not supported yet, refused rather than let a tenant
	 * go without its token.
	 */
	if (trel->citus_method != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_CITUS_REGISTRY),
				 errmsg("Citus table \"%s\" cannot be the tenant registry", relname),
				 errdetail("pg_tombstone does not yet delete a tenant through a registry whose rows are on Citus's shards."),
				 errhint("Keep the tenant registry a local table on the coordinator, or protect the Citus table with tombstone.protect() only.")));

	nspid = get_namespace_oid(TOMBSTONE_SCHEMA, false);
	regrelid = get_relname_relid(TOMBSTONE_REGISTRY, nspid);
	if (!OidIsValid(regrelid))
		elog(ERROR, "catalog table tombstone.%s does not exist",
			 TOMBSTONE_REGISTRY);
	values[0] = PG_GETARG_DATUM(0);
	values[1] = PG_GETARG_DATUM(1);
	TombstoneInsertAsOwner(regrelid,
						   "INSERT INTO tombstone.tenant_registry (relid, id_column) "
						   "VALUES ($1, $2)",
						   2, argtypes, values, NULL);
	CacheInvalidateRelcacheByRelid(relid);
	PG_RETURN_VOID();
}

/*
 * tombstone._unregister(relid oid): forget that a table (and the partitions
 * and children protected through it) is protected, once a bound token of
 * operation "unprotect" or "ddl" names it.  Called by unprotect() and by
 * the drop event trigger after an authorised DROP.
 */
Datum
tombstone_unregister(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Oid			catrelid = TombstoneCatalogRelid();
	Datum		values[1];
	Oid			argtypes[1] = {OIDOID};
	Oid			save_userid;
	int			save_sec_context;

	TombstoneRequireOwnCode("tombstone._unregister");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument of tombstone._unregister() must not be null")));
	relid = PG_GETARG_OID(0);
	if (!OidIsValid(catrelid))
		elog(ERROR, "catalog table tombstone.tables does not exist");
	if (!tombstone_preloaded || !TombstoneGuardDdlAllowed(relid))
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_UNPROTECT),
				 errmsg("cannot stop protecting table %u without a change token", relid),
				 errdetail("No bound token of operation \"unprotect\" or \"ddl\" names the table."),
				 errdetail_log("%s", TombstoneGuardWho()),
				 errhint("Call tombstone.unprotect() after authorising a token of operation \"unprotect\" naming the table.")));

	values[0] = ObjectIdGetDatum(relid);
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(TombstoneRelationOwner(catrelid),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PG_TRY();
	{
		TombstoneOwnWriteBegin(catrelid);
		if (SPI_execute_with_args("DELETE FROM tombstone.tables"
								  " WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass"
								  " OR parent OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
								  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not unregister relation %u", relid);
		TombstoneOwnWriteBegin(get_relname_relid(TOMBSTONE_REGISTRY,
												 get_rel_namespace(catrelid)));
		if (SPI_execute_with_args("DELETE FROM tombstone.tenant_registry"
								  " WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
								  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not unregister relation %u", relid);
	}
	PG_FINALLY();
	{
		TombstoneOwnWriteEnd();
	}
	PG_END_TRY();
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		CacheInvalidateRelcacheByRelid(relid);
	CacheInvalidateRelcacheByRelid(catrelid);
	PG_RETURN_VOID();
}

static Oid
namespace_owner(Oid nspid)
{
	HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nspid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nspid);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * tombstone._create_history(tbl regclass, tenant_column name) RETURNS regclass
 *
 * Creates the history table of tbl, which the caller owns, for protect():
 * the columns of tbl (LIKE: types and NOT NULL, no defaults, identities or
 * generation expressions) plus valid_to, an index on (tenant, valid_to) so
 * that reading one tenant at one time reads only that tenant's versions,
 * and the guard triggers.  Schema tombstone_history belongs to the
 * extension, so the table is created as the schema's owner and then given
 * to the owner of tbl.
 */
Datum
tombstone_create_history(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *tenant_column;
	Oid			nspid;
	Oid			owner;
	char	   *relname;
	char	   *histname;
	char	   *qhist;
	Oid			histrelid;
	const char *cmds[8];

	TombstoneRequireOwnCode("tombstone._create_history");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments of tombstone._create_history() must not be null"),
				 errhint("Protect tables with tombstone.protect().")));
	relid = PG_GETARG_OID(0);
	tenant_column = NameStr(*PG_GETARG_NAME(1));
	relname = TombstoneRelationArg(relid, "tombstone._create_history");
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, relname);
	TombstoneCheckProtectable(relid, "tombstone._create_history");
	if (get_attnum(relid, tenant_column) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist",
						tenant_column, relname),
				 errhint("Give the column that holds the tenant id.")));
	if (TombstoneRelLookup(relid) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("table \"%s\" is already protected", relname),
				 errhint("See tombstone.protected_tables.")));

	nspid = get_namespace_oid(TOMBSTONE_HISTORY_SCHEMA, false);
	histname = relname;
	if (OidIsValid(get_relname_relid(histname, nspid)))
		histname = psprintf("%.40s_%u", relname, relid);
	qhist = quote_qualified_identifier(TOMBSTONE_HISTORY_SCHEMA, histname);
	owner = TombstoneRelationOwner(relid);

	cmds[0] = psprintf("CREATE TABLE %s (LIKE %s)", qhist,
					   TombstoneQualifiedName(relid));
	cmds[1] = psprintf("ALTER TABLE %s ADD COLUMN %s timestamptz NOT NULL",
					   qhist, TOMBSTONE_VALID_TO);
	cmds[2] = psprintf("CREATE INDEX ON %s (%s, %s)", qhist,
					   quote_identifier(tenant_column), TOMBSTONE_VALID_TO);
	cmds[3] = psprintf("CREATE TRIGGER tombstone_history_guard BEFORE UPDATE OR DELETE ON %s"
					   " FOR EACH ROW EXECUTE FUNCTION tombstone._history_guard()", qhist);
	cmds[4] = psprintf("CREATE TRIGGER tombstone_history_truncate BEFORE TRUNCATE ON %s"
					   " FOR EACH STATEMENT EXECUTE FUNCTION tombstone._history_guard()", qhist);
	cmds[5] = psprintf("CREATE TRIGGER tombstone_history_insert BEFORE INSERT ON %s"
					   " FOR EACH STATEMENT EXECUTE FUNCTION tombstone._history_guard()", qhist);
	/*
	 * A history table has no key; with the whole row as its replica
	 * identity, a purge of a published history table is allowed and applies
	 * on subscribers.  It costs nothing below wal_level = logical, and rows
	 * of a history table are deleted only by a purge.
	 */
	cmds[6] = psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER tombstone_history_guard,"
					   " ENABLE ALWAYS TRIGGER tombstone_history_truncate,"
					   " ENABLE ALWAYS TRIGGER tombstone_history_insert,"
					   " REPLICA IDENTITY FULL", qhist);
	cmds[7] = psprintf("ALTER TABLE %s OWNER TO %s", qhist,
					   quote_identifier(GetUserNameFromId(owner, false)));

	TombstoneRunUtilityAs(namespace_owner(nspid), cmds, lengthof(cmds));

	histrelid = get_relname_relid(histname, nspid);
	if (!OidIsValid(histrelid))
		elog(ERROR, "history table %s was not created", qhist);
	PG_RETURN_OID(histrelid);
}

/*
 * tombstone.set_retention(tbl regclass, retention interval)
 *
 * Changes how long the tombstones and old row versions of a protected
 * table are kept before a purge may remove them: tombstone.tables is
 * written by the extension only.  The caller must own the table; a shorter
 * retention lets a purge remove rows sooner, so it needs a bound change
 * token of operation "ddl" naming the table.
 */
Datum
tombstone_set_retention(PG_FUNCTION_ARGS)
{
	Oid			relid;
	const char *relname;
	const TombstoneRel *trel;
	Interval   *retention;
	Interval	zero;
	Oid			catrelid = TombstoneCatalogRelid();
	Datum		values[2];
	Oid			argtypes[2] = {REGCLASSOID, INTERVALOID};
	Oid			save_userid;
	int			save_sec_context;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments of tombstone.set_retention() must not be null"),
				 errhint("Name a protected table and its new retention.")));
	relid = PG_GETARG_OID(0);
	retention = PG_GETARG_INTERVAL_P(1);
	relname = TombstoneRelationArg(relid, "tombstone.set_retention");
	if (!tombstone_preloaded)
		TombstoneRefuseNotPreloaded(psprintf("The retention of table \"%s\" was not changed: a shorter one needs a change token, which only the preloaded library checks.",
											 relname));
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, relname);
	trel = TombstoneRelLookup(relid);
	if (trel == NULL || OidIsValid(trel->parent))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not protected on its own", relname),
				 errdetail("A retention belongs to a table protect() was called on; its partitions and children share it."),
				 errhint("See tombstone.protected_tables.")));
	memset(&zero, 0, sizeof(zero));
	if (DatumGetBool(DirectFunctionCall2(interval_lt, IntervalPGetDatum(retention),
										 IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retention of table \"%s\" must not be negative", relname),
				 errhint("Give how long tombstoned rows are kept before they may be purged, such as '30 days'.")));
	if (DatumGetBool(DirectFunctionCall2(interval_lt, IntervalPGetDatum(retention),
										 IntervalPGetDatum(&trel->retention))) &&
		!TombstoneGuardDdlAllowed(relid))
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_RETENTION),
				 errmsg("cannot shorten the retention of table \"%s\" without a change token", relname),
				 errdetail("Table \"%s\" keeps tombstones and old row versions for %s; %s would let a purge remove them sooner.",
						   relname,
						   DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(&trel->retention))),
						   DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(retention)))),
				 errhint(TOMBSTONE_DDL_HINT)));

	values[0] = ObjectIdGetDatum(relid);
	values[1] = IntervalPGetDatum(retention);
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(TombstoneRelationOwner(catrelid), save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	TombstoneOwnWriteBegin(catrelid);
	PG_TRY();
	{
		if (SPI_execute_with_args("UPDATE tombstone.tables SET retention = $2"
								  " WHERE relid OPERATOR(pg_catalog.=) $1",
								  2, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update tombstone.tables");
	}
	PG_FINALLY();
	{
		TombstoneOwnWriteEnd();
	}
	PG_END_TRY();
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	/* partitions and children copy their root's retention: forget them all */
	CacheInvalidateRelcacheByRelid(catrelid);
	PG_RETURN_VOID();
}
