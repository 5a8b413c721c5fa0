/*-------------------------------------------------------------------------
 *
 * citus_plan.c
 *	  What the planner hook adds to a statement on a Citus table, in a form
 *	  Citus can deparse and ship to the shards.
 *
 * Citus refuses an UPDATE of a distributed table that calls a VOLATILE
 * function, and it sends a statement to the shards as SQL text.  So a
 * DELETE turned into a tombstone gets its change id from a STABLE function
 * without column arguments, which Citus evaluates once on the coordinator
 * (tombstone._citus_change(), mechanisms/executor.c), and the tenant a
 * DELETE is pinned to by its WHERE clause is passed to it, so that its rows
 * can be counted without another query.  (The hiding quals are placed for
 * Citus in planner.c itself.)
 *
 * src/mechanisms/citus_plan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "utils/lsyscache.h"

#include "foundation/catalog.h"
#include "foundation/names.h"
#include "mechanisms/citus_plan.h"

/*
 * The target list entry "deleted_change = tombstone._citus_change(root)" of
 * a DELETE on a table of Citus turned into a tombstoning UPDATE.  Citus
 * ships an UPDATE to the shards only when its functions can be evaluated
 * once on the coordinator: _citus_change() is STABLE and takes no column,
 * so Citus calls it there when the statement starts, and every shard gets
 * the change id as a constant.  It opens the change of the statement and
 * has its rows counted per tenant on the coordinator when the statement
 * ends (recording/change.c), where the guard sees them.
 */
TargetEntry *
TombstoneCitusChangeTarget(const TombstoneRel *trel, Expr *tenant)
{
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Oid			funcid;

	funcid = LookupFuncName(list_make2(makeString(TOMBSTONE_SCHEMA),
									makeString("_citus_change")),
							2, argtypes, true);
	if (!OidIsValid(funcid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot tombstone rows of Citus table \"%s\" with this version of extension \"pg_tombstone\"",
						get_rel_name(trel->relid)),
				 errhint("Update the extension with ALTER EXTENSION pg_tombstone UPDATE.")));
	if (tenant == NULL)
		tenant = (Expr *) makeNullConst(TEXTOID, -1, DEFAULT_COLLATION_OID);
	else if (exprType((Node *) tenant) != TEXTOID)
	{
		CoerceViaIO *io = makeNode(CoerceViaIO);

		io->arg = tenant;
		io->resulttype = TEXTOID;
		io->resultcollid = DEFAULT_COLLATION_OID;
		io->coerceformat = COERCE_EXPLICIT_CAST;
		io->location = -1;
		tenant = (Expr *) io;
	}
	return TombstoneChangeCallTarget(funcid, trel, tenant);
}

/*
 * The target list entry "deleted_change = funcid(root, tenant)": the shape
 * of both change-id functions the planner puts into a DELETE turned into
 * an UPDATE, tombstone._stamp() (planner.c) and tombstone._citus_change().
 */
TargetEntry *
TombstoneChangeCallTarget(Oid funcid, const TombstoneRel *trel, Expr *tenant)
{
	Expr	   *call;

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
 * The tenant a DELETE on a Citus table is pinned to by its WHERE clause:
 * the constant or parameter of a top-level "tenant_column = value", or
 * NULL.  Every row such a statement tombstones is of that tenant, so its
 * rows are counted from the number it reports instead of from the table.
 */
Expr *
TombstoneCitusPinnedTenant(Query *query, const TombstoneRel *trel)
{
	List	   *quals;
	ListCell   *lc;

	if (query->jointree == NULL || query->jointree->quals == NULL ||
		trel->tenant_attno == InvalidAttrNumber)
		return NULL;
	quals = make_ands_implicit((Expr *) query->jointree->quals);
	foreach(lc, quals)
	{
		OpExpr	   *op = (OpExpr *) lfirst(lc);
		Node	   *l;
		Node	   *r;
		char	   *opname;

		if (!IsA(op, OpExpr) || list_length(op->args) != 2)
			continue;
		l = linitial(op->args);
		r = lsecond(op->args);
		if (!IsA(l, Var))
		{
			Node	   *t = l;

			l = r;
			r = t;
		}
		if (!IsA(l, Var) || ((Var *) l)->varno != query->resultRelation ||
			((Var *) l)->varlevelsup != 0 ||
			((Var *) l)->varattno != trel->tenant_attno ||
			!(IsA(r, Const) || (IsA(r, Param) &&
								((Param *) r)->paramkind == PARAM_EXTERN)) ||
			exprType(r) != ((Var *) l)->vartype ||
			(opname = get_opname(op->opno)) == NULL || strcmp(opname, "=") != 0)
			continue;
		if (IsA(r, Const) && ((Const *) r)->constisnull)
			continue;
		return (Expr *) copyObject(r);
	}
	return NULL;
}

