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
	src/token.o

DATA = $(wildcard sql/pg_tombstone--*.sql)
PGFILEDESC = "pg_tombstone - DELETE becomes a recoverable tombstone"

# pg_regress suites, in order
REGRESS = protect delete_forms visibility guard odd_paths ledger
REGRESS_OPTS = --load-extension=pg_tombstone

# isolation specs (specs/), run by installcheck after REGRESS
ISOLATION = concurrent_delete
ISOLATION_OPTS = --load-extension=pg_tombstone

PG_CPPFLAGS = -I$(srcdir)/src -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers

# HMAC-SHA256 and Ed25519 come from OpenSSL's libcrypto
SHLIB_LINK += -lcrypto

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every subsystem includes the shared header
$(OBJS): src/pg_tombstone.h src/token.h
