# pg_tombstone: PGXS build
EXTENSION = pg_tombstone
MODULE_big = pg_tombstone
OBJS = \
	src/pg_tombstone.o \
	src/catalog.o \
	src/planner.o \
	src/triggers.o \
	src/ddl_guard.o \
	src/ledger.o \
	src/cascade.o \
	src/undelete.o \
	src/token.o \
	src/guard.o \
	src/purge.o \
	src/observe.o \
	src/history.o \
	src/internal.o

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

# every subsystem includes the shared header
$(OBJS): src/pg_tombstone.h src/token.h

# pg_tombstone_token (SCRIPTS_built above): PGXS builds one MODULE_big or one
# PROGRAM, so the command-line tool that mints change tokens has its own rule
tools/pg_tombstone_token: tools/pg_tombstone_token.c
	$(CC) $(CFLAGS) -Wall -Wextra -o $@ $< $(LDFLAGS) -lcrypto
