/*-------------------------------------------------------------------------
 *
 * citus_guard.c
 *	  The guard of Citus's functions that destroy the shards of a table.
 *
 * Citus drops and empties shards with functions, not utility commands, so
 * the DDL guard (mechanisms/ddl_guard.c) never sees them:
 * citus_drop_all_shards() (executable by the table's owner) drops every
 * shard of a table and leaves the table in place; undistribute_table(),
 * alter_distributed_table() and alter_table_set_access_method() rebuild a
 * table through a copy that reads it as a query, which hides its
 * tombstones, and drop the original; drop_old_time_partitions() drops
 * partitions; truncate_local_data_after_distributing_table() truncates.
 * A query that calls one of them on a protected table is refused before it
 * runs (TB073), unless a change token of operation "ddl" naming the table
 * is bound to the transaction, as for TRUNCATE and DROP.
 *
 * The check runs in the planner hook, only in a database where Citus is
 * installed (foundation/citus.c caches that), and looks at function calls
 * only: without Citus nothing here runs.
 *
 * On a worker, the shards of a protected table carry its triggers
 * (protect() creates them through Citus), but the worker's catalog does not
 * list them: what the coordinator sends was guarded there.  A shard is
 * known as protected by its trigger tombstone_guard_delete (on a shard,
 * tombstone_guard_delete_<shard id>).  Anything but
 * a read that reaches such a shard from a connection that is not one of
 * Citus's own (a user connected to the worker, run_command_on_shards()) is
 * refused (TB074): DML (an UPDATE of deleted_at would tombstone or restore
 * without a record), TRUNCATE, DROP, ALTER TABLE (DISABLE TRIGGER), DROP
 * TRIGGER and renames.  Citus's own connections are trusted
 * (TombstoneCitusTrustedBackend()): they carry out statements the
 * coordinator guarded, shard moves and splits.
 *
 * src/mechanisms/citus_guard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "foundation/catalog.h"
#include "foundation/citus.h"
#include "foundation/errcodes.h"
#include "foundation/names.h"
#include "policy/permit.h"
#include "policy/guard.h"
#include "mechanisms/citus_guard.h"

/* tombstone.citus_purge: see TombstoneCitusGuardInit() */
bool		tombstone_citus_purge = false;

/* the trigger that marks a protected table, and its shards */
#define GUARD_TRIGGER	TOMBSTONE_TRIGGER_PREFIX "guard_delete"

static void
refuse(Oid funcid, Oid relid)
{
	char	   *funcname = get_func_name(funcid);

	if (OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_CITUS_SHARDS),
				 errmsg("cannot call %s() on protected table \"%s\"",
						funcname, get_rel_name(relid)),
				 errdetail("%s() drops, empties or rebuilds the shards of table \"%s\", which would lose its rows and tombstones.",
						   funcname, get_rel_name(relid)),
				 errhint("Authorise a change token of operation \"ddl\" naming the table with tombstone.authorize() in the same transaction.")));
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_CITUS_SHARDS),
			 errmsg("cannot call %s() on a table given by an expression", funcname),
			 errdetail("%s() drops, empties or rebuilds the shards of a table, and pg_tombstone protects tables in this database.",
					   funcname),
			 errhint("Name the table with a constant, such as '%s'::regclass, so that its protection can be checked.",
					 "schema.table")));
}

/* The check of one call of a destructive function */
static void
check_call(FuncExpr *call)
{
	Node	   *arg;
	Oid			relid;
	const TombstoneRel *trel;

	if (call->args == NIL)
		return;
	arg = linitial(call->args);
	while (IsA(arg, RelabelType))
		arg = (Node *) ((RelabelType *) arg)->arg;
	if (!IsA(arg, Const) ||
		(((Const *) arg)->consttype != REGCLASSOID &&
		 ((Const *) arg)->consttype != OIDOID))
	{
		if (TombstoneAnyProtected())
			refuse(call->funcid, InvalidOid);
		return;
	}
	if (((Const *) arg)->constisnull)
		return;
	relid = DatumGetObjectId(((Const *) arg)->constvalue);
	trel = TombstoneRelLookup(relid);
	if (trel == NULL && !OidIsValid(TombstoneHistoryBase(relid)))
		return;
	if (!TombstoneGuardDdlAllowed(trel != NULL ? trel->root :
								  TombstoneHistoryBase(relid)))
		refuse(call->funcid, relid);
}

static bool
destructive_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr) &&
		TombstoneCitusDestructive(((FuncExpr *) node)->funcid))
		check_call((FuncExpr *) node);
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, destructive_walker, context,
								 0);
	return expression_tree_walker(node, destructive_walker, context);
}

/*
 * Refuse a query that calls one of Citus's destructive functions on a
 * protected table without a covering "ddl" token.
 */
void
TombstoneCitusGuardQuery(Query *parse)
{
	if (!TombstoneCitusPresent())
		return;
	(void) query_tree_walker(parse, destructive_walker, NULL, 0);
}

/*
 * Is relid a shard of a protected table on this worker: a table that is not
 * protected here itself but carries the guard trigger protect() creates?
 */
static bool
protected_shard(Oid relid)
{
	Relation	rel;
	bool		found = false;
	int			i;

	if (!OidIsValid(relid) || TombstoneRelLookup(relid) != NULL)
		return false;
	rel = RelationIdGetRelation(relid);
	if (!RelationIsValid(rel))
		return false;
	/* Citus names a shard's trigger after the table's, with the shard id */
	if (rel->trigdesc != NULL)
		for (i = 0; i < rel->trigdesc->numtriggers && !found; i++)
			found = strncmp(rel->trigdesc->triggers[i].tgname, GUARD_TRIGGER,
							strlen(GUARD_TRIGGER)) == 0;
	RelationClose(rel);
	return found;
}

static void
refuse_shard(Oid relid, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_CITUS_WORKER),
			 errmsg("cannot %s shard \"%s\" of a protected table on a worker", what,
					get_rel_name(relid)),
			 errdetail("Shard \"%s\" holds rows of a table that pg_tombstone protects on the Citus coordinator; a change made directly on the worker would bypass its guard and its ledger.",
					   get_rel_name(relid)),
			 errhint("Make the change through the distributed table on the coordinator.")));
}

/* A relation named by a utility command, when it is a protected shard */
static void
check_rangevar(RangeVar *rv, const char *what)
{
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);

	if (protected_shard(relid))
		refuse_shard(relid, what);
}

/*
 * Refuse a utility command that would empty, drop or change a protected
 * shard on a worker, unless it comes from one of Citus's own connections.
 */
void
TombstoneCitusGuardUtility(Node *parsetree)
{
	ListCell   *lc;

	if (!TombstoneCitusPresent())
		return;
	switch (nodeTag(parsetree))
	{
		case T_TruncateStmt:
		case T_DropStmt:
		case T_AlterTableStmt:
		case T_RenameStmt:
			break;
		default:
			return;
	}
	if (TombstoneCitusTrustedBackend())
		return;

	if (IsA(parsetree, TruncateStmt))
	{
		foreach(lc, ((TruncateStmt *) parsetree)->relations)
			check_rangevar(lfirst_node(RangeVar, lc), "truncate");
	}
	else if (IsA(parsetree, AlterTableStmt))
		check_rangevar(((AlterTableStmt *) parsetree)->relation, "alter");
	else if (IsA(parsetree, RenameStmt))
	{
		if (((RenameStmt *) parsetree)->relation != NULL)
			check_rangevar(((RenameStmt *) parsetree)->relation, "rename");
	}
	else
	{
		DropStmt   *drop = (DropStmt *) parsetree;

		foreach(lc, drop->objects)
		{
			List	   *names;

			if (drop->removeType == OBJECT_TABLE)
				check_rangevar(makeRangeVarFromNameList(lfirst(lc)), "drop");
			else if (drop->removeType == OBJECT_TRIGGER &&
					 list_length(names = lfirst(lc)) > 1)
				check_rangevar(makeRangeVarFromNameList(list_truncate(list_copy(names),
																	  list_length(names) - 1)),
							   "drop a trigger of");
		}
	}
}

/*
 * Refuse DML on a protected shard on a worker (any result relation of the
 * statement, data-modifying CTEs included), unless it comes from one of
 * Citus's own connections or is a task Citus runs locally.  Checked when
 * the statement starts: Citus plans a local task before it marks it as
 * one.  Reads are left alone.
 */
void
TombstoneCitusGuardShardDml(PlannedStmt *pstmt)
{
	ListCell   *lc;

	if (pstmt->resultRelations == NIL || !TombstoneCitusPresent())
		return;
	foreach(lc, pstmt->resultRelations)
	{
		RangeTblEntry *rte = rt_fetch(lfirst_int(lc), pstmt->rtable);

		if (rte->rtekind == RTE_RELATION && protected_shard(rte->relid) &&
			!TombstoneCitusTrustedBackend())
			refuse_shard(rte->relid, "change rows of");
	}
}

/*
 * tombstone.citus_purge may be turned on only by a purge at work (this
 * backend holds its permit) or, on a worker, by Citus's own connection
 * that carries the purge's SET LOCAL there.
 */
static bool
check_citus_purge(bool *newval, void **extra, GucSource source)
{
	if (!*newval || source == PGC_S_DEFAULT)
		return true;
	if (IsTransactionState() &&
		(TombstonePermitActive() ||
		 (TombstoneCitusPresent() && TombstoneCitusTrustedBackend())))
		return true;
	GUC_check_errdetail("tombstone.citus_purge is set by tombstone.purge() only.");
	return false;
}

/*
 * Define tombstone.citus_purge; from _PG_init, when the library is
 * preloaded.  tombstone.purge() sets it with SET LOCAL while
 * citus.propagate_set_commands is "local", so that Citus carries it to the
 * workers in the purge's transaction; there it lets the purge's physical
 * delete of tombstones through the guard trigger of a protected shard
 * (mechanisms/triggers.c).  Its check hook keeps everyone else from
 * turning it on.
 */
void
TombstoneCitusGuardInit(void)
{
	DefineCustomBoolVariable("tombstone.citus_purge",
							 "Lets an authorised purge remove tombstones from the shards of a Citus table.",
							 "Set by tombstone.purge() only; see the README, \"Citus\".",
							 &tombstone_citus_purge,
							 false,
							 PGC_USERSET,
							 GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							 check_citus_purge, NULL, NULL);
}
