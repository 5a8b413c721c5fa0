/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  What pg_tombstone knows about Citus: whether a relation is a Citus
 *	  table, of which kind, and by which column it is distributed.
 *
 * pg_tombstone has no link-time dependency on Citus.  Everything it needs
 * to know is read from Citus's catalog table pg_catalog.pg_dist_partition
 * (logicalrelid, partmethod, partkey), which exists only in a database
 * where the extension citus is installed.  The question is asked only when
 * the entry of a protected relation is built (foundation/catalog.c), and
 * its answer is kept in that entry: it goes with the entry on the
 * relation's relcache invalidation, through the one dispatcher in
 * foundation/inval.c (create_distributed_table() and
 * undistribute_table() invalidate the relation they change).  Without
 * Citus, the only cost is one syscache probe for pg_dist_partition per
 * entry built: queries, DELETEs and their plans are exactly as before.
 *
 * The column a table is distributed by is stored by Citus as the text of a
 * Var node (partkey); it is read back with stringToNode().
 *
 * One thing cannot be read from a catalog: Citus runs a modification of a
 * single shard outside a transaction block (autocommit) in autocommit on
 * the worker too, so the rows are committed there before the statement
 * ends on the coordinator, where its rows are counted and guarded.  A
 * statement that tombstones rows of a Citus table therefore asks Citus
 * for a coordinated transaction first (TombstoneCitusCoordinate()),
 * through Citus's exported function UseCoordinatedTransaction(), looked up
 * by name in citus.so at run time: the worker then runs the statement in
 * a transaction that commits or aborts with the coordinator's, and a
 * refusal of the guard rolls the tombstones back on the shards.
 *
 * src/foundation/citus.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "nodes/primnodes.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "foundation/citus.h"
#include "foundation/inval.h"

/*
 * Citus's functions that drop or empty the shards of a table named by their
 * first argument, or rebuild it through a copy that reads it as a query
 * (which would leave its tombstones behind).
 */
static const char *const destructive_names[] = {
	"citus_drop_all_shards", "master_drop_all_shards",
	"undistribute_table", "alter_distributed_table",
	"alter_table_set_access_method", "drop_old_time_partitions",
	"truncate_local_data_after_distributing_table"
};

#define MAX_DESTRUCTIVE	32

/*
 * Whether Citus is installed in this database (-1: not known), and the
 * OIDs of its destructive functions; forgotten on every relcache
 * invalidation (CREATE and DROP EXTENSION citus create and drop
 * relations), through the one dispatcher of foundation/inval.c.
 */
static int	citus_present = -1;
static Oid	destructive_oids[MAX_DESTRUCTIVE];
static int	n_destructive = 0;

static void
citus_inval(Oid relid)
{
	citus_present = -1;
}

/*
 * Is Citus installed in this database?  One look at pg_extension after
 * each relcache invalidation, a cached answer otherwise.
 */
bool
TombstoneCitusPresent(void)
{
	int			i;

	if (citus_present >= 0)
		return citus_present == 1;
	TombstoneOnRelcacheInval(citus_inval);
	citus_present = TombstoneCitusInstalled() ? 1 : 0;
	n_destructive = 0;
	if (citus_present == 1)
	{
		for (i = 0; i < lengthof(destructive_names); i++)
		{
			CatCList   *list = SearchSysCacheList1(PROCNAMEARGSNSP,
												   CStringGetDatum(destructive_names[i]));
			int			j;

			for (j = 0; j < list->n_members && n_destructive < MAX_DESTRUCTIVE; j++)
			{
				Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(&list->members[j]->tuple);

				if (proc->pronamespace == PG_CATALOG_NAMESPACE)
					destructive_oids[n_destructive++] = proc->oid;
			}
			ReleaseSysCacheList(list);
		}
	}
	return citus_present == 1;
}

/*
 * Is funcid one of Citus's functions that drop or empty the shards of the
 * table given as their first argument?  Only when TombstoneCitusPresent().
 */
bool
TombstoneCitusDestructive(Oid funcid)
{
	int			i;

	for (i = 0; i < n_destructive; i++)
		if (destructive_oids[i] == funcid)
			return true;
	return false;
}

/* Column numbers of pg_dist_partition (Citus 11 and later) */
#define Anum_dist_partition_logicalrelid	1
#define Anum_dist_partition_partmethod		2
#define Anum_dist_partition_partkey			3

/*
 * The OID of pg_catalog.pg_dist_partition, or InvalidOid where Citus is not
 * installed in this database.  One syscache probe.
 */
static Oid
dist_partition_relid(void)
{
	return get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
}

/*
 * Is the extension citus installed in this database?  Reads pg_extension:
 * for protect() and DDL paths only.
 */
bool
TombstoneCitusInstalled(void)
{
	return OidIsValid(get_extension_oid("citus", true));
}

/*
 * How Citus holds relation relid: *method is its partmethod ('h' for a
 * table distributed by hash, 'n' for a reference table or a Citus local
 * table, 'a' and 'r' for append and range), or '\0' when it is no Citus
 * table; *dist_attno is the column it is distributed by, or
 * InvalidAttrNumber.
 */
void
TombstoneCitusRelation(Oid relid, char *method, AttrNumber *dist_attno)
{
	Oid			partrelid = dist_partition_relid();
	Relation	partrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	Snapshot	snapshot;

	*method = '\0';
	*dist_attno = InvalidAttrNumber;
	if (!OidIsValid(partrelid))
		return;

	partrel = table_open(partrelid, AccessShareLock);
	ScanKeyInit(&key, Anum_dist_partition_logicalrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(partrel, InvalidOid, false, snapshot, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		TupleDesc	desc = RelationGetDescr(partrel);
		bool		isnull;
		Datum		d;

		d = heap_getattr(tup, Anum_dist_partition_partmethod, desc, &isnull);
		if (!isnull)
			*method = DatumGetChar(d);
		d = heap_getattr(tup, Anum_dist_partition_partkey, desc, &isnull);
		if (!isnull)
		{
			Node	   *partkey = stringToNode(TextDatumGetCString(d));

			if (partkey != NULL && IsA(partkey, Var))
				*dist_attno = ((Var *) partkey)->varattno;
		}
		/* a row without a method is still a Citus table */
		if (*method == '\0')
			*method = 'n';
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(partrel, AccessShareLock);
}

/*
 * Have Citus run the rest of this transaction's remote work in transaction
 * blocks that commit with the coordinator's transaction (see above).
 * Fails closed: without the function, no tombstone is made.
 */
void
TombstoneCitusCoordinate(void)
{
	static void (*use_coordinated_transaction) (void) = NULL;

	if (use_coordinated_transaction == NULL)
		use_coordinated_transaction = (void (*) (void))
			load_external_function("$libdir/citus", "UseCoordinatedTransaction",
								   false, NULL);
	use_coordinated_transaction();
}

/*
 * Is this backend one of Citus's own connections from another node: the
 * coordinator's (application_name "citus_internal gpid=..."), the
 * rebalancer's or a shard transfer's?  Changes to a protected shard are
 * taken from them as authorised on the coordinator, where pg_tombstone
 * guarded the statement they carry out (README, "Citus"); so is a task
 * that Citus runs locally for a distributed statement of this backend (a
 * shard on the coordinator, such as a reference table's: Citus's
 * LocalExecutorShardId is set).  The answer is Citus's own, asked through
 * its exported symbols by name.  A connection
 * of run_command_on_shards() and the like is not one of them.
 */
bool
TombstoneCitusTrustedBackend(void)
{
	static bool (*internal) (void) = NULL;
	static bool (*rebalancer) (void) = NULL;
	static bool (*transfer) (void) = NULL;
	static uint64 *local_shard = NULL;

	if (internal == NULL)
	{
		local_shard = (uint64 *)
			load_external_function("$libdir/citus", "LocalExecutorShardId",
								   true, NULL);
		internal = (bool (*) (void))
			load_external_function("$libdir/citus", "IsCitusInternalBackend",
								   true, NULL);
		rebalancer = (bool (*) (void))
			load_external_function("$libdir/citus", "IsRebalancerInternalBackend",
								   true, NULL);
		transfer = (bool (*) (void))
			load_external_function("$libdir/citus", "IsCitusShardTransferBackend",
								   true, NULL);
	}
	/* a task of a distributed statement of this backend, run locally */
	if (local_shard != NULL && *local_shard != 0)
		return true;
	return internal() || rebalancer() || transfer();
}
