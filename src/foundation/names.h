/*-------------------------------------------------------------------------
 *
 * names.h
 *	  The fixed names pg_tombstone gives its schema, tables, columns and
 *	  triggers, and the markers by which it recognises its own work.
 *
 * src/foundation/names.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_NAMES_H
#define TOMBSTONE_NAMES_H

/* The columns and triggers that protect() installs */
#define TOMBSTONE_DELETED_AT		"deleted_at"
#define TOMBSTONE_DELETED_CHANGE	"deleted_change"
#define TOMBSTONE_VALID_FROM		"valid_from"
#define TOMBSTONE_VALID_TO			"valid_to"
#define TOMBSTONE_TRIGGER_PREFIX	"tombstone_"

/* Is this the name of one of the extension's triggers or event triggers? */
static inline bool
TombstoneIsTriggerName(const char *name)
{
	return strncmp(name, TOMBSTONE_TRIGGER_PREFIX,
				   strlen(TOMBSTONE_TRIGGER_PREFIX)) == 0;
}

/* The extension's schemas and tables */
#define TOMBSTONE_SCHEMA			"tombstone"
#define TOMBSTONE_HISTORY_SCHEMA	"tombstone_history"
#define TOMBSTONE_CATALOG			"tables"
#define TOMBSTONE_LEDGER			"changes"
#define TOMBSTONE_LEDGER_SEQ		"changes_id_seq"
#define TOMBSTONE_REGISTRY			"tenant_registry"
#define TOMBSTONE_CLEARED_KEYS		"cleared_keys"

/*
 * Every query the extension runs itself starts with this comment.  The
 * planner does not hide tombstones from such queries (they say in their own
 * quals which rows they want), whatever tombstone.visibility is.
 */
#define TOMBSTONE_INTERNAL_QUERY	"/* pg_tombstone */ "

/*
 * Location of the tombstone._version() call that mechanisms/planner.c adds
 * to an UPDATE; mechanisms/executor.c recognises the call by it (a parsed
 * call has location >= -1).
 */
#define TOMBSTONE_VERSION_LOCATION	(-4243)

#endif							/* TOMBSTONE_NAMES_H */
