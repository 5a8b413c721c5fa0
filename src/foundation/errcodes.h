/*-------------------------------------------------------------------------
 *
 * errcodes.h
 *	  The SQLSTATEs of pg_tombstone's refusals: class "TB", one code per
 *	  kind of refusal, so that applications can catch exactly what they
 *	  expect.  The README lists them; foundation/observe.c counts them.
 *
 * src/foundation/errcodes.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_ERRCODES_H
#define TOMBSTONE_ERRCODES_H

#include "utils/elog.h"

/* TB00x, TB01x: the foundation of protection (triggers, DDL guard, ledger) */
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

/* TB02x: a change token was refused by tombstone.authorize() (policy/token.c) */
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

/* TB06x: operating a protected database with other tools */
/* restoring over an existing protected database (mechanisms/ddl_guard.c) */
#define ERRCODE_TOMBSTONE_DROP_PRIMARY_KEY	MAKE_SQLSTATE('T','B','0','6','0')
#define ERRCODE_TOMBSTONE_RELOAD			MAKE_SQLSTATE('T','B','0','6','1')
/* a ledger replicated from a publisher (recording/change.c) */
#define ERRCODE_TOMBSTONE_SUBSCRIBED_LEDGER	MAKE_SQLSTATE('T','B','0','6','5')
#define ERRCODE_TOMBSTONE_CITUS_DISTRIBUTION	MAKE_SQLSTATE('T','B','0','7','0')
#define ERRCODE_TOMBSTONE_CITUS_MERGE		MAKE_SQLSTATE('T','B','0','7','1')
#define ERRCODE_TOMBSTONE_CITUS_FULL_JOIN	MAKE_SQLSTATE('T','B','0','7','2')
#define ERRCODE_TOMBSTONE_CITUS_SHARDS		MAKE_SQLSTATE('T','B','0','7','3')
#define ERRCODE_TOMBSTONE_CITUS_WORKER		MAKE_SQLSTATE('T','B','0','7','4')
#define ERRCODE_TOMBSTONE_CITUS_HISTORY		MAKE_SQLSTATE('T','B','0','7','5')
#define ERRCODE_TOMBSTONE_CITUS_REGISTRY	MAKE_SQLSTATE('T','B','0','7','6')

#endif							/* TOMBSTONE_ERRCODES_H */
