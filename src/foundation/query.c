/*-------------------------------------------------------------------------
 *
 * query.c
 *	  Running the extension's own work: the executor depth, the utility
 *	  commands running, internal queries with kept plans, and direct
 *	  inserts into the extension's tables.
 *
 * Everything pg_tombstone does to rows besides the planner's rewrite runs
 * through here: cascades, undeletes, purges, rewinds and the recounts of the
 * ledger are SQL text (identifiers quoted, values as parameters) prepared once
 * per backend and run as the owner of the table they touch; the ledger and
 * history rows are inserted directly into the heap and indexes.
 *
 * The executor depth is counted here (the executor hooks in
 * mechanisms/executor.c raise and lower it) because the planner needs it to
 * tell the extension's own queries from a user's: a query is internal only
 * when its text starts with TOMBSTONE_INTERNAL_QUERY and it is planned at
 * the depth at which TombstoneRunInternal() runs it.
 *
 * The extension's own tables refuse every write but the extension's own:
 * the statement that writes one of them through SPI is marked here (the
 * own-write window) for the guard trigger of that table.
 *
 * src/foundation/query.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/plancache.h"

#include "foundation/catalog.h"
#include "foundation/names.h"
#include "foundation/query.h"
#include "foundation/settings.h"

/* Longest internal query whose plan is kept */
#define PLAN_KEY_MAX 2048

/* Kept plans of internal queries, by query text. */
typedef struct PlanEntry
{
	char		sql[PLAN_KEY_MAX];
	SPIPlanPtr	plan;
} PlanEntry;

static HTAB *plans = NULL;

/*
 * The nesting of executor runs and finishes, as pg_stat_statements counts
 * it: 0 outside any statement, 1 for the top-level statement's own rows.
 */
static int	exec_depth = 0;

int
TombstoneExecDepth(void)
{
	return exec_depth;
}

/* An executor run or finish begins: returns the new depth. */
int
TombstoneExecDepthEnter(void)
{
	return ++exec_depth;
}

/* ... and ends, also by error (the caller's PG_FINALLY). */
void
TombstoneExecDepthLeave(void)
{
	exec_depth--;
}

/*
 * ALTER TABLE and COPY FROM statements running in this backend, nested
 * ones included.  The utility hook (mechanisms/ddl_guard.c) counts them
 * around the command it lets run; they change what the rows of protected
 * tables look like to the queries those commands run themselves:
 *
 *	- the query with which ALTER TABLE validates a foreign key over the
 *	  existing rows reads them as stored, tombstones included
 *	  (mechanisms/planner.c), so that a constraint holds whatever the rows'
 *	  state, as in every restore of a dump;
 *	- COPY FROM is how a dump's rows come back, tombstones that reference
 *	  tombstones included, so its foreign-key checks accept a tombstoned
 *	  parent (tombstone._ri_tolerant(), recording/change.c).
 *
 * They are counted here, below both readers, so that no lower layer asks
 * the utility hook.
 */
static int	altering_table = 0;
static int	copying_from = 0;

/* An ALTER TABLE begins ... */
void
TombstoneAlterTableEnter(void)
{
	altering_table++;
}

/* ... and ends, also by error (the caller's PG_FINALLY). */
void
TombstoneAlterTableLeave(void)
{
	altering_table--;
}

/* Is an ALTER TABLE running in this backend? */
bool
TombstoneInAlterTable(void)
{
	return altering_table > 0;
}

/* A COPY FROM begins ... */
void
TombstoneCopyFromEnter(void)
{
	copying_from++;
}

/* ... and ends, also by error (the caller's PG_FINALLY). */
void
TombstoneCopyFromLeave(void)
{
	copying_from--;
}

/* Is a COPY FROM running in this backend? */
bool
TombstoneInCopyFrom(void)
{
	return copying_from > 0;
}

/*-------------------------------------------------------------------------
 * Running internal queries
 *-------------------------------------------------------------------------
 */

/*
 * The executor depth at which TombstoneRunInternal() is running its query,
 * or -1.  The planner treats a query as the extension's own only when its
 * text says so and it is planned at that depth: a user's query that merely
 * starts with the same comment, or one run by a user trigger that an
 * internal query fired (a level deeper), is planned like any other.
 */
static int	internal_depth = -1;

bool
TombstoneRunningInternal(void)
{
	return internal_depth >= 0 && internal_depth == TombstoneExecDepth();
}

/*
 * Is the row being changed now one of a query TombstoneRunInternal() runs
 * (not of a statement a trigger of the user's runs inside it)?  Its rows
 * are changed one executor level below where it was started.
 */
bool
TombstoneRowFromInternal(void)
{
	return internal_depth >= 0 && TombstoneExecDepth() == internal_depth + 1;
}

/*
 * Is the statement starting now (ExecutorStart, before its rows change)
 * one that TombstoneRunInternal() runs?  Citus evaluates the functions of
 * a distributed statement there, one executor level above its rows.
 */
bool
TombstoneStatementFromInternal(void)
{
	return internal_depth >= 0 && TombstoneExecDepth() == internal_depth;
}

/*
 * SPI_execute_plan() with internal_depth set for the planner hook; the rows
 * go to dest when it is given, else to SPI_tuptable.
 */
static int
execute_internal(SPIPlanPtr plan, int nargs, Oid *argtypes, Datum *values,
				 const char *nulls, DestReceiver *dest)
{
	int			save_internal_depth = internal_depth;
	int			rc;

	internal_depth = TombstoneExecDepth();
	PG_TRY();
	{
		if (dest == NULL)
			rc = SPI_execute_plan(plan, values, nulls, false, 0);
		else
		{
			SPIExecuteOptions options;
			ParamListInfo params = makeParamList(nargs);
			int			i;

			for (i = 0; i < nargs; i++)
			{
				params->params[i].value = values[i];
				params->params[i].isnull = nulls != NULL && nulls[i] == 'n';
				params->params[i].pflags = PARAM_FLAG_CONST;
				params->params[i].ptype = argtypes[i];
			}
			memset(&options, 0, sizeof(options));
			options.params = params;
			options.read_only = false;
			options.dest = dest;
			rc = SPI_execute_plan_extended(plan, &options);
		}
	}
	PG_FINALLY();
	{
		internal_depth = save_internal_depth;
	}
	PG_END_TRY();
	return rc;
}

/*
 * execute_internal() with a custom plan whatever plan_cache_mode says: the
 * setting outranks the plan's own CURSOR_OPT_CUSTOM_PLAN, so it is
 * overridden for the call.
 */
static int
execute_custom(SPIPlanPtr plan, int nargs, Oid *argtypes, Datum *values,
			   const char *nulls, DestReceiver *dest)
{
	int			save_mode = plan_cache_mode;
	int			rc;

	PG_TRY();
	{
		plan_cache_mode = PLAN_CACHE_MODE_FORCE_CUSTOM_PLAN;
		rc = execute_internal(plan, nargs, argtypes, values, nulls, dest);
	}
	PG_FINALLY();
	{
		plan_cache_mode = save_mode;
	}
	PG_END_TRY();
	return rc;
}

static uint64 run_internal(const char *sql, int nargs, Oid *argtypes,
						   Datum *values, const char *nulls, Oid as_user,
						   DestReceiver *dest, int cursor_options);

/*
 * Run one internal query (text starting with TOMBSTONE_INTERNAL_QUERY) as
 * user as_user, with row-level security as the owner sees it, or as the
 * caller when as_user is InvalidOid.  The caller has connected to SPI.
 * Plans are prepared once per query text and kept.  Returns SPI_processed.
 */
uint64
TombstoneRunInternal(const char *sql, int nargs, Oid *argtypes, Datum *values,
					 const char *nulls, Oid as_user)
{
	return TombstoneRunInternalTo(sql, nargs, argtypes, values, nulls,
								  as_user, NULL);
}

/*
 * The same, with a plan made for the parameters of each execution, never a
 * generic one (whatever plan_cache_mode says): Citus cannot plan a generic
 * plan of a distributed query whose parameters it must route by.
 */
uint64
TombstoneRunInternalCustom(const char *sql, int nargs, Oid *argtypes,
						   Datum *values, const char *nulls, Oid as_user)
{
	return run_internal(sql, nargs, argtypes, values, nulls, as_user, NULL,
						CURSOR_OPT_CUSTOM_PLAN);
}

/* The same, sending the rows to dest (NULL: to SPI_tuptable) */
uint64
TombstoneRunInternalTo(const char *sql, int nargs, Oid *argtypes,
					   Datum *values, const char *nulls, Oid as_user,
					   DestReceiver *dest)
{
	return run_internal(sql, nargs, argtypes, values, nulls, as_user, dest, 0);
}

static uint64
run_internal(const char *sql, int nargs, Oid *argtypes, Datum *values,
			 const char *nulls, Oid as_user, DestReceiver *dest,
			 int cursor_options)
{
	SPIPlanPtr	plan;
	PlanEntry  *entry = NULL;
	Oid			save_userid;
	int			save_sec_context;
	int			rc;

	Assert(strncmp(sql, TOMBSTONE_INTERNAL_QUERY,
				   strlen(TOMBSTONE_INTERNAL_QUERY)) == 0);
	if (plans == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = PLAN_KEY_MAX;
		ctl.entrysize = sizeof(PlanEntry);
		ctl.hcxt = TopMemoryContext;
		plans = hash_create("pg_tombstone internal plans", 64, &ctl,
							HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	if (strlen(sql) < PLAN_KEY_MAX)
		entry = hash_search(plans, sql, HASH_FIND, NULL);
	if (entry != NULL)
		plan = entry->plan;
	else
	{
		plan = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		if (strlen(sql) < PLAN_KEY_MAX)
		{
			bool		found;

			if (SPI_keepplan(plan) != 0)
				elog(ERROR, "SPI_keepplan failed");
			entry = hash_search(plans, sql, HASH_ENTER, &found);
			entry->plan = plan;
		}
	}

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	if (OidIsValid(as_user))
		SetUserIdAndSecContext(as_user, save_sec_context |
							   SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_NOFORCE_RLS);
	if (cursor_options & CURSOR_OPT_CUSTOM_PLAN)
		rc = execute_custom(plan, nargs, argtypes, values, nulls, dest);
	else
		rc = execute_internal(plan, nargs, argtypes, values, nulls, dest);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	if (rc < 0)
		elog(ERROR, "internal query failed: %s", SPI_result_code_string(rc));
	if (entry == NULL)
		SPI_freeplan(plan);
	return SPI_processed;
}

/*
 * Insert one row into a catalog table of the extension as the table's owner.
 * Application roles cannot write the catalog; the SQL-callable functions
 * that do check the caller's right first.
 */
void
TombstoneInsertAsOwner(Oid catrelid, const char *sql, int nargs,
					   Oid *argtypes, Datum *values, const char *nulls)
{
	Oid			save_userid;
	int			save_sec_context;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(TombstoneRelationOwner(catrelid), save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	TombstoneOwnWriteBegin(catrelid);
	PG_TRY();
	{
		if (SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, 0) !=
			SPI_OK_INSERT)
			elog(ERROR, "could not insert into relation %u", catrelid);
	}
	PG_FINALLY();
	{
		TombstoneOwnWriteEnd();
	}
	PG_END_TRY();
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/*-------------------------------------------------------------------------
 * Writes of the extension's own to its tables
 *-------------------------------------------------------------------------
 */

/*
 * The one write of the extension's own to one of its tables that is
 * running (see TombstoneOwnWriteBegin), or InvalidOid.
 */
static Oid	own_write_relid = InvalidOid;
static int	own_write_depth = -1;

/*
 * The extension writes one of its own tables through SPI (protect(),
 * unprotect(), set_retention(), add_key(), remove_key()): the guard
 * trigger of the table (tombstone._catalog_guard(), mechanisms/triggers.c)
 * lets that statement through, and nothing else.  End it with
 * TombstoneOwnWriteEnd(), also on error.
 */
void
TombstoneOwnWriteBegin(Oid relid)
{
	own_write_relid = relid;
	own_write_depth = TombstoneExecDepth();
}

void
TombstoneOwnWriteEnd(void)
{
	own_write_relid = InvalidOid;
	own_write_depth = -1;
}

/*
 * Is the statement writing relid the extension's own?  Its statement
 * triggers fire inside its executor run, one level below where it was
 * started (the executor hooks count levels only when preloaded).
 */
bool
TombstoneOwnWriteAllows(Oid relid)
{
	return OidIsValid(own_write_relid) && own_write_relid == relid &&
		TombstoneExecDepth() == own_write_depth + (tombstone_preloaded ? 1 : 0);
}

/*
 * Insert a tuple into a relation of the extension (the ledger, a history
 * table) directly, heap and indexes, without the executor: no privilege
 * checks and no triggers, as for a system catalog.  The caller holds
 * RowExclusiveLock on rel.
 */
void
TombstoneInsertTuple(Relation rel, HeapTuple tuple)
{
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;

	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rel),
								  &TTSOpsHeapTuple);
	ExecStoreHeapTuple(tuple, slot, false);
	simple_table_tuple_insert(rel, slot);
	if (rri->ri_NumIndices > 0)
		(void) ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL);
	ExecCloseIndices(rri);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
}

/*
 * Can a row go into the index of ii without the executor: its keys plain
 * columns, no expression, predicate or exclusion constraint?  Whether a
 * unique index may be written so is the caller's to decide.
 */
bool
TombstoneIndexOfColumns(const IndexInfo *ii)
{
	int			i;

	if (ii->ii_Expressions != NIL || ii->ii_Predicate != NIL ||
		ii->ii_ExclusionOps != NULL)
		return false;
	for (i = 0; i < ii->ii_NumIndexAttrs; i++)
	{
		if (ii->ii_IndexAttrNumbers[i] <= 0)
			return false;
	}
	return true;
}

/*
 * Insert the entry of the row at tid of heap into idx, an index whose keys
 * are plain columns (TombstoneIndexOfColumns), taking them from the row's
 * values and nulls: what ExecInsertIndexTuples does for such an index,
 * without an EState.
 */
void
TombstoneIndexInsertColumns(Relation idx, IndexInfo *ii, Relation heap,
							ItemPointer tid, const Datum *values,
							const bool *nulls, IndexUniqueCheck check)
{
	Datum		ivalues[INDEX_MAX_KEYS];
	bool		inulls[INDEX_MAX_KEYS];
	int			i;

	for (i = 0; i < ii->ii_NumIndexAttrs; i++)
	{
		AttrNumber	attno = ii->ii_IndexAttrNumbers[i];

		ivalues[i] = values[attno - 1];
		inulls[i] = nulls[attno - 1];
	}
	(void) index_insert(idx, ivalues, inulls, tid, heap, check, false, ii);
}

/*
 * Run utility commands (DDL built from catalog names, quoted) as role
 * "user": the schema's owner creates history tables there, the history
 * table's owner renames its columns.
 */
void
TombstoneRunUtilityAs(Oid user, const char *const *cmds, int ncmds)
{
	Oid			save_userid;
	int			save_sec_context;
	int			i;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(user, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (i = 0; i < ncmds; i++)
		if (SPI_execute(cmds[i], false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "pg_tombstone: command failed: %s", cmds[i]);
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
}
