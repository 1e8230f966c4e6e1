#!/usr/bin/env bash
# migguard's fuzzers, short bounded run (about 2 minutes): the DDL fuzzer in
# enforce and log mode, then the check()/explain() fuzzer; afterwards no
# crash, no guarded_ddl, no lock and no invalid index may be left.  The long
# run: test/fuzz/run.sh --long (see the README, "Fuzzing").
set -euo pipefail
top=${MIGGUARD_WORK:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/scripts/common.sh"
ensure_packages "postgresql-15 python3 python3-psycopg2"
exec "$top/test/fuzz/run.sh"
