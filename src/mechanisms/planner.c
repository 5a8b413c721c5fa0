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
 * src/mechanisms/planner.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/plancat.h"
#include "optimizer/planner.h"
#include "optimizer/restrictinfo.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"

#include "foundation/catalog.h"
#include "foundation/names.h"
#include "foundation/query.h"
#include "foundation/settings.h"
#include "policy/permit.h"
#include "mechanisms/planner.h"

/* location given to the visibility quals this file adds */
#define TOMBSTONE_QUAL_LOCATION (-4242)

/* true while planning a query the extension runs itself */
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
	Expr	   *call;

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
	call = (Expr *) makeFuncExpr(funcid, INT8OID,
								 list_make2(makeConst(OIDOID, -1, InvalidOid,
													  sizeof(Oid),
													  ObjectIdGetDatum(trel->root),
													  false, true),
											tenant),
								 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	return makeTargetEntry(call, trel->deleted_change_attno,
						   pstrdup(TOMBSTONE_DELETED_CHANGE), false);
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

/*
 * Let an UPDATE of a protected table with row history keep old versions
 * without the row trigger, when it sets neither valid_from nor the columns
 * whose changes the trigger records (deleted_at, deleted_change).
 */
static void
convert_update(Query *query)
{
	RangeTblEntry *rte;
	TombstoneRel target;
	const TombstoneRel *trel = &target;
	TargetEntry *version;
	ListCell   *lc;

	if (!protected_target(query, CMD_UPDATE, &rte, &target))
		return;
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
	/* only a top-level DELETE: executor.c looks at the statement's own rows */
	if (top && (stamp = make_stamp_target(query, rte, trel)) != NULL)
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

		if (IsA(cte->ctequery, Query))
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
 * Wrap each protected relation of a join tree in a FromExpr carrying the
 * visibility qual.
 */
static Node *
wrap_jointree(Node *jtnode, Query *query)
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

		/*
		 * A foreign-key check looks for live rows whatever
		 * tombstone.visibility says: that setting changes what is read, not
		 * which rows may be referenced.
		 */
		if (is_fk_check(query))
			qual = make_fk_check_qual(varno, trel,
									  make_deleted_at_test(varno, trel, IS_NULL,
														   TOMBSTONE_QUAL_LOCATION));
		else if ((qual = make_visibility_qual(varno, trel)) == NULL)
			return jtnode;
		return (Node *) makeFromExpr(list_make1(jtnode), (Node *) qual);
	}
	else if (IsA(jtnode, FromExpr))
	{
		FromExpr   *f = (FromExpr *) jtnode;
		ListCell   *lc;

		foreach(lc, f->fromlist)
			lfirst(lc) = wrap_jointree(lfirst(lc), query);
	}
	else if (IsA(jtnode, JoinExpr))
	{
		JoinExpr   *j = (JoinExpr *) jtnode;

		j->larg = wrap_jointree(j->larg, query);
		j->rarg = wrap_jointree(j->rarg, query);
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
			(void) wrap_jointree((Node *) query->jointree, query);
		return query_tree_walker(query, hide_tombstones_walker, context, 0);
	}
	return expression_tree_walker(node, hide_tombstones_walker, context);
}

static PlannedStmt *
tombstone_planner(Query *parse, const char *query_string, int cursorOptions,
				  ParamListInfo boundParams)
{
	volatile bool converted_delete = false;
	bool		internal;
	bool		save_internal = planning_internal;
	PlannedStmt *result;

	/* the extension's own queries say in their quals which rows they want */
	internal = query_string != NULL &&
		strncmp(query_string, TOMBSTONE_INTERNAL_QUERY,
				strlen(TOMBSTONE_INTERNAL_QUERY)) == 0 &&
		TombstoneRunningInternal();

	if (OidIsValid(TombstoneCatalogRelid()))
	{
		/* a purge's own DELETE stays physical (the trigger re-checks each row) */
		if ((parse->commandType == CMD_DELETE ||
			 parse->commandType == CMD_MERGE ||
			 parse->hasModifyingCTE) &&
			!(internal && TombstonePermitPlanning()))
			converted_delete = convert_statement(parse, true);
		if (!converted_delete)
			convert_update(parse);
		if ((tombstone_visibility != TOMBSTONE_VISIBILITY_ALL || is_fk_check(parse)) &&
			!internal)
			(void) hide_tombstones_walker((Node *) parse, NULL);
	}

	planning_internal = internal;
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
