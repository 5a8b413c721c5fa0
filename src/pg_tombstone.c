/*-------------------------------------------------------------------------
 *
 * pg_tombstone.c
 *	  Entry point of pg_tombstone: _PG_init starts every subsystem.
 *
 * The source is layered, and a file includes headers of its own layer and
 * below only (scripts/check-source.pl checks it):
 *
 *	foundation/  settings and start-up state, the invalidation dispatcher,
 *				 the protected-relation cache, the extension's own queries,
 *				 tenants, refusals and their counters;
 *	policy/		 JWS, keys and change tokens, the guard, purge permits;
 *	recording/	 changes and the ledger, the row history writer;
 *	mechanisms/  the planner rewrite, the executor hooks, triggers, the
 *				 graph of foreign keys and their cascades, the DDL guard;
 *	operations/  what SQL calls: protect, undelete, preview, purge, time
 *				 travel.
 *
 * This file alone sits above them all: it wires them together.
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

#include "miscadmin.h"

#include "foundation/catalog.h"
#include "foundation/internal.h"
#include "foundation/observe.h"
#include "foundation/settings.h"
#include "policy/guard.h"
#include "policy/token.h"
#include "recording/change.h"
#include "recording/history.h"
#include "mechanisms/cascade.h"
#include "mechanisms/citus_guard.h"
#include "mechanisms/database_guard.h"
#include "mechanisms/ddl_guard.h"
#include "mechanisms/executor.h"
#include "mechanisms/fkgraph.h"
#include "mechanisms/planner.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

PG_FUNCTION_INFO_V1(tombstone_preloaded_sql);

void
_PG_init(void)
{
	/*
	 * What works whenever the library is loaded, preloaded or on demand:
	 * the DDL guard (with the catalog cache it reads) refuses destructive
	 * DDL, DROP DATABASE of a database that holds protected tables is
	 * refused, and internal functions refuse calls from outside the
	 * extension.
	 */
	TombstoneCatalogInit();
	TombstoneDdlGuardInit();
	TombstoneDatabaseGuardInit();
	TombstoneInternalInit();

	if (!process_shared_preload_libraries_in_progress)
		return;

	TombstoneSettingsInit();
	TombstonePlannerInit();
	TombstoneExecutorInit();
	TombstoneChangeInit();
	TombstoneFkGraphInit();
	TombstoneCascadeInit();
	TombstoneTokenInit();
	TombstoneGuardInit();
	TombstoneObserveInit();
	TombstoneHistoryInit();
	TombstoneCitusGuardInit();

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
