/*-------------------------------------------------------------------------
 *
 * observe.c
 *	  Refusal counters: how often each kind of refusal happened, across the
 *	  whole cluster, and who was refused in the server log.
 *
 * Every refusal of the extension raises an error whose SQLSTATE is in the
 * extension's own class "TB" (foundation/errcodes.h), one code per kind.
 * Counting them where they are raised would mean a call at every ereport()
 * site, and writing a table is impossible anyway: the transaction is
 * aborting.  So the counting happens in emit_log_hook, which sees every error
 * on its way to the server log, whoever raised it (C code, or a RAISE with a
 * TB code in the extension's PL/pgSQL): for each error of class TB the counter
 * of its code, a pg_atomic_uint64 in shared memory, goes up by one, and the
 * time is remembered.  No lock is taken on that path.
 *
 * Limits, as the README says: an error caught by a PL/pgSQL EXCEPTION block
 * (or any PG_CATCH that does not re-throw) is never emitted, so it is not
 * counted; nor is an error when log_min_messages is set above ERROR, since
 * PostgreSQL calls the hook only for messages that go to the server log.
 * The counters live in shared memory and start at zero with the server.
 *
 * The same hook adds to the server log who was refused: when the error has
 * no detail_log of its own, it gets the error's detail followed by a
 * sentence naming the current role, the session role and application_name,
 * so that the log line reads, for example,
 *
 *	 DETAIL:  ... Refused for role "alice" (session role "alice"), application "psql".
 *
 * The client sees the ordinary detail; detail_log only goes to the log.
 *
 * Shared memory is requested in shmem_request_hook (PostgreSQL 15) and
 * attached in shmem_startup_hook; both exist only when the library is
 * preloaded, which is the only way TombstoneObserveInit() is called.
 *
 * src/foundation/observe.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "foundation/errcodes.h"
#include "foundation/observe.h"
#include "foundation/refuse.h"

PG_FUNCTION_INFO_V1(tombstone_refusals);
PG_FUNCTION_INFO_V1(tombstone_reset_refusals);

/* One kind of refusal: its SQLSTATE and a short name */
typedef struct RefusalKind
{
	const char *sqlstate;
	const char *kind;
} RefusalKind;

/* Every refusal code of class TB, in the order the view lists them */
static const RefusalKind refusal_kinds[] = {
	{"TB001", "not_preloaded"},
	{"TB002", "physical_delete"},
	{"TB003", "truncate"},
	{"TB004", "drop_table"},
	{"TB005", "drop_column"},
	{"TB006", "disable_trigger"},
	{"TB007", "detach"},
	{"TB008", "drop_extension"},
	{"TB009", "alter_column"},
	{"TB010", "drop_trigger"},
	{"TB011", "event_trigger"},
	{"TB012", "change_column"},
	{"TB013", "ledger"},
	{"TB020", "token_malformed"},
	{"TB021", "token_algorithm"},
	{"TB022", "token_key"},
	{"TB023", "token_signature"},
	{"TB024", "token_expired"},
	{"TB025", "token_not_yet"},
	{"TB026", "token_audience"},
	{"TB027", "token_used"},
	{"TB028", "token_role"},
	{"TB029", "token_claims"},
	{"TB030", "multi_tenant"},
	{"TB031", "tenant_delete"},
	{"TB032", "max_rows"},
	{"TB033", "row_threshold"},
	{"TB034", "unprotect"},
	{"TB035", "purge"},
	{"TB036", "rewind"},
	{"TB040", "history_ddl"},
	{"TB041", "history_range"},
	{"TB042", "no_history"},
	{"TB043", "history_write"},
	{"TB050", "internal_call"},
	{"TB051", "own_objects"},
	{"TB052", "unlogged"},
	{"TB053", "not_protectable"},
	{"TB055", "drop_database"},
	{"TB056", "retention"},
	{"TB060", "drop_primary_key"},
	{"TB061", "reload"},
	{"TB065", "subscribed_ledger"},
	{"TB070", "citus_distribution"},
	{"TB071", "citus_merge"},
	{"TB072", "citus_full_join"},
	{"TB073", "citus_shards"},
	{"TB074", "citus_worker"},
	{"TB075", "citus_history"},
	{"TB076", "citus_registry"},
};

#define NUM_REFUSAL_KINDS	lengthof(refusal_kinds)

/* The counters in shared memory */
typedef struct RefusalCounter
{
	pg_atomic_uint64 refusals;
	pg_atomic_uint64 last_refused;	/* TimestampTz; 0: never */
} RefusalCounter;

typedef struct RefusalShared
{
	RefusalCounter counters[NUM_REFUSAL_KINDS];
} RefusalShared;

static RefusalShared *shared = NULL;

/* the SQLSTATE of each kind, packed as PostgreSQL packs them */
static int	refusal_codes[NUM_REFUSAL_KINDS];

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static emit_log_hook_type prev_emit_log_hook = NULL;

static int
pack_sqlstate(const char *s)
{
	return MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
}

/* the slot of a SQLSTATE, or -1 when it is not one of ours */
static int
refusal_slot(int sqlerrcode)
{
	int			i;

	if (ERRCODE_TO_CATEGORY(sqlerrcode) != ERRCODE_TO_CATEGORY(ERRCODE_TOMBSTONE_PURGE))
		return -1;
	for (i = 0; i < NUM_REFUSAL_KINDS; i++)
		if (refusal_codes[i] == sqlerrcode)
			return i;
	return -1;
}

static void
observe_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(RefusalShared)));
}

static void
observe_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("pg_tombstone refusals", sizeof(RefusalShared),
							 &found);
	if (!found)
	{
		int			i;

		for (i = 0; i < NUM_REFUSAL_KINDS; i++)
		{
			pg_atomic_init_u64(&shared->counters[i].refusals, 0);
			pg_atomic_init_u64(&shared->counters[i].last_refused, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * The sentence naming who was refused.  Role names are looked up only in a
 * transaction that is still in progress (a syscache lookup is not safe in an
 * aborted one); otherwise the role is given by OID.
 */
static char *
refused_for(void)
{
	const char *role = NULL;
	const char *session_role = NULL;
	const char *app = application_name ? application_name : "";

	if (IsTransactionState())
	{
		role = GetUserNameFromId(GetUserId(), true);
		session_role = GetUserNameFromId(GetSessionUserId(), true);
	}
	if (role == NULL)
		role = psprintf("%u", GetUserId());
	if (session_role == NULL)
		session_role = psprintf("%u", GetSessionUserId());
	return psprintf("Refused for role \"%s\" (session role \"%s\"), application \"%s\".",
					role, session_role, app);
}

/*
 * Count refusals of class TB, and say in the server log who was refused.
 * Runs for every message that goes to the server log, so everything but the
 * category test is skipped for other messages.
 */
static void
observe_emit_log(ErrorData *edata)
{
	int			slot;

	if (edata->elevel >= ERROR &&
		(slot = refusal_slot(edata->sqlerrcode)) >= 0)
	{
		if (shared != NULL)
		{
			pg_atomic_fetch_add_u64(&shared->counters[slot].refusals, 1);
			pg_atomic_write_u64(&shared->counters[slot].last_refused,
								(uint64) GetCurrentTimestamp());
		}
		if (edata->detail_log == NULL)
		{
			char	   *who = refused_for();

			edata->detail_log = edata->detail ?
				psprintf("%s %s", edata->detail, who) : who;
		}
	}

	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
TombstoneObserveInit(void)
{
	int			i;

	for (i = 0; i < NUM_REFUSAL_KINDS; i++)
		refusal_codes[i] = pack_sqlstate(refusal_kinds[i].sqlstate);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = observe_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = observe_shmem_startup;
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = observe_emit_log;
}

static void
require_counters(const char *funcname)
{
	if (shared == NULL)
		TombstoneRefuseNotPreloaded(psprintf("%s() needs the refusal counters kept in shared memory, which only a library loaded at server start can allocate.",
											 funcname));
}

/*
 * tombstone._refusals(): one row per refusal code (sqlstate, kind,
 * refusals, last_refused), behind the view tombstone.refusals.
 */
Datum
tombstone_refusals(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	require_counters("tombstone._refusals");
	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < NUM_REFUSAL_KINDS; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		uint64		last;

		values[0] = CStringGetTextDatum(refusal_kinds[i].sqlstate);
		values[1] = CStringGetTextDatum(refusal_kinds[i].kind);
		values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&shared->counters[i].refusals));
		last = pg_atomic_read_u64(&shared->counters[i].last_refused);
		values[3] = TimestampTzGetDatum((TimestampTz) last);
		nulls[3] = (last == 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * tombstone.reset_refusals(): set every counter back to zero.  EXECUTE is
 * revoked from PUBLIC in the extension script.
 */
Datum
tombstone_reset_refusals(PG_FUNCTION_ARGS)
{
	int			i;

	require_counters("tombstone.reset_refusals");
	for (i = 0; i < NUM_REFUSAL_KINDS; i++)
	{
		pg_atomic_write_u64(&shared->counters[i].refusals, 0);
		pg_atomic_write_u64(&shared->counters[i].last_refused, 0);
	}
	PG_RETURN_VOID();
}
