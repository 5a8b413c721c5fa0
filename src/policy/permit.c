/*-------------------------------------------------------------------------
 *
 * permit.c
 *	  The one physical delete of protected rows the guard allows: an
 *	  authorised purge's own DELETE.
 *
 * Rows of protected tables and history tables leave them physically only
 * through tombstone.purge() and purge_tenant() (operations/purge.c).  While
 * one of their DELETEs runs, the purge grants a permit here saying what it
 * may remove, and every other layer asks: the planner leaves that one DELETE
 * physical (TombstonePermitPlanning), the BEFORE DELETE guard trigger lets a
 * row go only if it is one the permit covers (TombstonePermitAllowsRow), and
 * the history table's guard trigger likewise (TombstonePermitAllowsHistory).
 * The executor depth tells that DELETE from a query a trigger runs while it
 * executes, one level deeper, which stays a tombstone whatever its text.  The
 * permit ends with the DELETE, also by error, and with the transaction.
 *
 * src/policy/permit.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "foundation/catalog.h"
#include "foundation/query.h"
#include "policy/permit.h"

/* The permit in force, if active, for the DELETE at executor depth depth */
static TombstonePermit permit;
static bool permit_active = false;
static int	permit_depth = -1;

static bool xact_callback_registered = false;

/* No DELETE of a purge runs any more. */
static void
permit_reset(void)
{
	permit_active = false;
	permit_depth = -1;
	memset(&permit, 0, sizeof(permit));
}

/* A permit never outlives its transaction, whatever ended the DELETE. */
static void
permit_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
		permit_reset();
}

/*
 * Allow the next DELETE the caller runs (one executor level down) to remove
 * what *granted describes, until TombstonePermitRevoke().  The lists and
 * strings it points to must live as long.
 */
void
TombstonePermitGrant(const TombstonePermit *granted)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(permit_xact_callback, NULL);
		xact_callback_registered = true;
	}
	permit = *granted;
	permit_depth = TombstoneExecDepth() + 1;
	permit_active = true;
}

/* The DELETE has ended, also by error (the caller's PG_FINALLY). */
void
TombstonePermitRevoke(void)
{
	permit_reset();
}

/*
 * Whether the DELETE of a purge is being planned: the planner leaves a
 * DELETE with the internal query prefix physical only then.  The executor
 * depth tells that DELETE (planned just before its executor run) from a
 * query that a trigger runs while it executes, one level deeper, which
 * stays a tombstone whatever its text.
 */
bool
TombstonePermitActive(void)
{
	return permit_active;
}

/* Is the purge's own query being planned? */
bool
TombstonePermitPlanning(void)
{
	return permit_active && TombstoneExecDepth() == permit_depth - 1;
}

/* Is a purge deleting old versions from history table histrelid? */
bool
TombstonePermitAllowsHistory(Oid histrelid)
{
	return permit_active && permit.history_relid == histrelid &&
		TombstoneExecDepth() == permit_depth;
}

/* A tenant value as text, as the SQL cast to text gives it */
static char *
tenant_string(Datum value, Oid typid)
{
	Oid			typoutput;
	bool		isvarlena;
	char	   *str;

	getTypeOutputInfo(typid, &typoutput, &isvarlena);
	str = OidOutputFunctionCall(typoutput, value);
	if (typid == BPCHAROID)
	{
		int			len = strlen(str);

		while (len > 0 && str[len - 1] == ' ')
			str[--len] = '\0';
	}
	return str;
}

/*
 * Called by the BEFORE DELETE guard trigger for every row that reaches it:
 * true only for a row the purge may remove.  Everything the DELETE's own
 * quals said is checked again on the row itself, so that nothing else that
 * happens to run meanwhile (a trigger's query, say) can use the window.
 */
bool
TombstonePermitAllowsRow(Relation rel, HeapTuple tuple)
{
	const TombstoneRel *trel;
	TupleDesc	desc = RelationGetDescr(rel);
	Datum		d;
	bool		isnull;
	char	   *tenant = NULL;
	ListCell   *lc;

	if (!permit_active || TombstoneExecDepth() != permit_depth)
		return false;
	trel = TombstoneRelLookup(RelationGetRelid(rel));
	if (trel == NULL || trel->root != permit.root)
		return false;

	d = heap_getattr(tuple, trel->deleted_at_attno, desc, &isnull);
	if (isnull)
		return false;			/* a live row never goes */
	if (!permit.by_tenant && DatumGetTimestampTz(d) >= permit.cutoff)
		return false;

	d = heap_getattr(tuple, trel->tenant_attno, desc, &isnull);
	if (!isnull)
		tenant = tenant_string(d, TupleDescAttr(desc, trel->tenant_attno - 1)->atttypid);
	if (permit.tenant != NULL &&
		(tenant == NULL || strcmp(tenant, permit.tenant) != 0))
		return false;
	if (tenant == NULL)
		return permit.null_tenant;
	foreach(lc, permit.tenants)
		if (strcmp((const char *) lfirst(lc), tenant) == 0)
			return true;
	return false;
}
