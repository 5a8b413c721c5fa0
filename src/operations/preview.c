/*-------------------------------------------------------------------------
 *
 * preview.c
 *	  tombstone.preview(): what a DELETE would tombstone, per table and
 *	  tenant, cascades included, without keeping anything.
 *
 * The DELETE runs in a subtransaction that is always rolled back, with a
 * change of its own in preview mode (recording/change.c): it takes no change
 * id, writes no ledger entry and is not counted by the guard, but a refusal
 * (a restricting foreign key, a token the DELETE would need) is raised as
 * the DELETE itself would raise it.
 *
 * src/operations/preview.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "foundation/refuse.h"
#include "foundation/settings.h"
#include "recording/change.h"
#include "recording/ledger.h"

PG_FUNCTION_INFO_V1(tombstone_preview);

/*-------------------------------------------------------------------------
 * tombstone.preview(statement text)
 *-------------------------------------------------------------------------
 */

static int
tally_order(const ListCell *a, const ListCell *b)
{
	TombstoneTally *x = lfirst(a);
	TombstoneTally *y = lfirst(b);
	int			c = strcmp(get_rel_name(x->root), get_rel_name(y->root));

	if (c != 0)
		return c;
	if (x->tenant == NULL || y->tenant == NULL)
		return (x->tenant == NULL) - (y->tenant == NULL);
	return strcmp(x->tenant, y->tenant);
}

/*
 * Run one DELETE in a subtransaction that is always rolled back, and
 * return per table and tenant how many rows it tombstoned, cascades
 * included.  Nothing persists: not the rows, not a ledger entry, not a
 * change id.  A refusal (a restricting foreign key, a guard) is raised as
 * the DELETE itself would raise it.
 */
Datum
tombstone_preview(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *statement;
	List	   *parsed;
	Node	   *stmt;
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	void	   *saved;
	List	   *tally = NIL;
	ListCell   *lc;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("statement of tombstone.preview() must not be null"),
				 errdetail("Called with statement NULL."),
				 errhint("Give the text of one DELETE statement.")));
	statement = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!tombstone_preloaded)
		TombstoneRefuseNotPreloaded("tombstone.preview() records its work as a change, which needs the library loaded at server start.");

	parsed = raw_parser(statement, RAW_PARSE_DEFAULT);
	stmt = list_length(parsed) == 1 ?
		((RawStmt *) linitial(parsed))->stmt : NULL;
	if (stmt == NULL || !IsA(stmt, DeleteStmt))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("tombstone.preview() runs exactly one DELETE statement"),
				 errdetail(list_length(parsed) == 1 ?
						   "The statement given is not a DELETE." :
						   "%d statements were given.", list_length(parsed)),
				 errhint("Pass the text of a single DELETE, as in tombstone.preview('DELETE FROM orders WHERE id = 42').")));

	InitMaterializedSRF(fcinfo, 0);

	saved = TombstoneChangeSuspend(true);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute(statement, false, 0) < 0)
			elog(ERROR, "could not run the statement given to tombstone.preview()");
		SPI_finish();
		MemoryContextSwitchTo(oldcxt);
		tally = TombstoneChangeTally();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		TombstoneChangeResume(saved);
		ReThrowError(edata);
	}
	PG_END_TRY();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	TombstoneChangeResume(saved);

	tally = list_copy(tally);
	list_sort(tally, tally_order);
	foreach(lc, tally)
	{
		TombstoneTally *t = lfirst(lc);
		Datum		values[3];
		bool		nulls[3] = {false, t->tenant == NULL, false};

		if (t->tombstoned == 0)
			continue;
		values[0] = ObjectIdGetDatum(t->root);
		values[1] = t->tenant ? CStringGetTextDatum(t->tenant) : (Datum) 0;
		values[2] = Int64GetDatum(t->tombstoned);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
