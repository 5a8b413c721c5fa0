/*-------------------------------------------------------------------------
 *
 * history_ddl.c
 *	  DDL of a protected table that its history table follows.
 *
 * A history table has the columns of its protected table (plus valid_to),
 * matched by name when old versions are written and read
 * (recording/history.c, operations/timetravel.c).  When a column of the
 * protected table is renamed, the DDL guard (mechanisms/ddl_guard.c) calls
 * TombstoneHistoryRenameColumn() first, so that the old versions stay
 * readable under the new name.
 *
 * src/recording/history_ddl.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "foundation/catalog.h"
#include "foundation/errcodes.h"
#include "foundation/internal.h"
#include "foundation/names.h"
#include "foundation/query.h"
#include "recording/history.h"

/*
 * Called by the DDL guard before ALTER TABLE ... RENAME COLUMN of a
 * protected table runs: the history table's column is renamed with it, so
 * that old versions stay readable under the new name.
 */
void
TombstoneHistoryRenameColumn(Oid relid, const char *oldname, const char *newname)
{
	const TombstoneRel *trel = TombstoneRelLookup(relid);
	Oid			histrelid;
	char	   *sql;

	if (trel == NULL || OidIsValid(trel->parent) ||
		!OidIsValid(trel->history_relid))
		return;
	histrelid = trel->history_relid;
	if (get_attnum(histrelid, oldname) == InvalidAttrNumber)
		return;
	if (get_attnum(histrelid, newname) != InvalidAttrNumber ||
		strcmp(newname, TOMBSTONE_VALID_TO) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_HISTORY_DDL),
				 errmsg("cannot rename column \"%s\" of protected table \"%s\" to \"%s\"",
						oldname, get_rel_name(relid), newname),
				 errdetail("History table %s already has a column \"%s\", which keeps the old versions of rows.",
						   TombstoneQualifiedName(histrelid), newname),
				 errhint("Choose another name.")));

	sql = psprintf("ALTER TABLE %s RENAME COLUMN %s TO %s",
				   TombstoneQualifiedName(histrelid), quote_identifier(oldname),
				   quote_identifier(newname));
	/* the DDL guard lets this rename of the history table through */
	TombstoneHistoryCarryOver(histrelid);
	PG_TRY();
	{
		TombstoneRunUtilityAs(TombstoneRelationOwner(histrelid),
							  (const char *const *) &sql, 1);
	}
	PG_FINALLY();
	{
		TombstoneHistoryCarryOver(InvalidOid);
	}
	PG_END_TRY();
}
