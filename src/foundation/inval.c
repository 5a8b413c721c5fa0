/*-------------------------------------------------------------------------
 *
 * inval.c
 *	  One invalidation dispatcher for every subsystem that caches catalog
 *	  information.
 *
 * PostgreSQL gives a backend a fixed number of relcache and syscache
 * callback slots for all loaded libraries together (ten relcache callbacks
 * in PostgreSQL 15), and other extensions preloaded beside pg_tombstone, such
 * as Citus, need theirs.  So pg_tombstone registers exactly one relcache
 * callback, and one syscache callback per catalog it watches, here; each
 * subsystem that caches something subscribes to them with a function of its
 * own, and the dispatcher hands every invalidation to every subscriber.
 *
 * Subscribing is idempotent and may happen at any time: from _PG_init when
 * the library is preloaded, or at a cache's first use, which is what keeps
 * caches correct in a backend that loaded the library on demand (the
 * triggers of protected tables still run there).
 *
 * src/foundation/inval.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/inval.h"

#include "foundation/inval.h"

/* More than pg_tombstone's subsystems will ever need */
#define MAX_RELCACHE_SUBSCRIBERS	16
#define MAX_SYSCACHE_SUBSCRIBERS	16

static TombstoneRelcacheInval relcache_subscribers[MAX_RELCACHE_SUBSCRIBERS];
static int	num_relcache_subscribers = 0;

typedef struct SyscacheSubscriber
{
	int			cacheid;
	TombstoneSyscacheInval func;
} SyscacheSubscriber;

static SyscacheSubscriber syscache_subscribers[MAX_SYSCACHE_SUBSCRIBERS];
static int	num_syscache_subscribers = 0;

/* The one relcache callback: every subscriber hears of every invalidation. */
static void
dispatch_relcache(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < num_relcache_subscribers; i++)
		relcache_subscribers[i] (relid);
}

/* The callback of one syscache: its subscribers hear of it. */
static void
dispatch_syscache(Datum arg, int cacheid, uint32 hashvalue)
{
	int			i;

	for (i = 0; i < num_syscache_subscribers; i++)
		if (syscache_subscribers[i].cacheid == cacheid)
			syscache_subscribers[i].func(hashvalue);
}

/*
 * Call func on every relcache invalidation from now on.  The relcache
 * callback itself is registered with PostgreSQL at the first subscription.
 */
void
TombstoneOnRelcacheInval(TombstoneRelcacheInval func)
{
	int			i;

	for (i = 0; i < num_relcache_subscribers; i++)
		if (relcache_subscribers[i] == func)
			return;
	if (num_relcache_subscribers >= MAX_RELCACHE_SUBSCRIBERS)
		elog(ERROR, "pg_tombstone: too many relcache invalidation subscribers");
	if (num_relcache_subscribers == 0)
		CacheRegisterRelcacheCallback(dispatch_relcache, (Datum) 0);
	relcache_subscribers[num_relcache_subscribers++] = func;
}

/*
 * Call func on every invalidation of syscache cacheid from now on; one
 * callback is registered with PostgreSQL per cache, at its first
 * subscription.
 */
void
TombstoneOnSyscacheInval(int cacheid, TombstoneSyscacheInval func)
{
	bool		watched = false;
	int			i;

	for (i = 0; i < num_syscache_subscribers; i++)
	{
		if (syscache_subscribers[i].cacheid != cacheid)
			continue;
		if (syscache_subscribers[i].func == func)
			return;
		watched = true;
	}
	if (num_syscache_subscribers >= MAX_SYSCACHE_SUBSCRIBERS)
		elog(ERROR, "pg_tombstone: too many syscache invalidation subscribers");
	if (!watched)
		CacheRegisterSyscacheCallback(cacheid, dispatch_syscache, (Datum) 0);
	syscache_subscribers[num_syscache_subscribers].cacheid = cacheid;
	syscache_subscribers[num_syscache_subscribers].func = func;
	num_syscache_subscribers++;
}
