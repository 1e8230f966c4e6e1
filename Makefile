# migguard: PGXS build.  `make installcheck` runs pg_regress, the isolation
# specs and the TAP tests, each against its own throwaway preloaded server.

MODULE_big = migguard
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
EXTENSION = migguard
DATA = $(wildcard sql/migguard--*.sql)
PGFILEDESC = "migguard - keeps schema migrations from taking production down"

PG_CPPFLAGS = -I$(srcdir)/src

REGRESS = $(patsubst sql/%.sql,%,$(sort $(filter-out sql/migguard--%,$(wildcard sql/*.sql))))
REGRESS_OPTS = --temp-config=$(srcdir)/test/migguard.conf \
	--temp-instance=$(CURDIR)/tmp_regress

ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --temp-config=$(srcdir)/test/migguard.conf \
	--temp-instance=$(CURDIR)/tmp_isolation --inputdir=test

TAP_TESTS = 1
PROVE_TESTS ?= test/t/*.pl

EXTRA_CLEAN = tmp_regress tmp_isolation output_iso

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
