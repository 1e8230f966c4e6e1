#!/usr/bin/env bash
# PostgreSQL's own regression suite against migguard.
#
# Runs src/test/regress/parallel_schedule of Debian's postgresql-15 source
# package (fetched and cached by fetch.sh) three times against the same
# installed server (PG_CONFIG), each on a fresh copy of one initdb:
#
#   none     migguard not loaded
#   log      shared_preload_libraries = 'migguard', migguard.mode = log
#   enforce  shared_preload_libraries = 'migguard', migguard.mode = enforce
#
# and compares the results test by test (results/NAME.out), never with the
# suite's expected files (their minor version differs from the server's).
#
#   log vs none      any difference fails: the test and its diff are printed
#   enforce vs none  the differing tests must be exactly those listed in
#                    enforce_differences.txt (one "test  reason" a line)
#   every run        no "terminated by signal", PANIC or TRAP in the log
#
# Run as root (it runs the servers as PG_USER).  Exits non-zero on failure.
#
#   PG_CONFIG=... test/pg_regress_suite/run.sh            the three runs
#   MG_REGRESS_MODES="none log" ...                       only these runs
#   MG_REGRESS_SCHEDULE=FILE ...                          another schedule
#   MG_REGRESS_VALGRIND=1 ...                             the servers under
#       valgrind with PostgreSQL's suppressions (slow: see the README)
#   MG_REGRESS_WORK=DIR ...                               keep results there
#   MG_REGRESS_WORK=DIR MG_REGRESS_COMPARE_ONLY=1 ...     compare again only
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PG_USER=${PG_USER:-postgres}
modes=${MG_REGRESS_MODES:-none log enforce}
export PG_CONFIG

as_pg() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

src=$("$here/fetch.sh")
cache=${MG_PGREGRESS_CACHE:-/var/cache/migguard/pg15-regress}
regress=$src/src/test/regress
schedule=${MG_REGRESS_SCHEDULE:-$regress/parallel_schedule}
bindir=$($PG_CONFIG --bindir)
pg_regress=$($PG_CONFIG --pkglibdir)/pgxs/src/test/regress/pg_regress

work=${MG_REGRESS_WORK:-$(mktemp -d /tmp/migguard-pgregress.XXXXXX)}
mkdir -p "$work"
chown "$PG_USER" "$work"
chmod 755 "$work"
sock=$work/sock
as_pg mkdir -p "$sock"
port=$((20000 + $$ % 20000))
echo "pg_regress suite: $($PG_CONFIG --version), suite of $(basename "$src"), in $work"

running=""
stop_server() {
	[ -n "$running" ] || return 0
	# under valgrind a fast stop lets every process write its report
	as_pg "$bindir/pg_ctl" -D "$running" -m "$([ -n "${MG_REGRESS_VALGRIND:-}" ] && echo fast || echo immediate)" \
		-w -t 600 stop >/dev/null 2>&1 || true
	running=""
}
trap stop_server EXIT

[ -n "${MG_REGRESS_COMPARE_ONLY:-}" ] || as_pg "$bindir/initdb" -D "$work/template" -A trust -U postgres --no-sync \
	--no-locale -E UTF8 >"$work/initdb.log" 2>&1

run_mode() {
	local mode=$1
	local data=$work/data_$mode out=$work/out_$mode
	rm -rf "$data" "$out"
	as_pg cp -a "$work/template" "$data"
	as_pg mkdir -p "$out"
	{
		echo "port = $port"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$sock'"
		echo "fsync = off"
		echo "max_prepared_transactions = 2"
		echo "log_line_prefix = '%m [%p] %q%a '"
		echo "log_min_messages = log"
		if [ "$mode" != none ]; then
			echo "shared_preload_libraries = 'migguard'"
			echo "migguard.mode = $mode"
		fi
	} | as_pg tee -a "$data/postgresql.conf" >/dev/null
	local pgctl=("$bindir/pg_ctl" -D "$data" -l "$out/server.log" -w -t 600)
	if [ -n "${MG_REGRESS_VALGRIND:-}" ]; then
		# the postmaster and every backend under valgrind: pg_ctl -p
		# cannot add a wrapper, so start the postmaster by hand
		as_pg bash -c "valgrind --quiet --trace-children=yes --track-origins=yes \
			--read-var-info=yes --error-markers=VALGRINDERROR-BEGIN,VALGRINDERROR-END \
			--suppressions='$src/src/tools/valgrind.supp' --log-file='$out/valgrind.%p.log' \
			'$bindir/postgres' -D '$data' >'$out/server.log' 2>&1 &"
		local i
		for i in $(seq 1 600); do
			"$bindir/pg_isready" -q -h "$sock" -p "$port" && break
			sleep 1
		done
	else
		as_pg "${pgctl[@]}" start >/dev/null
	fi
	running=$data
	local t0
	t0=$(date +%s)
	# pg_regress fails on every difference from the suite's own expected
	# files (another minor version): its status is not ours
	as_pg "$pg_regress" --inputdir="$regress" --outputdir="$out" \
		--bindir="$bindir" --dlpath="$cache/lib" --schedule="$schedule" \
		--host="$sock" --port="$port" --max-connections=20 \
		>"$out/pg_regress.log" 2>&1 || true
	echo "run $mode: $(grep -cE ' \.\.\. ' "$out/pg_regress.log" || true) tests in" \
		"$(($(date +%s) - t0)) s ($(grep -cE ' \.\.\. (FAILED|failed)' "$out/pg_regress.log" || true)" \
		"differ from the suite's expected files)"
	stop_server
	rm -rf "$data"	# the results and the server log stay in $out
}

if [ -z "${MG_REGRESS_COMPARE_ONLY:-}" ]; then
	for mode in $modes; do
		run_mode "$mode"
	done
fi

# the tests of the schedule, in order
tests=$(sed -n 's/^test: *//p' "$schedule" | tr ' ' '\n' | grep -v '^$')
failed=0

# a valgrind frame in migguard's code: "(guard.c:204)"
mg_frames="[(]($(cd "$here/../../src" && ls *.c | sed 's/\.c$//' | paste -sd '|'))[.]c:[0-9]+[)]"

check_log() {
	local mode=$1 log=$work/out_$1/server.log
	if grep -nE 'terminated by signal|PANIC|TRAP:|server process .* was terminated' "$log"; then
		echo "FAIL: run $mode: a server process crashed (log: $log)"
		failed=1
	fi
	if [ -n "${MG_REGRESS_VALGRIND:-}" ]; then
		# Debian's postgres is stripped: PostgreSQL's suppressions name
		# static functions that show up as "???", so its known writes of
		# padding bytes (WAL, the relcache init file, ...) are reported
		# anyway.  Ours: any other kind of report whose innermost frame
		# (outside libc) or whose uninitialised value's origin is migguard.
		awk '
			function frame_is_ours(line) { return index(line, "migguard.so") || match(line, files) }
			/VALGRINDERROR-BEGIN/ { b = 1; kind = ""; mg = 0; top = 0; origin = 0; text = ""; next }
			/VALGRINDERROR-END/ {
				b = 0; total++
				if (mg && kind !~ /^Syscall param (p?write|pwrite64)/) { ours++; printf "%s", text > "/dev/stderr" }
				next
			}
			b { text = text $0 "\n"
				if (kind == "" && match($0, /== [A-Z].*/)) { kind = substr($0, RSTART + 3); next }
				if ($0 ~ /was created by/) { origin = 1; next }
				if ($0 !~ /== +(at|by) 0x/) next
				# the innermost frame outside libc and valgrind, and the
				# frame that allocated an uninitialised value
				if (!top && $0 !~ /vgpreload|\/libc|\.\.\/sysdeps|ld-linux|fileops\.c|genops\.c|iofwrite\.c|filedoalloc\.c|write\.c|pwrite64\.c/) {
					top = 1; if (frame_is_ours($0)) mg = 1
				}
				if (origin == 1) { origin = 2; if (frame_is_ours($0)) mg = 1 }
			}
			END { printf "%d %d\n", total, ours }' files="$mg_frames" "$work/out_$mode"/valgrind.*.log \
			>"$work/out_$mode/valgrind.count" 2>"$work/out_$mode/valgrind.migguard"
		local total ours
		read -r total ours <"$work/out_$mode/valgrind.count"
		echo "run $mode: valgrind: $total reports, $ours in migguard (these in $work/out_$mode/valgrind.migguard)"
		[ "$ours" -eq 0 ] || { head -n 80 "$work/out_$mode/valgrind.migguard"; failed=1; }
	fi
}

# differing tests between run $1 and run $2, their diffs in $work/$2.diffs
differing() {
	local a=$work/out_$1/results b=$work/out_$2/results t
	: >"$work/$2.diffs"
	for t in $tests; do
		if [ ! -f "$a/$t.out" ] || [ ! -f "$b/$t.out" ]; then
			echo "$t"
			echo "=== $t: no results in one of the runs" >>"$work/$2.diffs"
		elif ! cmp -s "$a/$t.out" "$b/$t.out"; then
			echo "$t"
			{
				echo "=== $t"
				diff -u "$a/$t.out" "$b/$t.out" || true
			} >>"$work/$2.diffs"
		fi
	done
}

for mode in $modes; do
	check_log "$mode"
done

case " $modes " in *" none "*) ;; *) echo "no run without migguard to compare with"; exit $failed ;; esac

if [[ " $modes " == *" log "* ]]; then
	log_diff=$(differing none log)
	if [ -n "$log_diff" ]; then
		echo "FAIL: in log mode these tests differ from the run without migguard:"
		echo "$log_diff" | sed 's/^/  /'
		cat "$work/log.diffs"
		failed=1
	else
		echo "log mode: all $(echo "$tests" | wc -l) tests identical to the run without migguard"
	fi
fi

# one line per differing test: "test kind rules", kind "warn" when the diff
# is nothing but migguard's WARNING/DETAIL/HINT lines, else "reject"; rules
# are those named in the added lines ("Rule: x."), comma-separated, or "-"
classify() {
	awk '
	function flush() {
		if (t == "") return
		r = ""
		n = asorted(rules)
		printf "%s %s %s\n", t, (other ? "reject" : "warn"), (r == "" ? "-" : r)
	}
	function asorted(a,    k, m, i, j, tmp, keys) {
		m = 0
		for (k in a) keys[++m] = k
		for (i = 2; i <= m; i++)
			for (j = i; j > 1 && keys[j - 1] > keys[j]; j--) {
				tmp = keys[j]; keys[j] = keys[j - 1]; keys[j - 1] = tmp
			}
		for (i = 1; i <= m; i++) r = r (i > 1 ? "," : "") keys[i]
		return m
	}
	/^=== / { flush(); t = $2; other = 0; split("", rules); next }
	/^(---|\+\+\+|@@) / { next }
	/^[-+]/ {
		if (match($0, /Rule: [a-z_]+/)) rules[substr($0, RSTART + 6, RLENGTH - 6)] = 1
		if ($0 !~ /^\+(WARNING|DETAIL|HINT):  /) other = 1
	}
	END { flush() }' "$1"
}

if [[ " $modes " == *" enforce "* ]]; then
	differing none enforce >/dev/null
	classify "$work/enforce.diffs" >"$work/enforce.classes"
	list=$here/enforce_differences.txt
	echo "enforce mode: $(wc -l <"$work/enforce.classes") tests differ from the run without migguard" \
		"($(grep -c ' warn ' "$work/enforce.classes" || true) only by migguard's warnings)"
	# draft of a new list, with the reasons of the committed one
	while read -r t kind rules; do
		reason=$(awk -v t="$t" '$1 == t { $1 = $2 = $3 = ""; sub(/^ +/, ""); print; exit }' "$list")
		printf '%-24s %-7s %-40s %s\n' "$t" "$kind" "$rules" "${reason:-REASON?}"
	done <"$work/enforce.classes" >"$work/enforce_differences.draft"
	while read -r t kind rules; do
		want=$(awk -v t="$t" '$1 == t { print $2, $3; exit }' "$list")
		case "$want" in
			"") echo "FAIL: enforce: $t differs ($kind: $rules) and is not in enforce_differences.txt"
				awk -v t="=== $t" '$0 == t {p = 1; print; next} /^=== / {p = 0} p' "$work/enforce.diffs"
				failed=1 ;;
			"maybe $rules") ;;	# timing decides whether it differs
			"$kind $rules") ;;
			*) echo "FAIL: enforce: $t differs as \"$kind $rules\", the list says \"$want\""
				awk -v t="=== $t" '$0 == t {p = 1; print; next} /^=== / {p = 0} p' "$work/enforce.diffs"
				failed=1 ;;
		esac
	done <"$work/enforce.classes"
	for t in $(grep -vE '^\s*(#|$)' "$list" | awk '$2 != "maybe" { print $1 }'); do
		grep -q "^$t " "$work/enforce.classes" ||
			{ echo "FAIL: enforce: $t is in enforce_differences.txt but no longer differs"; failed=1; }
	done
	echo "(enforce diffs in $work/enforce.diffs, a draft list in $work/enforce_differences.draft)"
fi

if [ "$failed" -ne 0 ]; then
	echo "pg_regress suite: FAILED (files in $work)"
	exit 1
fi
echo "pg_regress suite: passed"
