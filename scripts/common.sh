# Shared by scripts/demo and scripts/test: packages, the build, the OS user.
# shellcheck shell=bash

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PG_USER=${PG_USER:-postgres}
PACKAGES="build-essential postgresql-15 postgresql-server-dev-15 postgresql-contrib libipc-run-perl"

# Install what is missing (as root), without letting Debian create and
# start a cluster of its own.
ensure_packages() {
	local PACKAGES=${1:-$PACKAGES}
	local missing=()
	local p
	for p in $PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages: ${missing[*]} (run as root to install them)" >&2
		exit 1
	fi
	mkdir -p /etc/postgresql-common/createcluster.d
	echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/migguard.conf
	echo "installing: ${missing[*]}"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
}

# Run a command as the unprivileged OS user that owns the test servers.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$PG_USER" -- "$@"
	else
		"$@"
	fi
}

# Build with warnings as errors, then install (the install needs root on
# Debian's system paths).
build_and_install() {
	local dir=$1
	as_pg make -C "$dir" -s PG_CONFIG="$PG_CONFIG" COPT=-Werror
	if [ "$(id -u)" -eq 0 ]; then
		make -C "$dir" -s PG_CONFIG="$PG_CONFIG" install
	else
		make -C "$dir" -s PG_CONFIG="$PG_CONFIG" install 2>/dev/null ||
			sudo make -C "$dir" -s PG_CONFIG="$PG_CONFIG" install
	fi
}
