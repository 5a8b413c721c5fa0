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
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "foundation/catalog.h"
#include "foundation/errcodes.h"
#include "foundation/names.h"
#include "foundation/query.h"
#include "foundation/settings.h"
#include "policy/guard.h"

PG_FUNCTION_INFO_V1(tombstone_register);
PG_FUNCTION_INFO_V1(tombstone_register_tenants);
PG_FUNCTION_INFO_V1(tombstone_unregister);
PG_FUNCTION_INFO_V1(tombstone_create_history);

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

	for (i = 0; i < 4; i++)
		if (PG_ARGISNULL(i))
			elog(ERROR, "tombstone._register: argument %d is null", i + 1);
	relid = PG_GETARG_OID(0);

	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, get_rel_name(relid));

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
	Datum		values[2];
	Oid			argtypes[2] = {REGCLASSOID, NAMEOID};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		elog(ERROR, "tombstone._register_tenants: argument is null");
	relid = PG_GETARG_OID(0);
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, get_rel_name(relid));

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

	if (PG_ARGISNULL(0))
		elog(ERROR, "tombstone._unregister: argument is null");
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
	if (SPI_execute_with_args("DELETE FROM tombstone.tables"
							  " WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass"
							  " OR parent OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE ||
		SPI_execute_with_args("DELETE FROM tombstone.tenant_registry"
							  " WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not unregister relation %u", relid);
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
	const char *cmds[7];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		elog(ERROR, "tombstone._create_history: argument is null");
	relid = PG_GETARG_OID(0);
	tenant_column = NameStr(*PG_GETARG_NAME(1));
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, get_rel_name(relid));

	nspid = get_namespace_oid(TOMBSTONE_HISTORY_SCHEMA, false);
	relname = get_rel_name(relid);
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
	/*
	 * A history table has no key; with the whole row as its replica
	 * identity, a purge of a published history table is allowed and applies
	 * on subscribers.  It costs nothing below wal_level = logical, and rows
	 * of a history table are deleted only by a purge.
	 */
	cmds[5] = psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER tombstone_history_guard,"
					   " ENABLE ALWAYS TRIGGER tombstone_history_truncate,"
					   " REPLICA IDENTITY FULL", qhist);
	cmds[6] = psprintf("ALTER TABLE %s OWNER TO %s", qhist,
					   quote_identifier(GetUserNameFromId(owner, false)));

	TombstoneRunUtilityAs(namespace_owner(nspid), cmds, lengthof(cmds));

	histrelid = get_relname_relid(histname, nspid);
	if (!OidIsValid(histrelid))
		elog(ERROR, "history table %s was not created", qhist);
	PG_RETURN_OID(histrelid);
}
