/*-------------------------------------------------------------------------
 *
 * internal.c
 *	  The extension's own code paths: which of its functions may call the
 *	  internal ones, and which column renames of history tables are its own.
 *
 * protect(), protect_tenants(), unprotect() and the DDL event triggers do
 * their work through internal functions (_register, _create_history,
 * _install_triggers, ...) that must be SQL-callable, since the entry points
 * are PL/pgSQL, and executable by every role that may protect a table.  A
 * direct call of one of them skips the checks of its entry point: it could
 * register a catalog table, give a table another table's history or rename
 * another history table's columns.  So an internal function refuses unless
 * one of the entry points is running in this backend.
 *
 * The entry points are PL/pgSQL functions with a SET clause, which
 * PostgreSQL runs through fmgr_security_definer(); that calls fmgr_hook at
 * the start and at the end (or abort) of every such call.  The hook keeps a
 * stack of the entry points running, by the FmgrInfo of each call.  The
 * hook is installed when the library is loaded, preloaded or not; without
 * preloading, the C event trigger at ddl_command_start loads the library
 * before the event triggers that call internal functions run.
 *
 * Code of the user's that runs inside an entry point (a trigger fired by
 * protect()'s own UPDATE, say) passes this check; every internal function
 * still checks its arguments and the caller's rights itself.
 *
 * The DDL guard refuses every change to a history table's columns but
 * those the extension carries over from its protected table: the column
 * rename that recording/history.c makes is marked here, in the lowest
 * layer, because the writer sits below the guard that reads the mark
 * (mechanisms/record_guard.c).  (The writes of the extension's own to its
 * tables are marked in foundation/query.c, with its other queries.)
 *
 * src/foundation/internal.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/syscache.h"

#include "foundation/errcodes.h"
#include "foundation/internal.h"
#include "foundation/inval.h"
#include "foundation/names.h"

PG_FUNCTION_INFO_V1(tombstone_require_internal);

/* The entry points: the functions allowed to call internal ones */
static const char *const entry_names[] = {
	"protect", "protect_tenants", "unprotect", "_on_ddl_end", "_on_sql_drop"
};

#define MAX_ENTRY_OIDS	16
#define MAX_RUNNING		64

static Oid	entry_oids[MAX_ENTRY_OIDS];
static int	n_entry_oids = 0;
static bool entry_oids_valid = false;

/* the calls of entry points running now, innermost last */
static FmgrInfo *running[MAX_RUNNING];
static int	n_running = 0;

static fmgr_hook_type prev_fmgr_hook = NULL;

/* A function was created, changed or dropped: look the entry points up again */
static void
entry_oids_callback(uint32 hashvalue)
{
	entry_oids_valid = false;
}

/* Look the entry points up in schema tombstone (all their overloads). */
static void
load_entry_oids(void)
{
	Oid			nspid = get_namespace_oid(TOMBSTONE_SCHEMA, true);
	int			i;

	n_entry_oids = 0;
	if (OidIsValid(nspid))
	{
		for (i = 0; i < lengthof(entry_names); i++)
		{
			CatCList   *list = SearchSysCacheList1(PROCNAMEARGSNSP,
												   CStringGetDatum(entry_names[i]));
			int			j;

			for (j = 0; j < list->n_members; j++)
			{
				HeapTuple	tup = &list->members[j]->tuple;
				Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tup);

				if (proc->pronamespace == nspid && n_entry_oids < MAX_ENTRY_OIDS)
					entry_oids[n_entry_oids++] = proc->oid;
			}
			ReleaseSysCacheList(list);
		}
	}
	entry_oids_valid = true;
}

static bool
is_entry(Oid fn_oid)
{
	int			i;

	if (!entry_oids_valid)
		load_entry_oids();
	for (i = 0; i < n_entry_oids; i++)
		if (entry_oids[i] == fn_oid)
			return true;
	return false;
}

/*
 * fmgr_hook: push an entry point's call at its start, pop it at its end or
 * abort.  Nothing is looked up at the end, which may run during an abort.
 */
static void
tombstone_fmgr_hook(FmgrHookEventType event, FmgrInfo *flinfo, Datum *arg)
{
	if (prev_fmgr_hook)
		prev_fmgr_hook(event, flinfo, arg);

	switch (event)
	{
		case FHET_START:
			if (IsTransactionState() && is_entry(flinfo->fn_oid))
			{
				/* before the call: an error here needs no END */
				if (n_running >= MAX_RUNNING)
					ereport(ERROR,
							(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							 errmsg("functions of pg_tombstone are nested too deeply"),
							 errdetail("More than %d calls of protect(), unprotect() or the extension's event triggers are running inside each other.",
									   MAX_RUNNING)));
				running[n_running++] = flinfo;
			}
			break;
		case FHET_END:
		case FHET_ABORT:
			if (n_running > 0 && running[n_running - 1] == flinfo)
				n_running--;
			break;
	}
}

/* No call outlives its transaction. */
static void
internal_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
		n_running = 0;
}

/*
 * Install the hook once per backend: from _PG_init, preloaded or loaded on
 * demand.
 */
void
TombstoneInternalInit(void)
{
	static bool done = false;

	if (done)
		return;
	prev_fmgr_hook = fmgr_hook;
	fmgr_hook = tombstone_fmgr_hook;
	TombstoneOnSyscacheInval(PROCOID, entry_oids_callback);
	RegisterXactCallback(internal_xact_callback, NULL);
	done = true;
}

/* Is one of the extension's entry points running? */
bool
TombstoneOwnCode(void)
{
	return n_running > 0;
}

/*
 * Refuse a call of internal function funcname that does not come from one
 * of the entry points.
 */
void
TombstoneRequireOwnCode(const char *funcname)
{
	if (TombstoneOwnCode())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_INTERNAL),
			 errmsg("%s() is internal to pg_tombstone", funcname),
			 errdetail("It was called directly; only tombstone.protect(), protect_tenants(), unprotect() and the extension's event triggers call it, after checking what it is given."),
			 errhint("Call tombstone.protect(), tombstone.protect_tenants() or tombstone.unprotect() instead.")));
}

/*
 * tombstone._require_internal(funcname text): the same refusal for the
 * internal functions written in PL/pgSQL, which call this first.
 */
Datum
tombstone_require_internal(PG_FUNCTION_ARGS)
{
	TombstoneRequireOwnCode(PG_ARGISNULL(0) ? "tombstone internal function" :
							text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}

/*
 * Is the script of this extension running (CREATE EXTENSION pg_tombstone,
 * ALTER EXTENSION pg_tombstone UPDATE)?  It may change the extension's own
 * objects, which are refused to everything else.
 */
bool
TombstoneExtensionScript(void)
{
	return creating_extension &&
		CurrentExtensionObject == get_extension_oid("pg_tombstone", true);
}

/*-------------------------------------------------------------------------
 * Column renames carried over to history tables
 *-------------------------------------------------------------------------
 */

/* the history table whose columns the extension itself is carrying over */
static Oid	carried_over = InvalidOid;

/*
 * recording/history.c renames a history table's column with its protected
 * table's: the rename of histrelid is the extension's own (InvalidOid:
 * done).  The DDL guard (mechanisms/record_guard.c) asks
 * TombstoneHistoryCarriedOver().
 */
void
TombstoneHistoryCarryOver(Oid histrelid)
{
	carried_over = histrelid;
}

bool
TombstoneHistoryCarriedOver(Oid histrelid)
{
	return OidIsValid(histrelid) && histrelid == carried_over;
}
