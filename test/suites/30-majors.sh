#!/usr/bin/env bash
# Suite 30-majors: migguard built and tested against other PostgreSQL
# majors, each built from Debian's source package into a cache outside the
# checkout (test/majors/build-pg.sh; /var/cache/migguard/pg-MAJOR, reused
# across runs).  15 is the core suite's (Debian's binary packages).
#
#   MG_MAJORS="13 18"   the majors that must pass (default)
#   MG_MAJORS_OPTIONAL="17"   tried too; "source not reachable" is a skip
#
# A first run builds PostgreSQL: about 4 min for 13 and 7 min for 18 on two
# cores; later runs only build migguard and test (about a minute each).
set -uo pipefail

top=${MIGGUARD_WORK:-$(cd "$(dirname "$0")/../.." && pwd)}
required=${MG_MAJORS:-13 18}
optional=${MG_MAJORS_OPTIONAL-17}

failed=""
passed=""
skipped=""
for major in $required $optional; do
	echo "=== PostgreSQL $major"
	t0=$(date +%s)
	"$top/test/majors/build-pg.sh" "$major"
	rc=$?
	secs=$(($(date +%s) - t0))
	case " $required " in *" $major "*) need=1 ;; *) need=0 ;; esac
	if [ $rc -eq 0 ]; then
		passed="$passed $major"
		echo "=== PostgreSQL $major: passed (${secs} s)"
	elif [ $need -eq 0 ] && { [ $rc -eq 2 ] || [ $rc -eq 3 ]; }; then
		skipped="$skipped $major"
		echo "=== PostgreSQL $major: skipped, not reachable (${secs} s)"
	else
		failed="$failed $major"
		echo "=== PostgreSQL $major: FAILED (${secs} s)"
	fi
done
echo "majors passed:${passed:- none}; skipped:${skipped:- none}; failed:${failed:- none}"
[ -z "$failed" ]
