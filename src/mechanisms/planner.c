/*-------------------------------------------------------------------------
 *
 * planner.c
 *	  DELETE becomes a tombstone, and tombstones are hidden, in the planner.
 *
 * Two hooks do all the work on queries:
 *
 * planner_hook sees every query after the rewriter, whatever path it came
 * by: psql, the extended protocol, prepared statements, PL/pgSQL static and
 * dynamic SQL, SQL functions, foreign-key triggers, views and rules already
 * expanded.  There,
 *
 *	- every DELETE whose result relation is protected (at top level or in a
 *	  data-modifying CTE) becomes an UPDATE that sets deleted_at = now() on
 *	  live rows only; every MERGE action WHEN MATCHED THEN DELETE does the
 *	  same.  The planned statement is given back commandType CMD_DELETE, so
 *	  the client sees "DELETE n", SPI returns SPI_OK_DELETE and GET
 *	  DIAGNOSTICS counts the rows tombstoned.  Permission checks and
 *	  row-level security were settled by parse analysis and the rewriter for
 *	  DELETE and stay so: the statement needs DELETE privilege, not UPDATE.
 *
 *	- an UPDATE of a protected table with row history gets "valid_from =
 *	  tombstone._version(valid_from, xmin, ctid)", so that it can keep old
 *	  versions without the row trigger (see recording/history.c and
 *	  executor.c);
 *
 *	- every reference to a protected relation in any join tree of the query
 *	  (subqueries, sublinks, CTEs, UPDATE and DELETE targets) is wrapped in a
 *	  FromExpr whose qual is "deleted_at IS NULL" (or IS NOT NULL for
 *	  tombstone.visibility = deleted).  A qual at that position filters the
 *	  relation itself, so a protected relation on the nullable side of an
 *	  outer join hides its tombstones without turning the join into an
 *	  inner join.  Foreign-key checks are ordinary queries and are filtered
 *	  the same way, so a new row cannot reference a tombstoned parent.
 *
 * get_relation_info_hook covers the queries the planner builds itself and
 * planner_hook never sees: the bodies of inlined SQL functions, and the
 * MERGE target, which PostgreSQL 15 joins in only during planning.  For a
 * protected base relation whose join tree carries no qual of ours, it adds
 * the same test to the relation's restriction list.  The marker that tells
 * the two apart is the qual's location field.  set_rel_pathlist_hook does
 * the same for the one kind of relation whose restrictions PostgreSQL sets
 * only after get_relation_info: a member of an append relation (UNION ALL
 * branch, partition) whose parent is not itself protected.
 *
 * Some queries are not an application's and see every row: copies that
 * must keep every row (pg_repack's, a logical replication table sync's;
 * is_copy()) and the query with which ALTER TABLE validates a foreign key
 * (is_fk_validation()).  With a "ddl" token, a DELETE ... RETURNING that
 * feeds an INSERT moves rows out physically (is_physical_move(), pg_partman);
 * and a setval() that would move the ledger's sequence back below the
 * ledger is refused (check_ledger_setval(), pg_restore over an existing
 * database).
 *
 * src/mechanisms/planner.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_namespace.h"
#include "commands/extension.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/plancat.h"
#include "optimizer/planner.h"
#include "optimizer/restrictinfo.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "replication/walsender.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"

#include "foundation/catalog.h"
#include "foundation/errcodes.h"
#include "foundation/names.h"
#include "foundation/query.h"
#include "foundation/settings.h"
#include "policy/guard.h"
#include "policy/permit.h"
#include "recording/ledger.h"
#include "mechanisms/citus_guard.h"
#include "mechanisms/citus_plan.h"
#include "mechanisms/planner.h"

/* location given to the visibility quals this file adds */
#define TOMBSTONE_QUAL_LOCATION (-4242)

/* true while planning a query the extension runs itself, or a copy */
static bool planning_internal = false;
static planner_hook_type prev_planner_hook = NULL;
static get_relation_info_hook_type prev_get_relation_info_hook = NULL;
static set_rel_pathlist_hook_type prev_set_rel_pathlist_hook = NULL;

/*
 * "deleted_at IS [NOT] NULL" for relation varno.
 */
static Expr *
make_deleted_at_test(Index varno, const TombstoneRel *trel,
					 NullTestType type, int location)
{
	NullTest   *test = makeNode(NullTest);

	test->arg = (Expr *) makeVar(varno, trel->deleted_at_attno, TIMESTAMPTZOID,
								 -1, InvalidOid, 0);
	test->nulltesttype = type;
	test->argisrow = false;
	test->location = location;
	return (Expr *) test;
}

/*
 * The qual that tombstone.visibility asks for, or NULL for "all".
 */
static Expr *
make_visibility_qual(Index varno, const TombstoneRel *trel)
{
	switch ((TombstoneVisibility) tombstone_visibility)
	{
		case TOMBSTONE_VISIBILITY_LIVE:
			return make_deleted_at_test(varno, trel, IS_NULL,
										TOMBSTONE_QUAL_LOCATION);
		case TOMBSTONE_VISIBILITY_DELETED:
			return make_deleted_at_test(varno, trel, IS_NOT_NULL,
										TOMBSTONE_QUAL_LOCATION);
		case TOMBSTONE_VISIBILITY_ALL:
			break;
	}
	return NULL;
}

/*
 * The OID of function tombstone.name(argtypes), or InvalidOid when this
 * installation lacks it.
 */
static Oid
extension_function(const char *name, int nargs, const Oid *argtypes)
{
	return LookupFuncName(list_make2(makeString(TOMBSTONE_SCHEMA),
									 makeString(pstrdup(name))),
						  nargs, argtypes, true);
}

/*
 * The protected relation behind a range table entry, or NULL.
 */
static const TombstoneRel *
protected_rte(RangeTblEntry *rte)
{
	if (rte->rtekind != RTE_RELATION)
		return NULL;
	return TombstoneRelLookup(rte->relid);
}

/*
 * Is the result relation of a query of kind cmd protected?  Then *rte is
 * set to its range table entry and *trel to a copy of its cache entry: the
 * conversions look up functions and column types, which may process
 * invalidations that take the cache entry away.
 */
static bool
protected_target(Query *query, CmdType cmd, RangeTblEntry **rte,
				 TombstoneRel *trel)
{
	const TombstoneRel *entry;

	if (query->commandType != cmd || query->resultRelation == 0)
		return false;
	*rte = rt_fetch(query->resultRelation, query->rtable);
	if ((entry = protected_rte(*rte)) == NULL)
		return false;
	*trel = *entry;
	return true;
}

/*
 * The target list entry "deleted_at = now()" of a tombstoning UPDATE.  Its
 * resno is the column's attribute number, as after parse analysis of an
 * UPDATE; the planner renumbers it and derives updateColnos.
 */
static TargetEntry *
make_tombstone_target(const TombstoneRel *trel)
{
	Expr	   *now = (Expr *) makeFuncExpr(F_NOW, TIMESTAMPTZOID, NIL,
											InvalidOid, InvalidOid,
											COERCE_EXPLICIT_CALL);

	return makeTargetEntry(now, trel->deleted_at_attno,
						   pstrdup(TOMBSTONE_DELETED_AT), false);
}

/*
 * The target list entry "deleted_change = tombstone._stamp(root, tenant)" of a
 * DELETE turned into a tombstoning UPDATE, or NULL when the relation cannot
 * take it (a partitioned table, or an installation without the
 * function).  executor.c decides again when the statement starts whether the
 * row trigger can be left out, in which case _stamp() counts the rows instead
 * of the trigger; otherwise the trigger does the counting and overwrites the
 * value.
 */
static TargetEntry *
make_stamp_target(Query *query, RangeTblEntry *rte, const TombstoneRel *trel)
{
	Oid			argtypes[2] = {OIDOID, ANYELEMENTOID};
	Oid			funcid;
	Expr	   *tenant;

	if (trel->deleted_change_attno == InvalidAttrNumber ||
		rte->relkind != RELKIND_RELATION)
		return NULL;
	funcid = extension_function("_stamp", 2, argtypes);
	if (!OidIsValid(funcid))
		return NULL;

	if (trel->tenant_attno != InvalidAttrNumber)
	{
		Oid			type;
		int32		typmod;
		Oid			collation;

		get_atttypetypmodcoll(rte->relid, trel->tenant_attno,
							  &type, &typmod, &collation);
		tenant = (Expr *) makeVar(query->resultRelation, trel->tenant_attno,
								  type, typmod, collation, 0);
	}
	else
		tenant = (Expr *) makeNullConst(TEXTOID, -1, DEFAULT_COLLATION_OID);
	return TombstoneChangeCallTarget(funcid, trel, tenant);
}

/*
 * The target list entry "valid_from = tombstone._version(valid_from, xmin,
 * ctid)" of an UPDATE of relation varno, for a plain table with row history,
 * or NULL.  executor.c decides when the statement starts whether the row
 * trigger can be left out, in which case _version() stamps the row and keeps
 * its old version (recording/history.c); otherwise it returns valid_from as it
 * is and the trigger does both.
 */
static TargetEntry *
make_version_target(Index varno, RangeTblEntry *rte, const TombstoneRel *trel)
{
	Oid			argtypes[3] = {TIMESTAMPTZOID, XIDOID, TIDOID};
	Oid			funcid;
	FuncExpr   *call;

	if (!OidIsValid(trel->history_relid) ||
		trel->valid_from_attno == InvalidAttrNumber ||
		rte->relkind != RELKIND_RELATION)
		return NULL;
	funcid = extension_function("_version", 3, argtypes);
	if (!OidIsValid(funcid))
		return NULL;
	call = makeFuncExpr(funcid, TIMESTAMPTZOID,
						list_make3(makeVar(varno, trel->valid_from_attno,
										   TIMESTAMPTZOID, -1, InvalidOid, 0),
								   makeVar(varno, MinTransactionIdAttributeNumber,
										   XIDOID, -1, InvalidOid, 0),
								   makeVar(varno, SelfItemPointerAttributeNumber,
										   TIDOID, -1, InvalidOid, 0)),
						InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	call->location = TOMBSTONE_VERSION_LOCATION;
	return makeTargetEntry((Expr *) call, trel->valid_from_attno,
						   pstrdup(TOMBSTONE_VALID_FROM), false);
}

/*
 * Add entry to the target list of an UPDATE, before the junk entries.
 */
static void
add_update_target(Query *query, TargetEntry *entry)
{
	ListCell   *lc;
	int			pos = 0;

	foreach(lc, query->targetList)
	{
		if (lfirst_node(TargetEntry, lc)->resjunk)
			break;
		pos++;
	}
	query->targetList = list_insert_nth(query->targetList, pos, entry);
}

static void
convert_citus_update(Query *query, RangeTblEntry *rte,
					 const TombstoneRel *trel, bool internal);

/*
 * Let an UPDATE of a protected table with row history keep old versions
 * without the row trigger, when it sets neither valid_from nor the columns
 * whose changes the trigger records (deleted_at, deleted_change).
 */
static void
convert_update(Query *query, bool internal)
{
	RangeTblEntry *rte;
	TombstoneRel target;
	const TombstoneRel *trel = &target;
	TargetEntry *version;
	ListCell   *lc;

	if (!protected_target(query, CMD_UPDATE, &rte, &target))
		return;
	/* Citus refuses volatile functions in an UPDATE */
	if (trel->citus_method != '\0')
	{
		convert_citus_update(query, rte, trel, internal);
		return;
	}
	foreach(lc, query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (!tle->resjunk &&
			(tle->resno == trel->valid_from_attno ||
			 tle->resno == trel->deleted_at_attno ||
			 tle->resno == trel->deleted_change_attno))
			return;
	}
	if ((version = make_version_target(query->resultRelation, rte, trel)) != NULL)
		add_update_target(query, version);
}

/*
 * An UPDATE of a protected Citus table.  No trigger of the coordinator sees
 * its rows (they change on the shards), so what the row trigger does on one
 * node is done here, in the statement: an UPDATE that sets deleted_at
 * tombstones or restores rows, and gets "deleted_change =
 * tombstone._citus_change(root)" like a DELETE, so that its rows are
 * counted, guarded and recorded; one that sets deleted_change itself is
 * refused (TB012), as the trigger refuses it.  The extension's own
 * queries (undelete, purge) set what they mean to set.
 */
static void
convert_citus_update(Query *query, RangeTblEntry *rte,
					 const TombstoneRel *trel, bool internal)
{
	ListCell   *lc;
	bool		sets_deleted_at = false;

	foreach(lc, query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (tle->resjunk)
			continue;
		if (tle->resno == trel->deleted_change_attno)
		{
			Oid			argtypes[2] = {OIDOID, TEXTOID};

			/*
			 * Ours, or the extension's own query: Citus plans a DELETE in a
			 * CTE again on its own, as the UPDATE it was turned into.
			 */
			if (internal ||
				(IsA(tle->expr, FuncExpr) &&
				 ((FuncExpr *) tle->expr)->funcid ==
				 extension_function("_citus_change", 2, argtypes)))
				return;
			ereport(ERROR,
					(errcode(ERRCODE_TOMBSTONE_CHANGE_COLUMN),
					 errmsg("cannot change column \"%s\" of protected table \"%s\"",
							TOMBSTONE_DELETED_CHANGE, get_rel_name(rte->relid)),
					 errdetail("Column \"%s\" records the change that last tombstoned or restored the row; an UPDATE set it.",
							   TOMBSTONE_DELETED_CHANGE),
					 errhint("Leave \"%s\" out of the UPDATE; pg_tombstone sets it when \"%s\" changes.",
							 TOMBSTONE_DELETED_CHANGE, TOMBSTONE_DELETED_AT)));
		}
		if (tle->resno == trel->deleted_at_attno)
			sets_deleted_at = true;
	}
	if (!sets_deleted_at || trel->deleted_change_attno == InvalidAttrNumber)
		return;
	add_update_target(query, TombstoneCitusChangeTarget(trel, NULL));
	rte->updatedCols = bms_add_member(rte->updatedCols,
									  trel->deleted_change_attno -
									  FirstLowInvalidHeapAttributeNumber);
}

/*
 * A tombstoning UPDATE only touches live rows.  When tombstone.visibility is
 * "live" the visibility qual says so already; otherwise add it here.
 */
static Node *
add_live_only_qual(Node *quals, Index varno, const TombstoneRel *trel)
{
	if (tombstone_visibility == TOMBSTONE_VISIBILITY_LIVE)
		return quals;
	return make_and_qual(quals,
						 (Node *) make_deleted_at_test(varno, trel, IS_NULL, -1));
}

/*
 * Turn a DELETE on a protected relation into the tombstoning UPDATE.
 * Returns true when the query was converted.
 */
static bool
convert_delete(Query *query, bool top)
{
	RangeTblEntry *rte;
	TombstoneRel target;
	const TombstoneRel *trel = &target;
	TargetEntry *stamp;

	if (!protected_target(query, CMD_DELETE, &rte, &target))
		return false;

	query->commandType = CMD_UPDATE;
	query->targetList = list_make1(make_tombstone_target(trel));
	/* what an UPDATE OF deleted_at trigger and the executor look at */
	rte->updatedCols = bms_make_singleton(trel->deleted_at_attno -
										  FirstLowInvalidHeapAttributeNumber);
	if (trel->citus_method != '\0')
	{
		/* the shards get constants: see mechanisms/citus_plan.c */
		query->targetList = lappend(query->targetList,
									TombstoneCitusChangeTarget(trel,
															   top ? TombstoneCitusPinnedTenant(query, trel) : NULL));
		rte->updatedCols = bms_add_member(rte->updatedCols,
										  trel->deleted_change_attno -
										  FirstLowInvalidHeapAttributeNumber);
	}
	/* only a top-level DELETE: executor.c looks at the statement's own rows */
	else if (top && (stamp = make_stamp_target(query, rte, trel)) != NULL)
	{
		TargetEntry *version;

		query->targetList = lappend(query->targetList, stamp);
		rte->updatedCols = bms_add_member(rte->updatedCols,
										  trel->deleted_change_attno -
										  FirstLowInvalidHeapAttributeNumber);
		/* a tombstone of a table with history keeps the old version */
		version = make_version_target(query->resultRelation, rte, trel);
		if (version != NULL)
			query->targetList = lappend(query->targetList, version);
	}
	query->jointree->quals = add_live_only_qual(query->jointree->quals,
												query->resultRelation, trel);
	return true;
}

/*
 * Turn every WHEN MATCHED THEN DELETE action of a MERGE into a protected
 * relation into a tombstoning UPDATE action.  Without this MERGE would
 * remove the row physically: it is not a DELETE query.
 */
static void
convert_merge(Query *query)
{
	RangeTblEntry *rte;
	TombstoneRel target;
	const TombstoneRel *trel = &target;
	ListCell   *lc;

	if (!protected_target(query, CMD_MERGE, &rte, &target))
		return;

	foreach(lc, query->mergeActionList)
	{
		MergeAction *action = lfirst_node(MergeAction, lc);

		if (action->commandType != CMD_DELETE)
			continue;
		if (trel->citus_method != '\0')
			ereport(ERROR,
					(errcode(ERRCODE_TOMBSTONE_CITUS_MERGE),
					 errmsg("cannot MERGE ... THEN DELETE into protected Citus table \"%s\"",
							get_rel_name(rte->relid)),
					 errdetail("pg_tombstone does not turn the DELETE action of a MERGE into a tombstone on a Citus table; left as it is, it would delete rows on the shards physically."),
					 errhint("Use DELETE ... USING (or DELETE ... WHERE ... IN (SELECT ...)) for the rows to tombstone, and MERGE without a DELETE action for the rest.")));
		action->commandType = CMD_UPDATE;
		action->targetList = list_make1(make_tombstone_target(trel));
		action->qual = add_live_only_qual(action->qual,
										  query->resultRelation, trel);
		rte->updatedCols = bms_add_member(rte->updatedCols,
										  trel->deleted_at_attno -
										  FirstLowInvalidHeapAttributeNumber);
	}
}

/*
 * Does this DELETE move rows out of a protected table, rather than delete
 * them?  That is a DELETE ... RETURNING in the WITH clause of an INSERT,
 * in a transaction that has bound a change token of operation "ddl"
 * covering the table: pg_partman moves rows out of a default partition
 * that way before it attaches the partition they belong in, and the rows
 * must leave physically, tombstones included, for the ATTACH to succeed.
 * Such a DELETE is left as it is and its target is not filtered; the
 * delete guard trigger lets its rows go because the same token covers
 * them.  A ddl token already allows TRUNCATE and DROP of the table, so it
 * allows no more than before.
 */
static bool
is_physical_move(Query *query, Query *outer)
{
	RangeTblEntry *rte;

	if (outer == NULL || outer->commandType != CMD_INSERT ||
		query->commandType != CMD_DELETE || query->returningList == NIL ||
		query->resultRelation == 0)
		return false;
	rte = rt_fetch(query->resultRelation, query->rtable);
	return protected_rte(rte) != NULL && TombstoneGuardDdlAllowed(rte->relid);
}

/*
 * Convert the DELETEs of a statement: the statement itself and the
 * data-modifying CTEs it carries (which PostgreSQL allows only at top
 * level).  Returns whether the top-level query was a converted DELETE.
 */
static bool
convert_statement(Query *query, bool top)
{
	ListCell   *lc;
	bool		converted;

	converted = convert_delete(query, top);
	convert_merge(query);

	foreach(lc, query->cteList)
	{
		CommonTableExpr *cte = lfirst_node(CommonTableExpr, lc);

		if (IsA(cte->ctequery, Query) &&
			!is_physical_move((Query *) cte->ctequery, query))
			(void) convert_statement((Query *) cte->ctequery, false);
	}
	return converted;
}

/*
 * Is this the query of a foreign-key check, "SELECT 1 FROM [ONLY] pktable x
 * WHERE ... FOR KEY SHARE OF x"?
 */
static bool
is_fk_check(Query *query)
{
	return query->commandType == CMD_SELECT &&
		list_length(query->rtable) == 1 &&
		list_length(query->rowMarks) == 1 &&
		linitial_node(RowMarkClause, query->rowMarks)->strength == LCS_FORKEYSHARE;
}

/*
 * Is this the query with which ALTER TABLE validates a foreign key over
 * the existing rows, "SELECT fk.cols FROM [ONLY] child fk LEFT OUTER JOIN
 * [ONLY] parent pk ON ..." (RI_Initial_Check), or checks that a partition
 * it detaches or drops is not referenced, "... FROM child fk JOIN
 * partition pk ON ..." (RI_PartitionRemove_Check)?  Such a check is about
 * the rows as they are stored: a tombstone still holds its key and still
 * references its parent.  Hidden, a tombstoned parent makes the
 * constraint fail that every restore of a dump re-creates.  Recognised by
 * its shape, only while an ALTER TABLE runs.
 */
static bool
is_fk_validation(Query *query)
{
	JoinExpr   *join;
	RangeTblEntry *fk;
	RangeTblEntry *pk;

	if (query->commandType != CMD_SELECT || query->jointree == NULL ||
		list_length(query->jointree->fromlist) != 1 ||
		!TombstoneInAlterTable())
		return false;
	join = linitial(query->jointree->fromlist);
	if (!IsA(join, JoinExpr) ||
		(join->jointype != JOIN_LEFT && join->jointype != JOIN_INNER) ||
		!IsA(join->larg, RangeTblRef) || !IsA(join->rarg, RangeTblRef))
		return false;
	fk = rt_fetch(((RangeTblRef *) join->larg)->rtindex, query->rtable);
	pk = rt_fetch(((RangeTblRef *) join->rarg)->rtindex, query->rtable);
	return fk->rtekind == RTE_RELATION && pk->rtekind == RTE_RELATION &&
		fk->alias != NULL && strcmp(fk->alias->aliasname, "fk") == 0 &&
		pk->alias != NULL && strcmp(pk->alias->aliasname, "pk") == 0;
}

/*
 * The visibility qual of a foreign-key check: "deleted_at IS NULL OR
 * tombstone._ri_tolerant()".  The function lets a row being tombstoned
 * pass the check PostgreSQL makes on it when the row it references was
 * tombstoned first; see recording/change.c.
 */
static Expr *
make_fk_check_qual(Index varno, const TombstoneRel *trel, Expr *qual)
{
	Oid			funcid;

	funcid = extension_function("_ri_tolerant", 0, NULL);
	if (!OidIsValid(funcid))
		return qual;
	return makeBoolExpr(OR_EXPR,
						list_make2(qual,
								   makeFuncExpr(funcid, BOOLOID, NIL,
												InvalidOid, InvalidOid,
												COERCE_EXPLICIT_CALL)),
						-1);
}

/*
 * The visibility qual of relation varno of query, or NULL when none is
 * wanted.
 */
static Expr *
hiding_qual(Query *query, int varno, const TombstoneRel *trel)
{
	/* a DELETE still a DELETE here moves every row it matches */
	if (query->commandType == CMD_DELETE && varno == query->resultRelation)
		return NULL;

	/*
	 * A foreign-key check looks for live rows whatever tombstone.visibility
	 * says: that setting changes what is read, not which rows may be
	 * referenced.
	 */
	if (is_fk_check(query))
		return make_fk_check_qual(varno, trel,
								  make_deleted_at_test(varno, trel, IS_NULL,
													   TOMBSTONE_QUAL_LOCATION));
	return make_visibility_qual(varno, trel);
}

/*
 * Hide the tombstones of each protected relation of a join tree.
 *
 * A relation of PostgreSQL's own is wrapped in a FromExpr carrying the
 * visibility qual: a qual at that position filters the relation itself.
 * Citus cannot deparse such a nested FromExpr into the SQL it sends to a
 * shard ("unrecognized node type"), so for a Citus table the qual goes
 * where SQL can say it and where it still filters that relation alone:
 * into *slot, the qual of the nearest place above the relation that is
 * not on the non-nullable side of an outer join: the WHERE clause, the ON
 * clause of an inner join, or the ON clause of the outer join on whose
 * nullable side the relation is (a row that fails an outer join's ON
 * clause is not joined, as if it were not there).  Under a FULL JOIN no
 * such place exists (slot is NULL): a Citus table there is refused
 * (TB072) rather than shown with its tombstones.
 */
static Node *
wrap_jointree(Node *jtnode, Query *query, Node **slot)
{
	if (jtnode == NULL)
		return NULL;

	if (IsA(jtnode, RangeTblRef))
	{
		int			varno = ((RangeTblRef *) jtnode)->rtindex;
		const TombstoneRel *trel;
		Expr	   *qual;

		trel = protected_rte(rt_fetch(varno, query->rtable));
		if (trel == NULL)
			return jtnode;
		if (trel->citus_method != '\0')
		{
			char	   *relname;

			if ((qual = hiding_qual(query, varno, trel)) == NULL)
				return jtnode;
			if (slot != NULL)
			{
				*slot = make_and_qual(*slot, (Node *) qual);
				return jtnode;
			}
			relname = get_rel_name(trel->relid);
			ereport(ERROR,
					(errcode(ERRCODE_TOMBSTONE_CITUS_FULL_JOIN),
					 errmsg("cannot hide the tombstones of protected Citus table \"%s\" in a FULL JOIN",
							relname),
					 errdetail("Citus sends the query to the shards as SQL, where no clause of a FULL JOIN filters one side only; the tombstones of \"%s\" would be joined.",
							   relname),
					 errhint("Join a subquery that selects the rows of \"%s\" instead, or use LEFT and RIGHT JOINs.",
							 relname)));
		}
		if ((qual = hiding_qual(query, varno, trel)) == NULL)
			return jtnode;
		return (Node *) makeFromExpr(list_make1(jtnode), (Node *) qual);
	}
	else if (IsA(jtnode, FromExpr))
	{
		FromExpr   *f = (FromExpr *) jtnode;
		ListCell   *lc;

		foreach(lc, f->fromlist)
			lfirst(lc) = wrap_jointree(lfirst(lc), query, &f->quals);
	}
	else if (IsA(jtnode, JoinExpr))
	{
		JoinExpr   *j = (JoinExpr *) jtnode;
		Node	  **lslot = &j->quals;
		Node	  **rslot = &j->quals;
		Node	   *quals = j->quals;

		switch (j->jointype)
		{
			case JOIN_INNER:
				break;
			case JOIN_LEFT:
				lslot = slot;
				break;
			case JOIN_RIGHT:
				rslot = slot;
				break;
			default:
				lslot = rslot = NULL;
				break;
		}
		j->larg = wrap_jointree(j->larg, query, lslot);
		j->rarg = wrap_jointree(j->rarg, query, rslot);

		/*
		 * A join USING (or NATURAL) is deparsed as USING (...), without its
		 * quals, which already hold the equalities of the columns used:
		 * the ON clause it becomes says them and ours.
		 */
		if (j->quals != quals && j->usingClause != NIL)
		{
			j->usingClause = NIL;
			j->join_using_alias = NULL;
			j->isNatural = false;
		}
	}
	else
		elog(ERROR, "unrecognized join tree node type: %d",
			 (int) nodeTag(jtnode));
	return jtnode;
}

/*
 * Walk every Query of the tree (sublinks, subqueries in the range table,
 * CTEs, set operation leaves) and hide the tombstones in its join tree.
 */
static bool
hide_tombstones_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;

		if (query->jointree != NULL)
			(void) wrap_jointree((Node *) query->jointree, query, NULL);
		return query_tree_walker(query, hide_tombstones_walker, context, 0);
	}
	return expression_tree_walker(node, hide_tombstones_walker, context);
}

/*
 * Is this query a copy of a table that must keep every row?  Hiding is for
 * applications, not for copies; two tools copy a table with a query:
 *
 *	- pg_repack fills its copy of a table with INSERT INTO
 *	  repack.table_<oid> SELECT ... FROM ONLY <table>, then swaps the copy's
 *	  storage in: what the copy misses is gone.  The target is a table of
 *	  the pg_repack extension's schema named after a protected table.
 *	- the table sync of a logical replication subscription runs COPY
 *	  (SELECT ...) TO STDOUT on the publisher for a partitioned table
 *	  published through its root and for a row filter; a subscriber that
 *	  misses a tombstone also skips its later undelete.  It runs in a
 *	  database walsender, which only replication clients open (a role with
 *	  the REPLICATION attribute and "replication=database"), and such a
 *	  connection serves no application.
 *
 * Such a query reads every row; a DELETE is never one (it stays a
 * tombstone, of live rows only).
 */
static bool
is_copy(Query *parse)
{
	RangeTblEntry *rte;
	Oid			ext;
	char	   *relname;
	unsigned int copied;
	char		tail;

	if (parse->commandType == CMD_SELECT)
		return am_db_walsender && !parse->hasModifyingCTE;
	if (parse->commandType != CMD_INSERT || parse->resultRelation == 0 ||
		parse->hasModifyingCTE)
		return false;
	rte = rt_fetch(parse->resultRelation, parse->rtable);
	if (rte->rtekind != RTE_RELATION ||
		(relname = get_rel_name(rte->relid)) == NULL ||
		sscanf(relname, "table_%u%c", &copied, &tail) != 1 ||
		TombstoneRelLookup((Oid) copied) == NULL)
		return false;
	ext = get_extension_oid("pg_repack", true);
	return OidIsValid(ext) &&
		getExtensionOfObject(NamespaceRelationId,
							 get_rel_namespace(rte->relid)) == ext;
}

/*
 * "SELECT setval('tombstone.changes_id_seq', n[, called])" that would move
 * the ledger's id sequence back below an id the ledger holds: the next
 * changes would get ids of changes already recorded.  pg_restore sends one
 * for every dumped sequence (the extension's too, through
 * pg_extension_config_dump); over an existing database it would rewind the
 * ledger.  Only the form a restore sends, with constants, is recognised.
 */
static void
check_ledger_setval(Query *parse)
{
	ListCell   *lc;

	if (parse->commandType != CMD_SELECT || parse->rtable != NIL ||
		parse->utilityStmt != NULL)
		return;
	foreach(lc, parse->targetList)
	{
		FuncExpr   *call = (FuncExpr *) lfirst_node(TargetEntry, lc)->expr;
		Const	   *seq;
		Const	   *value;
		int64		max_id;

		if (!IsA(call, FuncExpr) ||
			(call->funcid != F_SETVAL_REGCLASS_INT8 &&
			 call->funcid != F_SETVAL_REGCLASS_INT8_BOOL))
			continue;
		seq = (Const *) eval_const_expressions(NULL, linitial(call->args));
		value = (Const *) eval_const_expressions(NULL, lsecond(call->args));
		if (!IsA(seq, Const) || seq->constisnull || !IsA(value, Const) ||
			value->constisnull ||
			DatumGetObjectId(seq->constvalue) != TombstoneLedgerSeqRelid())
			continue;
		max_id = TombstoneLedgerMaxId();
		if (DatumGetInt64(value->constvalue) >= max_id)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_LEDGER),
				 errmsg("cannot set sequence \"%s\" back to " INT64_FORMAT,
						get_rel_name(DatumGetObjectId(seq->constvalue)),
						DatumGetInt64(value->constvalue)),
				 errdetail("The ledger holds changes up to id " INT64_FORMAT "; the next changes would get ids already recorded.",
						   max_id),
				 errhint("Restore into a new database; the ledger's sequence only moves forward.")));
	}
}

static PlannedStmt *
tombstone_planner(Query *parse, const char *query_string, int cursorOptions,
				  ParamListInfo boundParams)
{
	volatile bool converted_delete = false;
	bool		internal;
	bool		copy = false;
	bool		save_internal = planning_internal;
	PlannedStmt *result;

	/* the extension's own queries say in their quals which rows they want */
	internal = query_string != NULL &&
		strncmp(query_string, TOMBSTONE_INTERNAL_QUERY,
				strlen(TOMBSTONE_INTERNAL_QUERY)) == 0 &&
		TombstoneRunningInternal();

	/*
	 * Citus plans the subqueries and CTEs of a distributed query it cannot
	 * push down by calling the planner again, from inside the planning of
	 * the outer query and without a query string: such a part of one of
	 * the extension's own queries is the extension's too.
	 */
	if (query_string == NULL && planning_internal)
		internal = true;
	/* a constraint validation reads the rows as stored, like ours */
	if (!internal && OidIsValid(TombstoneCatalogRelid()))
		internal = is_fk_validation(parse);

	if (OidIsValid(TombstoneCatalogRelid()))
	{
		copy = is_copy(parse);
		check_ledger_setval(parse);
		if (!internal)
			TombstoneCitusGuardQuery(parse);
		/* a purge's own DELETE stays physical (the trigger re-checks each row) */
		if ((parse->commandType == CMD_DELETE ||
			 parse->commandType == CMD_MERGE ||
			 parse->hasModifyingCTE) &&
			!(internal && TombstonePermitPlanning()))
			converted_delete = convert_statement(parse, true);
		if (!converted_delete)
			convert_update(parse, internal);
		if ((tombstone_visibility != TOMBSTONE_VISIBILITY_ALL || is_fk_check(parse)) &&
			!internal && !copy)
			(void) hide_tombstones_walker((Node *) parse, NULL);
	}

	planning_internal = internal || copy;
	PG_TRY();
	{
		if (prev_planner_hook)
			result = prev_planner_hook(parse, query_string, cursorOptions,
									   boundParams);
		else
			result = standard_planner(parse, query_string, cursorOptions,
									  boundParams);
	}
	PG_FINALLY();
	{
		planning_internal = save_internal;
	}
	PG_END_TRY();

	/* the command tag, SPI and GET DIAGNOSTICS report a DELETE */
	if (converted_delete)
		result->commandType = CMD_DELETE;
	return result;
}

/*
 * Does this expression (a qual or an implicit-AND list of quals) contain
 * our visibility test on relation varno?
 */
static bool
contains_visibility_qual(Node *node, Index varno)
{
	if (node == NULL)
		return false;
	if (IsA(node, NullTest))
	{
		NullTest   *test = (NullTest *) node;

		return test->location == TOMBSTONE_QUAL_LOCATION &&
			IsA(test->arg, Var) &&
			((Var *) test->arg)->varno == varno &&
			((Var *) test->arg)->varlevelsup == 0;
	}
	if (IsA(node, List))
	{
		ListCell   *lc;

		foreach(lc, (List *) node)
			if (contains_visibility_qual(lfirst(lc), varno))
				return true;
		return false;
	}
	if (is_andclause(node))
		return contains_visibility_qual((Node *) ((BoolExpr *) node)->args,
										varno);
	/* the qual of a foreign-key check: see make_fk_check_qual */
	if (is_orclause(node))
		return contains_visibility_qual(linitial(((BoolExpr *) node)->args),
										varno);
	return false;
}

/*
 * Does the join tree already filter relation varno?
 */
static bool
jointree_hides(Node *jtnode, Index varno)
{
	if (jtnode == NULL)
		return false;
	if (IsA(jtnode, FromExpr))
	{
		FromExpr   *f = (FromExpr *) jtnode;
		ListCell   *lc;

		if (contains_visibility_qual(f->quals, varno))
			return true;
		foreach(lc, f->fromlist)
			if (jointree_hides(lfirst(lc), varno))
				return true;
	}
	else if (IsA(jtnode, JoinExpr))
	{
		JoinExpr   *j = (JoinExpr *) jtnode;

		return jointree_hides(j->larg, varno) || jointree_hides(j->rarg, varno);
	}
	return false;
}

/*
 * Add the visibility qual to the restriction list of a base relation.
 */
static void
add_visibility_restriction(PlannerInfo *root, RelOptInfo *rel,
						   const TombstoneRel *trel)
{
	Expr	   *qual = make_visibility_qual(rel->relid, trel);

	rel->baserestrictinfo =
		lappend(rel->baserestrictinfo,
				make_restrictinfo(root, qual, true, false, false, 0,
								  bms_make_singleton(rel->relid),
								  NULL, NULL));
}

static void
tombstone_get_relation_info(PlannerInfo *root, Oid relationObjectId,
							bool inhparent, RelOptInfo *rel)
{
	const TombstoneRel *trel;

	if (prev_get_relation_info_hook)
		prev_get_relation_info_hook(root, relationObjectId, inhparent, rel);

	/*
	 * Append members get their parent's quals only after this hook runs;
	 * tombstone_set_rel_pathlist covers those whose parent hides nothing.
	 */
	if (rel->reloptkind != RELOPT_BASEREL ||
		tombstone_visibility == TOMBSTONE_VISIBILITY_ALL ||
		planning_internal)
		return;
	if (!OidIsValid(TombstoneCatalogRelid()) ||
		(trel = TombstoneRelLookup(relationObjectId)) == NULL)
		return;
	if (root->parse->jointree != NULL &&
		jointree_hides((Node *) root->parse->jointree, rel->relid))
		return;
	if (rel->relid == root->parse->resultRelation &&
		is_physical_move(root->parse,
						 root->parent_root ? root->parent_root->parse : NULL))
		return;

	add_visibility_restriction(root, rel, trel);
}

/*
 * Does the restriction list of rel carry our visibility qual?  Quals of an
 * inheritance parent are copied to its children with their location, so
 * this also recognises the qual a child inherited.
 */
static bool
restrictinfo_hides(List *restrictinfo, Index varno)
{
	ListCell   *lc;

	foreach(lc, restrictinfo)
		if (contains_visibility_qual((Node *) lfirst_node(RestrictInfo, lc)->clause,
									 varno))
			return true;
	return false;
}

/*
 * A protected relation can be a member of an append relation whose parent
 * does not hide its tombstones: a UNION ALL branch of an inlined SQL
 * function (planner_hook never saw that query), or a partition protected on
 * its own under an unprotected parent.  PostgreSQL gives such members their
 * parent's quals after get_relation_info_hook ran, so the qual can only be
 * added now, once the member's paths exist: add it and build the scan paths
 * again.  Parallel partial paths are not rebuilt for such members.
 */
static void
tombstone_set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti,
						   RangeTblEntry *rte)
{
	const TombstoneRel *trel;
	Relids		required_outer = rel->lateral_relids;

	if (prev_set_rel_pathlist_hook)
		prev_set_rel_pathlist_hook(root, rel, rti, rte);

	if (rel->reloptkind != RELOPT_OTHER_MEMBER_REL ||
		rte->rtekind != RTE_RELATION ||
		tombstone_visibility == TOMBSTONE_VISIBILITY_ALL ||
		planning_internal ||
		IS_DUMMY_REL(rel) ||
		!OidIsValid(TombstoneCatalogRelid()) ||
		(trel = TombstoneRelLookup(rte->relid)) == NULL ||
		restrictinfo_hides(rel->baserestrictinfo, rel->relid))
		return;
	/* a partition of the target of a move (see is_physical_move) */
	if (bms_is_member(root->parse->resultRelation, rel->top_parent_relids) &&
		is_physical_move(root->parse,
						 root->parent_root ? root->parent_root->parse : NULL))
		return;

	add_visibility_restriction(root, rel, trel);
	check_index_predicates(root, rel);
	set_baserel_size_estimates(root, rel);

	rel->pathlist = NIL;
	rel->partial_pathlist = NIL;
	rel->cheapest_startup_path = NULL;
	rel->cheapest_total_path = NULL;
	rel->cheapest_unique_path = NULL;
	rel->cheapest_parameterized_paths = NIL;
	if (rte->tablesample != NULL)
		add_path(rel, create_samplescan_path(root, rel, required_outer));
	else
	{
		add_path(rel, create_seqscan_path(root, rel, required_outer, 0));
		create_index_paths(root, rel);
		create_tidscan_paths(root, rel);
	}
}

void
TombstonePlannerInit(void)
{
	prev_set_rel_pathlist_hook = set_rel_pathlist_hook;
	set_rel_pathlist_hook = tombstone_set_rel_pathlist;
	prev_planner_hook = planner_hook;
	planner_hook = tombstone_planner;
	prev_get_relation_info_hook = get_relation_info_hook;
	get_relation_info_hook = tombstone_get_relation_info;
}
