/*-------------------------------------------------------------------------
 *
 * pg_tombstone.c
 *	  Entry point of pg_tombstone: GUCs and installation of the hooks.
 *
 * The library must be listed in shared_preload_libraries.  Loaded any other
 * way (LOAD, or on demand when one of its functions is called), it installs
 * only the DDL guard and the check of internal calls, and remembers that it
 * was not preloaded: the triggers on protected tables then refuse every
 * physical delete and say how to configure the server, and the C event
 * trigger at ddl_command_start refuses destructive DDL.  Protection never
 * silently degrades into a hard delete.
 *
 * src/pg_tombstone.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/plancache.h"

#include "pg_tombstone.h"
#include "token.h"

PG_MODULE_MAGIC;

/* true when _PG_init ran from shared_preload_libraries */
bool		tombstone_preloaded = false;

/* GUC tombstone.visibility */
int			tombstone_visibility = TOMBSTONE_VISIBILITY_LIVE;

static const struct config_enum_entry visibility_options[] = {
	{"live", TOMBSTONE_VISIBILITY_LIVE, false},
	{"all", TOMBSTONE_VISIBILITY_ALL, false},
	{"deleted", TOMBSTONE_VISIBILITY_DELETED, false},
	{NULL, 0, false}
};

void		_PG_init(void);

PG_FUNCTION_INFO_V1(tombstone_preloaded_sql);

/*
 * Plans cached by prepared statements, PL/pgSQL and the foreign-key triggers
 * were made with the visibility in force when they were planned, and a GUC
 * change does not invalidate them by itself.  Changing the visibility
 * therefore marks every cached plan for re-planning, so the new value takes
 * effect at once.
 */
static void
assign_visibility(int newval, void *extra)
{
	if (newval != tombstone_visibility)
		ResetPlanCache();
}

void
_PG_init(void)
{
	/*
	 * What works whenever the library is loaded, preloaded or on demand:
	 * the DDL guard (with the catalog cache it reads) refuses destructive
	 * DDL, and internal functions refuse calls from outside the extension.
	 */
	TombstoneCatalogInit();
	TombstoneDdlGuardInit();
	TombstoneInternalInit();

	if (!process_shared_preload_libraries_in_progress)
		return;

	DefineCustomEnumVariable("tombstone.visibility",
							 "Sets which rows of protected tables queries see.",
							 "live hides tombstoned rows, deleted shows only them, all shows both.",
							 &tombstone_visibility,
							 TOMBSTONE_VISIBILITY_LIVE,
							 visibility_options,
							 PGC_USERSET,
							 0,
							 NULL,
							 assign_visibility,
							 NULL);

	MarkGUCPrefixReserved("tombstone");

	TombstonePlannerInit();
	TombstoneLedgerInit();
	TombstoneCascadeInit();
	TombstoneTokenInit();
	TombstoneGuardInit();
	TombstoneObserveInit();
	TombstoneHistoryInit();

	tombstone_preloaded = true;
}

/*
 * tombstone._preloaded(): whether this backend runs with the library from
 * shared_preload_libraries, that is, whether protection is fully active.
 */
Datum
tombstone_preloaded_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(tombstone_preloaded);
}
