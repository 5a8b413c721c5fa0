/*-------------------------------------------------------------------------
 *
 * executor.c
 *	  The executor hooks: where a statement starts and ends, and the
 *	  statements that tombstone or update rows without the row trigger.
 *
 * Everything that happens at a statement boundary is called from here, in
 * one place: ExecutorRun and ExecutorFinish raise the executor depth
 * (foundation/query.c), as pg_stat_statements counts it; when the query at
 * depth d has finished and its AFTER triggers have fired, the work its rows
 * queued is done (mechanisms/cascade.c; cascades run as nested queries, at
 * depth d + 1, and so recursively), and at depth 1 the change of the
 * statement is closed and its ledger entry written (recording/change.c).  An
 * UPDATE that keeps old versions without the row trigger writes its last
 * one here too (recording/history.c).
 *
 * src/mechanisms/executor.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_am.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "foundation/catalog.h"
#include "foundation/citus.h"
#include "foundation/names.h"
#include "foundation/query.h"
#include "foundation/refuse.h"
#include "foundation/settings.h"
#include "foundation/tenant.h"
#include "policy/guard.h"
#include "recording/change.h"
#include "recording/history.h"
#include "mechanisms/cascade.h"
#include "mechanisms/citus_guard.h"
#include "mechanisms/executor.h"

PG_FUNCTION_INFO_V1(tombstone_stamp);
PG_FUNCTION_INFO_V1(tombstone_citus_change);

/* Per executor depth: a DELETE without the row trigger runs there */
typedef struct StampLevel
{
	bool		stamping;		/* the DELETE's _stamp() counts its rows */
	int64		stamped;		/* rows _stamp() counted for it */
} StampLevel;

static StampLevel *levels = NULL;
static int	nlevels = 0;

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;

static void
ensure_levels(int depth)
{
	if (depth < nlevels)
		return;
	if (levels == NULL)
	{
		nlevels = 16;
		levels = MemoryContextAllocZero(TopMemoryContext,
										nlevels * sizeof(StampLevel));
	}
	while (depth >= nlevels)
	{
		levels = repalloc(levels, 2 * nlevels * sizeof(StampLevel));
		memset(levels + nlevels, 0, nlevels * sizeof(StampLevel));
		nlevels *= 2;
	}
}

/* Queries deeper than depth are gone (an error, or the transaction ended) */
static void
clear_levels_above(int depth)
{
	int			i;

	for (i = depth + 1; i < nlevels; i++)
	{
		levels[i].stamping = false;
		levels[i].stamped = 0;
	}
}

/*-------------------------------------------------------------------------
 * Statements without the row trigger
 *
 * A DELETE on a protected table becomes an UPDATE, and PostgreSQL runs a
 * BEFORE UPDATE row trigger only after locking the row, which writes a WAL
 * record of its own and dirties the page once more.  Two kinds of statement
 * give the trigger nothing to do that the statement cannot do itself, on a
 * plain table without row triggers of the user's:
 *
 *	- a top-level DELETE on a table without rows that depend on it
 *	  (cascades, restrict checks, the tenant registry): the planner sets
 *	  deleted_change to tombstone._stamp(root, tenant), which counts the row
 *	  and passes it by the guard;
 *	- an UPDATE that sets neither deleted_at nor deleted_change, which
 *	  records no change.
 *
 * On a table with row history the planner also sets valid_from to
 * tombstone._version(), which keeps the old version (recording/history.c);
 * that needs
 * a heap table and a plan that scans the table alone.  For such a statement
 * the trigger is left out of its result relations.  A plain UPDATE of
 * deleted_at and every other statement still go through the trigger.
 *
 * The projection that calls _stamp() runs once per row the scan returns; a
 * row updated concurrently is projected again for its new version, or not
 * updated at all.  When the rows counted differ from the rows the statement
 * updated, the change is recounted from the table before its ledger entry
 * is written.
 *-------------------------------------------------------------------------
 */

/*
 * Our BEFORE UPDATE row trigger, as protect() creates it.  The DDL guard
 * keeps others from dropping, renaming or disabling it.
 */
static bool
is_own_update_trigger(const Trigger *trig)
{
	return strcmp(trig->tgname, TOMBSTONE_TRIGGER_PREFIX "before_update") == 0 &&
		trig->tgenabled == TRIGGER_FIRES_ALWAYS &&
		trig->tgqual == NULL && trig->tgnattr == 0;
}

/*
 * Is this result relation a plain table whose only BEFORE UPDATE row
 * trigger is ours?
 */
static bool
trigger_free_relation(ResultRelInfo *rri)
{
	Relation	rel = rri->ri_RelationDesc;
	TriggerDesc *trigdesc = rri->ri_TrigDesc;
	int			own = 0;
	int			i;

	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		rel->rd_rel->relispartition ||
		trigdesc == NULL)
		return false;
	for (i = 0; i < trigdesc->numtriggers; i++)
	{
		const Trigger *trig = &trigdesc->triggers[i];

		if (!TRIGGER_TYPE_MATCHES(trig->tgtype, TRIGGER_TYPE_ROW,
								  TRIGGER_TYPE_BEFORE, TRIGGER_TYPE_UPDATE))
			continue;
		if (!is_own_update_trigger(trig))
			return false;
		own++;
	}
	return own == 1;
}

/* The position of attno in an UPDATE's column list, or -1. */
static int
colno_index(List *colnos, AttrNumber attno)
{
	ListCell   *lc;

	if (attno == InvalidAttrNumber)
		return -1;
	foreach(lc, colnos)
	{
		if (lfirst_int(lc) == attno)
			return foreach_current_index(lc);
	}
	return -1;
}

/*
 * The k-th new column value of an UPDATE's subplan when it is the _version()
 * call planner.c made for the relation with range table index varno, whose
 * valid_from is column valid_from_attno, or NULL.  Its arguments must be read
 * from the scanned table itself: a join's output, whose columns the plan
 * refers to as OUTER_VAR or INNER_VAR, could hold a row twice.
 */
static const FuncExpr *
planned_version_call(Plan *subplan, int k, AttrNumber valid_from_attno,
					 Index varno)
{
	AttrNumber	want[3];
	FuncExpr   *call = NULL;
	ListCell   *lc;
	int			i = 0;

	foreach(lc, subplan->targetlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (tle->resjunk)
			continue;
		if (i++ == k)
		{
			if (IsA(tle->expr, FuncExpr))
				call = (FuncExpr *) tle->expr;
			break;
		}
	}
	if (call == NULL || call->location != TOMBSTONE_VERSION_LOCATION ||
		list_length(call->args) != 3)
		return NULL;
	want[0] = valid_from_attno;
	want[1] = MinTransactionIdAttributeNumber;
	want[2] = SelfItemPointerAttributeNumber;
	foreach(lc, call->args)
	{
		Var		   *var = (Var *) lfirst(lc);

		if (!IsA(var, Var) || var->varno != varno || var->varlevelsup != 0 ||
			var->varattno != want[foreach_current_index(lc)])
			return NULL;
	}
	return call;
}

/*
 * The top plan node of an UPDATE, or of a DELETE that planner.c turned into
 * an UPDATE (the statement keeps commandType CMD_DELETE), or NULL for any
 * other statement.
 */
static ModifyTableState *
top_update(QueryDesc *queryDesc)
{
	ModifyTableState *mts;

	if ((queryDesc->plannedstmt->commandType != CMD_DELETE &&
		 queryDesc->plannedstmt->commandType != CMD_UPDATE) ||
		queryDesc->planstate == NULL ||
		!IsA(queryDesc->planstate, ModifyTableState))
		return NULL;
	mts = (ModifyTableState *) queryDesc->planstate;
	if (mts->operation != CMD_UPDATE || mts->mt_nrels < 1)
		return NULL;
	return mts;
}

/*
 * ExecutorStart, after the plan is initialised: leave the row trigger out
 * of the statement when every result relation allows it.  The executor
 * works on its own copy of each relation's trigger descriptor.
 */
static void
trigger_free_prepare(QueryDesc *queryDesc, int eflags)
{
	bool		is_delete = queryDesc->plannedstmt->commandType == CMD_DELETE;
	ModifyTableState *mts;
	ModifyTable *mt;
	const FuncExpr *version = NULL;
	AttrNumber	version_attnos[3] = {0, 0, 0};
	Oid			root = InvalidOid;
	int			i;

	if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) ||
		(mts = top_update(queryDesc)) == NULL)
		return;
	mt = (ModifyTable *) mts->ps.plan;
	if (list_length(mt->updateColnosLists) != mts->mt_nrels)
		return;
	for (i = 0; i < mts->mt_nrels; i++)
	{
		ResultRelInfo *rri = &mts->resultRelInfo[i];
		Relation	rel = rri->ri_RelationDesc;
		const TombstoneRel *trel = TombstoneRelLookup(RelationGetRelid(rel));
		List	   *colnos = list_nth(mt->updateColnosLists, i);
		int			at_pos;
		int			change_pos;
		int			ours = 0;	/* columns planner.c set */

		if (trel == NULL || !trigger_free_relation(rri))
			return;

		/*
		 * Take what is needed from the entry now: it may go with the
		 * invalidations that TombstonePendingWanted() processes.
		 */
		at_pos = colno_index(colnos, trel->deleted_at_attno);
		change_pos = colno_index(colnos, trel->deleted_change_attno);
		if (OidIsValid(trel->history_relid))
		{
			int			from_pos = colno_index(colnos, trel->valid_from_attno);

			if (from_pos < 0 || mts->mt_nrels != 1 ||
				rel->rd_rel->relam != HEAP_TABLE_AM_OID ||
				(version = planned_version_call(outerPlan(mt), from_pos,
												trel->valid_from_attno,
												linitial_int(mt->resultRelations))) == NULL)
				return;
			version_attnos[0] = trel->valid_from_attno;
			version_attnos[1] = trel->deleted_at_attno;
			version_attnos[2] = trel->deleted_change_attno;
			ours++;
		}
		if (is_delete)
		{
			/* _stamp() counts every row under the root of the table named */
			if (i == 0)
				root = trel->root;
			if (trel->root != root || at_pos < 0 || change_pos < 0 ||
				TombstonePendingWanted(rel, true))
				return;
			ours += 2;
		}
		else if (at_pos >= 0 || change_pos >= 0)
			return;
		if (is_delete && list_length(colnos) != ours)
			return;
	}
	for (i = 0; i < mts->mt_nrels; i++)
		mts->resultRelInfo[i].ri_TrigDesc->trig_update_before_row = false;
	if (version != NULL)
		TombstoneVersionStart(queryDesc->estate,
							  mts->resultRelInfo[0].ri_RelationDesc, version,
							  is_delete, version_attnos);
}

/* Is this a DELETE whose row trigger trigger_free_prepare() left out? */
static bool
stamp_running(QueryDesc *queryDesc)
{
	ModifyTableState *mts;

	if (queryDesc->plannedstmt->commandType != CMD_DELETE ||
		(mts = top_update(queryDesc)) == NULL)
		return false;
	return mts->resultRelInfo[0].ri_TrigDesc != NULL &&
		!mts->resultRelInfo[0].ri_TrigDesc->trig_update_before_row;
}

/*
 * tombstone._stamp(root oid, tenant anyelement) returns bigint: see above.
 * Anywhere but in the statement it was planned for it counts nothing and
 * opens no change: it returns the id of the current change, or 0, and the
 * row trigger (which did not stay out) sets deleted_change itself.
 */
Datum
tombstone_stamp(PG_FUNCTION_ARGS)
{
	Oid			root;
	char	   *tenant = NULL;
	int64		id;
	int			depth;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tombstone._stamp() needs a table"),
				 errdetail("It was called with a NULL table."),
				 errhint("The planner calls this function for a DELETE on a protected table; do not call it directly.")));
	root = PG_GETARG_OID(0);
	depth = TombstoneExecDepth();
	if (!tombstone_preloaded || depth <= 0 || depth >= nlevels ||
		!levels[depth].stamping)
		PG_RETURN_INT64(TombstoneChangeId());

	id = TombstoneChangeOpenRow();
	if (!PG_ARGISNULL(1))
		tenant = TombstoneTenantText(PG_GETARG_DATUM(1),
								   get_fn_expr_argtype(fcinfo->flinfo, 1));
	TombstoneChangeCount(root, tenant, true);
	if (!TombstoneChangeIsPreview())
		TombstoneGuardRow(root, tenant, false, id);
	levels[depth].stamped++;
	PG_RETURN_INT64(id);
}

/*
 * A DELETE on a Citus table whose WHERE clause pins one tenant: its rows
 * are counted from the number the statement reports when it finishes at
 * executor depth depth (see tombstone._citus_change()).
 */
typedef struct CitusPinned
{
	int			depth;			/* 0: none */
	Oid			root;
	char	   *tenant;			/* in TopTransactionContext */
} CitusPinned;

static CitusPinned pinned;

/*
 * tombstone._citus_change(root oid, tenant text) returns bigint: the change
 * id that a DELETE on a Citus table stamps on the rows it tombstones
 * (planner.c).  The function is STABLE and takes no column, so Citus
 * evaluates it once, on the coordinator, when the statement starts, and
 * ships the id to the shards as a constant.  It opens the statement's
 * change.  With a tenant (the statement's WHERE clause pins it), the rows
 * are counted from the number the statement reports when it finishes;
 * without, from the table, per tenant, when the change closes
 * (recording/change.c).  The guard sees them then.  Either way the
 * statement runs in a coordinated transaction, so that a refusal rolls the
 * shards back (foundation/citus.c).
 */
Datum
tombstone_citus_change(PG_FUNCTION_ARGS)
{
	Oid			root;
	char	   *relname;
	int64		id;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tombstone._citus_change() needs a table"),
				 errdetail("It was called with a NULL table."),
				 errhint("The planner calls this function for a DELETE on a protected Citus table; do not call it directly.")));
	root = PG_GETARG_OID(0);
	relname = get_rel_name(root);
	TombstoneRequirePreloaded(relname ? relname : "?");
	/* the shards commit with this transaction: see foundation/citus.c */
	TombstoneCitusCoordinate();
	id = TombstoneChangeOpenStatement(TombstoneStatementFromInternal());
	if (TombstoneRelLookup(root) == NULL)
		PG_RETURN_INT64(id);
	if (!PG_ARGISNULL(1) && pinned.depth == 0)
	{
		pinned.depth = TombstoneExecDepth() + 1;
		pinned.root = root;
		pinned.tenant = MemoryContextStrdup(TopTransactionContext,
											text_to_cstring(PG_GETARG_TEXT_PP(1)));
	}
	else
		TombstoneChangeCountFromTable(root);
	PG_RETURN_INT64(id);
}

/* Does the plan's range table name relation relid? */
static bool
plan_names_relation(PlannedStmt *pstmt, Oid relid)
{
	ListCell   *lc;

	foreach(lc, pstmt->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind == RTE_RELATION && rte->relid == relid)
			return true;
	}
	return false;
}

/*
 * A pinned DELETE on a Citus table has finished at depth: count its rows
 * (all of the pinned tenant) and pass them by the guard, as the row trigger
 * would have one by one.  Only the DELETE the planner pinned counts: its
 * plan still says DELETE and names the table.
 */
static void
citus_pinned_finish(QueryDesc *queryDesc, int depth)
{
	CitusPinned p = pinned;
	uint64		i;

	if (pinned.depth != depth)
		return;
	memset(&pinned, 0, sizeof(pinned));
	if (queryDesc->plannedstmt->commandType != CMD_DELETE ||
		!plan_names_relation(queryDesc->plannedstmt, p.root))
		return;
	for (i = 0; i < queryDesc->estate->es_processed; i++)
	{
		TombstoneChangeCount(p.root, p.tenant, true);
		if (!TombstoneChangeIsPreview())
			TombstoneGuardRow(p.root, p.tenant, false, TombstoneChangeId());
	}
}

/*-------------------------------------------------------------------------
 * Executor hooks: where a statement ends
 *-------------------------------------------------------------------------
 */

static void
tombstone_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (TombstoneExecDepth() == 0 && TombstoneChangeId() == 0)
	{
		PlannedStmt *pstmt = queryDesc->plannedstmt;
		bool		unprotected_delete = false;

		if (pstmt->commandType == CMD_DELETE && pstmt->resultRelations != NIL)
		{
			ListCell   *lc;

			unprotected_delete = true;
			foreach(lc, pstmt->resultRelations)
			{
				RangeTblEntry *rte = rt_fetch(lfirst_int(lc), pstmt->rtable);

				if (TombstoneRelLookup(rte->relid) != NULL)
					unprotected_delete = false;
			}
		}
		TombstoneChangeSetTopUnprotectedDelete(unprotected_delete);
	}

	/* on a Citus worker: DML on the shards of protected tables */
	TombstoneCitusGuardShardDml(queryDesc->plannedstmt);

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	if (tombstone_preloaded)
		trigger_free_prepare(queryDesc, eflags);
}

static void
tombstone_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
					  uint64 count, bool execute_once)
{
	volatile bool stamping = stamp_running(queryDesc);
	uint64		processed = queryDesc->estate->es_processed;
	void	   *prev_version = TombstoneVersionRunBegin(queryDesc->estate);
	int			depth = TombstoneExecDepthEnter();

	ensure_levels(depth);
	levels[depth].stamping = stamping;
	levels[depth].stamped = 0;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);

		/* rows projected twice or not updated after all: count again */
		if (stamping &&
			levels[depth].stamped !=
			(int64) (queryDesc->estate->es_processed - processed))
			TombstoneChangeRecountLater();
	}
	PG_FINALLY();
	{
		levels[depth].stamping = false;
		TombstoneExecDepthLeave();
		TombstoneVersionRunEnd(prev_version);
	}
	PG_END_TRY();
}

/*
 * After a query and its AFTER triggers have finished: do the work its rows
 * queued (cascades, checks, tenant deletion), and at the outermost level
 * write the ledger entry of the statement's change.
 */
static void
tombstone_ExecutorFinish(QueryDesc *queryDesc)
{
	int			depth;

	/* the old version of a trigger-free UPDATE's last row */
	TombstoneVersionFinish(queryDesc->estate);

	depth = TombstoneExecDepthEnter();

	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);

		citus_pinned_finish(queryDesc, depth);
		TombstonePendingProcess(depth);
		TombstoneChangeLevelDone(depth);
		if (depth == 1)
			TombstoneChangeClose();
	}
	PG_FINALLY();
	{
		TombstoneExecDepthLeave();
	}
	PG_END_TRY();
}

static void
executor_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
	{
		clear_levels_above(0);
		memset(&pinned, 0, sizeof(pinned));
	}
}

static void
executor_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	/* the queries deeper than where the error was caught are gone */
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		clear_levels_above(TombstoneExecDepth());
		if (pinned.depth > TombstoneExecDepth())
			memset(&pinned, 0, sizeof(pinned));
	}
}

/* Install the executor hooks; from _PG_init. */
void
TombstoneExecutorInit(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = tombstone_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = tombstone_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = tombstone_ExecutorFinish;
	RegisterXactCallback(executor_xact_callback, NULL);
	RegisterSubXactCallback(executor_subxact_callback, NULL);
}
