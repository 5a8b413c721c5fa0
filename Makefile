# pg_tombstone: PGXS build
EXTENSION = pg_tombstone
MODULE_big = pg_tombstone
OBJS = \
	src/pg_tombstone.o \
	src/foundation/catalog.o \
	src/foundation/citus.o \
	src/foundation/internal.o \
	src/foundation/inval.o \
	src/foundation/observe.o \
	src/foundation/query.o \
	src/foundation/refuse.o \
	src/foundation/settings.o \
	src/foundation/tenant.o \
	src/policy/guard.o \
	src/policy/jws.o \
	src/policy/keys.o \
	src/policy/permit.o \
	src/policy/token.o \
	src/recording/change.o \
	src/recording/history.o \
	src/recording/history_ddl.o \
	src/recording/ledger.o \
	src/mechanisms/cascade.o \
	src/mechanisms/citus_guard.o \
	src/mechanisms/citus_plan.o \
	src/mechanisms/database_guard.o \
	src/mechanisms/ddl_guard.o \
	src/mechanisms/executor.o \
	src/mechanisms/fkgraph.o \
	src/mechanisms/planner.o \
	src/mechanisms/record_guard.o \
	src/mechanisms/triggers.o \
	src/operations/preview.o \
	src/operations/protect.o \
	src/operations/purge.o \
	src/operations/timetravel.o \
	src/operations/undelete.o

DATA = $(wildcard sql/pg_tombstone--*.sql)
PGFILEDESC = "pg_tombstone - DELETE becomes a recoverable tombstone"

# pg_regress suites, in order
REGRESS = protect delete_forms visibility guard odd_paths ledger tokens guard_tokens purge history history_oracle integrity
REGRESS_OPTS = --load-extension=pg_tombstone

# isolation specs (specs/), run by installcheck after REGRESS
ISOLATION = concurrent_delete delete_recount history_concurrent token_single_use token_key_removed
ISOLATION_OPTS = --load-extension=pg_tombstone

# command-line tool that mints change tokens, installed into bindir
SCRIPTS_built = tools/pg_tombstone_token

PG_CPPFLAGS = -I$(srcdir)/src -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers

# HMAC-SHA256 and Ed25519 come from OpenSSL's libcrypto
SHLIB_LINK += -lcrypto

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# headers live beside their sources, one per subsystem
$(OBJS): $(wildcard $(srcdir)/src/*/*.h)

# pg_tombstone_token (SCRIPTS_built above): PGXS builds one MODULE_big or one
# PROGRAM, so the command-line tool that mints change tokens has its own rule
tools/pg_tombstone_token: tools/pg_tombstone_token.c
	$(CC) $(CFLAGS) -Wall -Wextra -o $@ $< $(LDFLAGS) -lcrypto
