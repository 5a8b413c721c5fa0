/*-------------------------------------------------------------------------
 *
 * refuse.c
 *	  Refusals shared by several subsystems.
 *
 * Every refusal of the extension is an error of its own SQLSTATE class "TB"
 * (foundation/errcodes.h), with a detail saying what was attempted and a hint
 * saying what to do.  Most are raised where the decision is made; the ones
 * here are raised alike from several layers: the library was not preloaded,
 * TRUNCATE of a protected table (by the utility hook, earlier, and by the
 * TRUNCATE trigger, which also works without the library), and a change to
 * one of the extension's own tables (by their guard trigger and by the DDL
 * guard).
 *
 * src/foundation/refuse.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "foundation/errcodes.h"
#include "foundation/refuse.h"
#include "foundation/settings.h"

/*
 * Refuse because the library is not preloaded: the one configuration in
 * which the planner could not turn a DELETE into a tombstone.
 */
void
TombstoneRequirePreloaded(const char *relname)
{
	if (tombstone_preloaded)
		return;
	TombstoneRefuseNotPreloaded(psprintf("A DELETE on protected table \"%s\" would have removed rows physically instead of tombstoning them, so it was refused.",
										 relname));
}

/*
 * The refusal itself, with a detail saying what was attempted; shared by
 * every path that needs the library loaded at server start.
 */
void
TombstoneRefuseNotPreloaded(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_NOT_PRELOADED),
			 errmsg("pg_tombstone must be loaded via shared_preload_libraries"),
			 errdetail_internal("%s", detail),
			 errhint("Add pg_tombstone to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * The refusal of TRUNCATE, shared by the TRUNCATE trigger of protected
 * tables (mechanisms/triggers.c) and the utility hook
 * (mechanisms/ddl_guard.c), which refuses earlier when the library is
 * preloaded.
 */
void
TombstoneRefuseTruncate(const char *relname)
{
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_TRUNCATE),
			 errmsg("cannot truncate protected table \"%s\"", relname),
			 errdetail("TRUNCATE would remove every row of table \"%s\", live and tombstoned.",
					   relname),
			 errhint(TOMBSTONE_DDL_HINT)));
}

/*
 * The refusal of any change to one of the extension's tables other than the
 * ledger: what was attempted on relname, a statement ("DELETE") when ddl
 * is false, else a phrase ("alter").  Shared by the guard trigger of those
 * tables (mechanisms/triggers.c) and the DDL guard of the record
 * (mechanisms/record_guard.c).
 */
void
TombstoneRefuseOwnTableChange(const char *relname, const char *what, bool ddl)
{
	if (ddl)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_OWN_OBJECTS),
				 errmsg("cannot %s table \"%s\" of pg_tombstone", what, relname),
				 errdetail("Table \"%s\" records what pg_tombstone protects and who may authorise what; only the extension's own scripts change it.",
						   relname),
				 errhint("Update the extension with ALTER EXTENSION pg_tombstone UPDATE.")));
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_OWN_OBJECTS),
			 errmsg("cannot change table \"%s\" of pg_tombstone", relname),
			 errdetail("Table \"%s\" records what pg_tombstone protects and who may authorise what; only the extension writes it, and %s was refused.",
					   relname, what),
			 errhint("Use tombstone.protect(), unprotect(), protect_tenants(), set_retention(), add_key() or remove_key().")));
}
