/*-------------------------------------------------------------------------
 *
 * pg_tombstone.h
 *	  Declarations shared by the subsystems of pg_tombstone.
 *
 * The extension is split by concern: pg_tombstone.c (start-up and GUCs),
 * catalog.c (which relations are protected, cached per backend), planner.c
 * (DELETE becomes a tombstone UPDATE; tombstones are hidden from scans),
 * triggers.c (row and statement triggers that fail closed), ddl_guard.c
 * (utility, object-access and event-trigger guards against destructive DDL),
 * ledger.c (change ids, row counts and the ledger; executor hooks that mark
 * where a statement ends), cascade.c (what a tombstoning or an undelete
 * does to other rows: foreign-key cascades and checks, tenant deletion),
 * undelete.c (undelete functions and preview), token.c (signed change
 * tokens: parsing, signature checks, keys, binding to a transaction),
 * guard.c (which changes need a token, and whether the bound ones cover
 * them), purge.c (authorised hard deletion of old tombstones), observe.c
 * (refusal counters in shared memory).
 *
 * src/pg_tombstone.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_TOMBSTONE_H
#define PG_TOMBSTONE_H

#include "postgres.h"

#include "access/attnum.h"
#include "access/htup.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/relcache.h"

/*
 * SQLSTATEs of the extension's own class "TB".  Each kind of refusal has its
 * own code so that applications can catch exactly what they expect; the
 * README lists them.
 */
#define ERRCODE_TOMBSTONE_NOT_PRELOADED		MAKE_SQLSTATE('T','B','0','0','1')
#define ERRCODE_TOMBSTONE_PHYSICAL_DELETE	MAKE_SQLSTATE('T','B','0','0','2')
#define ERRCODE_TOMBSTONE_TRUNCATE			MAKE_SQLSTATE('T','B','0','0','3')
#define ERRCODE_TOMBSTONE_DROP_TABLE		MAKE_SQLSTATE('T','B','0','0','4')
#define ERRCODE_TOMBSTONE_DROP_COLUMN		MAKE_SQLSTATE('T','B','0','0','5')
#define ERRCODE_TOMBSTONE_DISABLE_TRIGGER	MAKE_SQLSTATE('T','B','0','0','6')
#define ERRCODE_TOMBSTONE_DETACH			MAKE_SQLSTATE('T','B','0','0','7')
#define ERRCODE_TOMBSTONE_DROP_EXTENSION	MAKE_SQLSTATE('T','B','0','0','8')
#define ERRCODE_TOMBSTONE_ALTER_COLUMN		MAKE_SQLSTATE('T','B','0','0','9')
#define ERRCODE_TOMBSTONE_DROP_TRIGGER		MAKE_SQLSTATE('T','B','0','1','0')
#define ERRCODE_TOMBSTONE_EVENT_TRIGGER		MAKE_SQLSTATE('T','B','0','1','1')
#define ERRCODE_TOMBSTONE_CHANGE_COLUMN		MAKE_SQLSTATE('T','B','0','1','2')
#define ERRCODE_TOMBSTONE_LEDGER			MAKE_SQLSTATE('T','B','0','1','3')

/* TB02x: a change token was refused by tombstone.authorize() (token.c) */
#define ERRCODE_TOMBSTONE_TOKEN_MALFORMED	MAKE_SQLSTATE('T','B','0','2','0')
#define ERRCODE_TOMBSTONE_TOKEN_ALGORITHM	MAKE_SQLSTATE('T','B','0','2','1')
#define ERRCODE_TOMBSTONE_TOKEN_KEY			MAKE_SQLSTATE('T','B','0','2','2')
#define ERRCODE_TOMBSTONE_TOKEN_SIGNATURE	MAKE_SQLSTATE('T','B','0','2','3')
#define ERRCODE_TOMBSTONE_TOKEN_EXPIRED		MAKE_SQLSTATE('T','B','0','2','4')
#define ERRCODE_TOMBSTONE_TOKEN_NOT_YET		MAKE_SQLSTATE('T','B','0','2','5')
#define ERRCODE_TOMBSTONE_TOKEN_AUDIENCE	MAKE_SQLSTATE('T','B','0','2','6')
#define ERRCODE_TOMBSTONE_TOKEN_USED		MAKE_SQLSTATE('T','B','0','2','7')
#define ERRCODE_TOMBSTONE_TOKEN_ROLE		MAKE_SQLSTATE('T','B','0','2','8')
#define ERRCODE_TOMBSTONE_TOKEN_CLAIMS		MAKE_SQLSTATE('T','B','0','2','9')

/* TB03x: the guard refused a change for want of a covering token */
#define ERRCODE_TOMBSTONE_MULTI_TENANT		MAKE_SQLSTATE('T','B','0','3','0')
#define ERRCODE_TOMBSTONE_TENANT_DELETE		MAKE_SQLSTATE('T','B','0','3','1')
#define ERRCODE_TOMBSTONE_MAX_ROWS			MAKE_SQLSTATE('T','B','0','3','2')
#define ERRCODE_TOMBSTONE_ROW_THRESHOLD		MAKE_SQLSTATE('T','B','0','3','3')
#define ERRCODE_TOMBSTONE_UNPROTECT			MAKE_SQLSTATE('T','B','0','3','4')
#define ERRCODE_TOMBSTONE_PURGE				MAKE_SQLSTATE('T','B','0','3','5')
#define ERRCODE_TOMBSTONE_REWIND			MAKE_SQLSTATE('T','B','0','3','6')

/* TB04x: row history and time travel */
#define ERRCODE_TOMBSTONE_HISTORY_DDL		MAKE_SQLSTATE('T','B','0','4','0')
#define ERRCODE_TOMBSTONE_HISTORY_RANGE		MAKE_SQLSTATE('T','B','0','4','1')
#define ERRCODE_TOMBSTONE_NO_HISTORY		MAKE_SQLSTATE('T','B','0','4','2')
#define ERRCODE_TOMBSTONE_HISTORY_WRITE		MAKE_SQLSTATE('T','B','0','4','3')

/* TB05x: the integrity of the machinery itself */
#define ERRCODE_TOMBSTONE_INTERNAL			MAKE_SQLSTATE('T','B','0','5','0')
#define ERRCODE_TOMBSTONE_OWN_OBJECTS		MAKE_SQLSTATE('T','B','0','5','1')
#define ERRCODE_TOMBSTONE_UNLOGGED			MAKE_SQLSTATE('T','B','0','5','2')
#define ERRCODE_TOMBSTONE_NOT_PROTECTABLE	MAKE_SQLSTATE('T','B','0','5','3')
#define ERRCODE_TOMBSTONE_DROP_DATABASE		MAKE_SQLSTATE('T','B','0','5','5')
#define ERRCODE_TOMBSTONE_RETENTION			MAKE_SQLSTATE('T','B','0','5','6')

/* Fixed names of the columns and triggers that protect() installs. */
#define TOMBSTONE_DELETED_AT		"deleted_at"
#define TOMBSTONE_DELETED_CHANGE	"deleted_change"
#define TOMBSTONE_TRIGGER_PREFIX	"tombstone_"
#define TOMBSTONE_SCHEMA			"tombstone"
#define TOMBSTONE_CATALOG			"tables"
#define TOMBSTONE_LEDGER			"changes"
#define TOMBSTONE_LEDGER_SEQ		"changes_id_seq"
#define TOMBSTONE_REGISTRY			"tenant_registry"
#define TOMBSTONE_VALID_FROM		"valid_from"

/*
 * Location of the tombstone._version() call planner.c adds to an UPDATE;
 * ledger.c recognises the call by it (a parsed call has location >= -1).
 */
#define TOMBSTONE_VERSION_LOCATION	(-4243)
#define TOMBSTONE_VALID_TO			"valid_to"
#define TOMBSTONE_HISTORY_SCHEMA	"tombstone_history"

/*
 * Every query the extension runs itself starts with this comment.  The
 * planner does not hide tombstones from such queries (they say in their own
 * quals which rows they want), whatever tombstone.visibility is.
 */
#define TOMBSTONE_INTERNAL_QUERY	"/* pg_tombstone */ "

/* Values of tombstone.visibility */
typedef enum TombstoneVisibility
{
	TOMBSTONE_VISIBILITY_LIVE,
	TOMBSTONE_VISIBILITY_ALL,
	TOMBSTONE_VISIBILITY_DELETED
} TombstoneVisibility;

/*
 * What the backend knows about one protected relation.  Attribute numbers
 * are those of this relation (a partition may number its columns differently
 * from its parent).
 */
typedef struct TombstoneRel
{
	Oid			relid;			/* hash key */
	bool		is_protected;	/* false: a cached negative answer */
	Oid			parent;			/* protected through this ancestor, or InvalidOid */
	Oid			root;			/* parent if valid, else relid */
	AttrNumber	deleted_at_attno;
	AttrNumber	deleted_change_attno;
	AttrNumber	tenant_attno;
	NameData	tenant_column;
	Oid			history_relid;	/* the root's history table, or InvalidOid */
	AttrNumber	valid_from_attno;	/* with history: start of the row's validity */
	Interval	retention;		/* of the root */
	TimestampTz history_since;	/* the root's protected_at: history begins */
} TombstoneRel;

/* pg_tombstone.c */
extern bool tombstone_preloaded;
extern int	tombstone_visibility;

/* catalog.c */
extern void TombstoneCatalogInit(void);
extern const TombstoneRel *TombstoneRelLookup(Oid relid);
extern Oid	TombstoneCatalogRelid(void);
extern bool TombstoneAnyProtected(void);
extern Oid	TombstoneFindProtected(bool (*match) (Oid relid, void *arg),
								   void *arg);
extern List *TombstoneProtectedRoots(void);
extern Oid	TombstoneLedgerRelid(void);
extern Oid	TombstoneLedgerSeqRelid(void);
extern bool TombstoneOwnTable(Oid relid);
extern void TombstoneOwnWriteBegin(Oid relid);
extern void TombstoneOwnWriteEnd(void);
extern bool TombstoneOwnWriteAllows(Oid relid);
extern Oid	TombstoneRelationOwner(Oid relid);
extern char *TombstoneQualifiedName(Oid relid);
extern char **TombstoneColumnNames(Oid relid, Datum keys, int *nkeys);
extern void TombstoneInsertAsOwner(Oid catrelid, const char *sql, int nargs,
								   Oid *argtypes, Datum *values,
								   const char *nulls);
extern void TombstoneInsertTuple(Relation rel, HeapTuple tuple);
extern Oid	TombstoneHistoryBase(Oid histrelid);
extern char *TombstoneRelationArg(Oid relid, const char *funcname);
extern void TombstoneCheckProtectable(Oid relid, const char *funcname);
extern void TombstoneCheckRegistration(Oid relid, const char *tenant_column,
									   bool history, Oid parent,
									   Oid history_table);

/* ledger.c */
extern void TombstoneLedgerInit(void);
extern int	TombstoneExecDepth(void);
extern HeapTuple TombstoneBookkeep(Relation rel, HeapTuple oldtup,
								   HeapTuple newtup);
extern void *TombstoneChangeBegin(const char *operation, int64 undoes);
extern void TombstoneChangeEnd(void *scope);
extern void TombstoneChangeMarkTenantDeleted(void);
extern int64 TombstoneChangeRows(Oid root, bool tombstoned);
extern int64 TombstoneChangeId(void);

/* one row of a change's tally, as preview() and undelete report it */
typedef struct TombstoneTally
{
	Oid			root;
	char	   *tenant;			/* NULL for a NULL tenant */
	int64		tombstoned;
	int64		restored;
	int64		purged;
	int64		rewound;
} TombstoneTally;
extern List *TombstoneChangeTally(void);
extern void TombstoneChangeAddPurged(Oid root, const char *tenant, int64 rows);
extern void TombstoneChangeAddRewound(Oid root, const char *tenant, int64 rows);
extern void *TombstoneChangeSuspend(bool preview);
extern void TombstoneChangeResume(void *saved);

/* cascade.c */
extern void TombstoneCascadeInit(void);
extern bool TombstonePendingWanted(Relation rel, bool tombstoned);
extern void TombstonePendingAdd(Relation rel, HeapTuple oldtup,
								bool tombstoned);
extern void TombstonePendingProcess(int level);
extern void TombstonePendingDiscard(int above_level);
extern void TombstonePendingReset(void);
extern void TombstoneCascadeRestores(bool on);
extern bool TombstoneTryInput(Oid typid, const char *str, Datum *result);
extern List *TombstoneRootsInOrder(bool parents_first);
extern Oid	TombstoneRegistry(char **id_column);
extern bool TombstoneRunningInternal(void);
extern bool TombstoneRowFromInternal(void);
extern uint64 TombstoneRunInternal(const char *sql, int nargs, Oid *argtypes,
								   Datum *values, const char *nulls,
								   Oid as_user);
struct _DestReceiver;
extern uint64 TombstoneRunInternalTo(const char *sql, int nargs, Oid *argtypes,
									 Datum *values, const char *nulls,
									 Oid as_user, struct _DestReceiver *dest);

/* undelete.c */
extern bool TombstoneAppendTenantFilter(StringInfo sql, const char *alias,
										Oid root, List *tenants, int paramno,
										Datum *value, Oid *type);
extern List *TombstoneChangeTenants(int64 id, Oid root);

/* planner.c */
extern void TombstonePlannerInit(void);

/* ddl_guard.c */
extern void TombstoneDdlGuardInit(void);
extern void TombstoneMarkDatabase(bool on);
extern void TombstoneHistoryCarryOver(Oid histrelid);

/* guard.c */
extern void TombstoneGuardInit(void);
extern void TombstoneGuardRow(Oid root, const char *tenant, bool registry,
							  int64 change);
extern bool TombstoneGuardDdlAllowed(Oid relid);
extern void TombstoneGuardCharge(int64 rows, const char *what);
struct TombstoneToken;
extern const struct TombstoneToken *TombstoneGuardTokenFor(int64 change);
extern void TombstoneGuardRequireRewind(List *roots, const char *tenant);
extern void TombstoneGuardRewindDone(int64 change);

/* history.c */
extern HeapTuple TombstoneHistoryWrite(FmgrInfo *flinfo, Relation rel,
									   HeapTuple oldtup, HeapTuple newtup);
extern void TombstoneHistoryInit(void);
struct EState;
struct FuncExpr;
extern void TombstoneVersionStart(struct EState *estate, Relation rel,
								  const struct FuncExpr *call);
extern void *TombstoneVersionRunBegin(struct EState *estate);
extern void TombstoneVersionRunEnd(void *prev);
extern void TombstoneVersionFinish(struct EState *estate);
extern void TombstoneHistoryRenameColumn(Oid relid, const char *oldname,
										 const char *newname);

/* purge.c */
extern bool TombstonePurgeActive(void);
extern bool TombstonePurgeHistoryAllows(Oid histrelid);
extern bool TombstonePurgeAllows(Relation rel, HeapTuple tuple);

/* internal.c */
extern void TombstoneInternalInit(void);
extern bool TombstoneOwnCode(void);
extern void TombstoneRequireOwnCode(const char *funcname);
extern bool TombstoneExtensionScript(void);

/* observe.c */
extern void TombstoneObserveInit(void);

/* triggers.c */
extern void TombstoneRequirePreloaded(const char *relname);
extern void TombstoneRefuseNotPreloaded(const char *detail) pg_attribute_noreturn();
extern void TombstoneRefuseTruncate(const char *relname) pg_attribute_noreturn();
extern bool TombstoneRelationIsEmpty(Relation rel);
extern void TombstoneRefuseOwnTableChange(const char *relname, const char *what,
										  bool ddl) pg_attribute_noreturn();

/*
 * Hint shared by the refusals that a change token of operation "ddl"
 * authorises (guard.c).
 */
#define TOMBSTONE_DDL_HINT \
	"Authorise a change token of operation \"ddl\" naming the table with tombstone.authorize() in the same transaction."

#endif							/* PG_TOMBSTONE_H */
