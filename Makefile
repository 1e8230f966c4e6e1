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

# `make bench`: the benchmarks (test/bench/run.sh) on throwaway clusters; the
# report and plots go to $(BENCH_OUT).  BENCH_SMOKE=1: a short run.
BENCH_OUT ?= $(CURDIR)/bench-results
BENCH_SMOKE ?=
BENCH_REPEAT ?= 1
.PHONY: bench
bench: install
	BENCH_OUT='$(BENCH_OUT)' BENCH_SMOKE='$(BENCH_SMOKE)' BENCH_REPEAT='$(BENCH_REPEAT)' \
		PG_CONFIG='$(PG_CONFIG)' $(srcdir)/test/bench/run.sh
