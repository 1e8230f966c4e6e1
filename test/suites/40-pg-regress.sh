#!/usr/bin/env bash
# PostgreSQL's own regression suite, three runs on the installed server:
# without migguard, in log mode (must be identical), in enforce mode (only
# the differences in test/pg_regress_suite/enforce_differences.txt).  The
# source package and the suite's helper libraries are cached in
# /var/cache/migguard/pg15-regress.  About 4 minutes on 2 cores.
set -euo pipefail
top=${MIGGUARD_WORK:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/scripts/common.sh"
ensure_packages "build-essential postgresql-15 postgresql-server-dev-15 dpkg-dev xz-utils"
exec "$top/test/pg_regress_suite/run.sh"
