/*-------------------------------------------------------------------------
 *
 * database_guard.c
 *	  DROP DATABASE of a database where pg_tombstone keeps protected rows,
 *	  and the mark that tells.
 *
 * DROP DATABASE runs from another database, which cannot read the dropped
 * one's catalogs.  So whether a database holds what pg_tombstone keeps
 * (protected tables, their history, the ledger) is kept where every
 * database can read it: a security label of provider "pg_tombstone" on the
 * database, in the shared catalog pg_shseclabel.  The extension's script
 * sets it (CREATE EXTENSION, ALTER EXTENSION UPDATE), protect() sets it
 * when it is missing (a database copied from a template), and only DROP
 * EXTENSION pg_tombstone removes it -- which is refused while tables are
 * protected.  It is written once per database, so protect() calls in
 * concurrent transactions never wait for each other on it.  The label
 * provider refuses to remove or change the label by SQL while the
 * extension is installed.  A superuser authorises a deliberate drop by
 * naming the database in tombstone.drop_database in the session that drops
 * it.
 *
 * This is a subsystem of its own because it guards a whole database from
 * outside it, through a shared catalog and a GUC, where the rest of the
 * DDL guard (mechanisms/ddl_guard.c, which calls TombstoneDatabaseCheckDrop()
 * for DROP DATABASE) guards objects inside the current database.  The
 * label provider and the GUC exist whenever the library is loaded,
 * preloaded or not: event triggers do not fire for DROP DATABASE, so it is
 * guarded only in a backend that has loaded the library.
 *
 * src/mechanisms/database_guard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/objectaddress.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "commands/seclabel.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "foundation/errcodes.h"
#include "mechanisms/database_guard.h"

PG_FUNCTION_INFO_V1(tombstone_mark_database);

#define TOMBSTONE_LABEL_PROVIDER	"pg_tombstone"
#define TOMBSTONE_LABEL_MARK		"holds pg_tombstone"

/* GUC tombstone.drop_database: databases that may be dropped on purpose */
static char *drop_database_names = NULL;

/*
 * Mark this database as holding what pg_tombstone keeps (on), or remove the
 * mark (when the extension is dropped).  Writes only when that changes it.
 */
void
TombstoneMarkDatabase(bool on)
{
	ObjectAddress db;
	char	   *label;

	ObjectAddressSet(db, DatabaseRelationId, MyDatabaseId);
	label = GetSecurityLabel(&db, TOMBSTONE_LABEL_PROVIDER);
	if (on && label == NULL)
		SetSecurityLabel(&db, TOMBSTONE_LABEL_PROVIDER, TOMBSTONE_LABEL_MARK);
	else if (!on && label != NULL)
		SetSecurityLabel(&db, TOMBSTONE_LABEL_PROVIDER, NULL);
}

/*
 * SECURITY LABEL FOR pg_tombstone: marking a database is harmless (a
 * restore of a dump made with --create does it); removing or changing the
 * mark of the current database is refused while the extension is
 * installed in it, and of another database always (this one cannot tell).
 */
static void
label_provider_hook(const ObjectAddress *object, const char *seclabel)
{
	if (object->classId != DatabaseRelationId)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pg_tombstone labels databases only"),
				 errhint("Leave the labels of provider \"%s\" to pg_tombstone.", TOMBSTONE_LABEL_PROVIDER)));
	if (seclabel != NULL && strcmp(seclabel, TOMBSTONE_LABEL_MARK) == 0)
		return;
	if (seclabel == NULL && object->objectId == MyDatabaseId &&
		!OidIsValid(get_extension_oid("pg_tombstone", true)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_DROP_DATABASE),
			 errmsg("cannot change the mark of database \"%s\"",
					get_database_name(object->objectId) ? get_database_name(object->objectId) : "?"),
			 errdetail("The mark says the database holds protected tables, their history or the ledger of pg_tombstone, and keeps it from being dropped by accident; DROP EXTENSION pg_tombstone removes it."),
			 errhint("To drop the database on purpose, name it in tombstone.drop_database.")));
}

/* Is dbname listed in tombstone.drop_database? */
static bool
drop_database_authorised(const char *dbname)
{
	char	   *rawstring;
	List	   *names;
	ListCell   *lc;
	bool		found = false;

	if (drop_database_names == NULL || drop_database_names[0] == '\0')
		return false;
	rawstring = pstrdup(drop_database_names);
	if (!SplitIdentifierString(rawstring, ',', &names))
		return false;
	foreach(lc, names)
		if (strcmp((char *) lfirst(lc), dbname) == 0)
			found = true;
	return found;
}

static bool
check_drop_database_names(char **newval, void **extra, GucSource source)
{
	char	   *rawstring = pstrdup(*newval);
	List	   *names;

	if (!SplitIdentifierString(rawstring, ',', &names))
	{
		GUC_check_errdetail("List syntax is invalid.");
		return false;
	}
	return true;
}

/*
 * DROP DATABASE of a database marked as holding what pg_tombstone keeps:
 * refused unless tombstone.drop_database names it.  Called by the utility
 * guard (mechanisms/ddl_guard.c) from any database, with or without the
 * extension installed in it.
 */
void
TombstoneDatabaseCheckDrop(DropdbStmt *stmt)
{
	Oid			dboid = get_database_oid(stmt->dbname, true);
	ObjectAddress db;

	if (!OidIsValid(dboid))
		return;
	ObjectAddressSet(db, DatabaseRelationId, dboid);
	if (GetSecurityLabel(&db, TOMBSTONE_LABEL_PROVIDER) == NULL)
		return;
	if (drop_database_authorised(stmt->dbname))
	{
		ereport(LOG,
				(errmsg("pg_tombstone: database \"%s\" is dropped as tombstone.drop_database allows",
						stmt->dbname)));
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_DROP_DATABASE),
			 errmsg("cannot drop database \"%s\", where pg_tombstone keeps protected rows", stmt->dbname),
			 errdetail("DROP DATABASE would remove the protected tables of \"%s\" with all of their rows, tombstones included, their history and the ledger.",
					   stmt->dbname),
			 errhint("Unprotect its tables (with change tokens) and drop extension pg_tombstone in it first; or, as a superuser, drop it on purpose with SET tombstone.drop_database = '%s' in this session.",
					 stmt->dbname)));
}

/*
 * Define tombstone.drop_database and register the label provider, once
 * per backend: from _PG_init, whether the library is preloaded or loaded
 * on demand.
 */
void
TombstoneDatabaseGuardInit(void)
{
	static bool done = false;

	if (done)
		return;
	done = true;
	DefineCustomStringVariable("tombstone.drop_database",
							   "Names the databases that may be dropped although they hold protected tables.",
							   "A comma-separated list; set it in the session that runs DROP DATABASE.",
							   &drop_database_names,
							   "",
							   PGC_SUSET,
							   GUC_LIST_INPUT,
							   check_drop_database_names, NULL, NULL);
	register_label_provider(TOMBSTONE_LABEL_PROVIDER, label_provider_hook);
}

/*
 * tombstone._mark_database(): mark this database as holding what
 * pg_tombstone keeps, from the extension's script.  Changes nothing else.
 */
Datum
tombstone_mark_database(PG_FUNCTION_ARGS)
{
	TombstoneMarkDatabase(true);
	PG_RETURN_VOID();
}
