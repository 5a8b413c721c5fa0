/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  Whether the library was preloaded, and tombstone.visibility.
 *
 * The library must be listed in shared_preload_libraries.  Loaded any other
 * way (LOAD, or on demand when one of its functions is called), it installs
 * only the DDL guard and the check of internal calls (src/pg_tombstone.c)
 * and remembers here that it was not preloaded: the triggers on protected
 * tables then refuse every physical delete and say how to configure the
 * server.  Protection never silently degrades into a hard delete.
 *
 * The GUCs of other subsystems are defined by those subsystems' Init
 * functions; the prefix "tombstone" is reserved here, first.
 *
 * src/foundation/settings.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"
#include "utils/plancache.h"

#include "foundation/settings.h"

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

/*
 * Define tombstone.visibility and reserve the prefix; from _PG_init only,
 * when the library is preloaded.
 */
void
TombstoneSettingsInit(void)
{
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
}
