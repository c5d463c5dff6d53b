#!/usr/bin/env bash
# Prepares PostgreSQL 15 with the pgvector extension for the vectorstore/pgvector tests.
#
# Idempotent and fast on a warm machine: it builds pgvector only when
# /usr/share/postgresql/15/extension/vector.control is missing, starts cluster
# 15/main only when it is down, and creates the semcache role and the
# semcache_test database only when absent. Progress goes to stderr; the last line
# on stdout is the DSN to export, e.g.
#
#   eval "export $(bash .ci/postgres.sh | tail -n1)"
#
# Debian bookworm has no pgvector binary package, so the source package of
# Debian trixie is fetched (a temporary deb-src entry, removed afterwards) and
# built against PostgreSQL 15; see shared/notes/pgvector.md.
set -euo pipefail

PG_VERSION=15
PG_CLUSTER=main
PG_PORT=5432
DB_ROLE=semcache
DB_PASSWORD=semcache
DB_NAME=semcache_test
VECTOR_CONTROL=/usr/share/postgresql/${PG_VERSION}/extension/vector.control
TRIXIE_SRC=/etc/apt/sources.list.d/semcache-trixie-src.sources

log() { printf 'postgres.sh: %s\n' "$*" >&2; }

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo -n)
	else
		log "must run as root (or with passwordless sudo)"
		exit 1
	fi
fi

as_root() { "${SUDO[@]}" "$@"; }
# as_postgres runs a command as the postgres OS user from a directory it can read.
as_postgres() { (cd /tmp && as_root runuser -u postgres -- "$@"); }
apt_get() { as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -q "$@"; }

install_pgvector() {
	log "building pgvector from the Debian trixie source package"
	apt_get update >&2
	if ! command -v pg_ctlcluster >/dev/null 2>&1 || [[ ! -x /usr/lib/postgresql/${PG_VERSION}/bin/postgres ]]; then
		apt_get install -y "postgresql-${PG_VERSION}" >&2
	fi
	apt_get install -y "postgresql-server-dev-${PG_VERSION}" build-essential >&2

	# A deb-src entry for trixie, derived from the machine's own first Debian stanza.
	trap 'as_root rm -f "$TRIXIE_SRC"' EXIT
	awk 'BEGIN{RS="";ORS="\n"} NR==1' /etc/apt/sources.list.d/debian.sources |
		sed -e 's/^Types: deb$/Types: deb-src/' -e 's/^Suites: .*/Suites: trixie/' |
		as_root tee "$TRIXIE_SRC" >/dev/null
	apt_get update >&2

	local work
	work=$(mktemp -d)
	(
		cd "$work"
		apt_get source --download-only pgvector >&2
		tar xzf pgvector_*.orig.tar.gz
		cd pgvector-*/
		make -j"$(nproc)" >&2
		as_root make install >&2
	)
	rm -rf "$work"

	as_root rm -f "$TRIXIE_SRC"
	trap - EXIT
	apt_get update >&2 # leave apt's lists as they were
}

ensure_cluster() {
	if ! pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1==v && $2==c {found=1} END {exit !found}'; then
		log "creating cluster ${PG_VERSION}/${PG_CLUSTER}"
		as_root pg_createcluster "$PG_VERSION" "$PG_CLUSTER" --port "$PG_PORT" >&2
	fi
	local status
	status=$(pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1==v && $2==c {print $4}')
	if [[ $status != online* ]]; then
		log "starting cluster ${PG_VERSION}/${PG_CLUSTER}"
		as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start >&2
	fi
	local i
	for i in $(seq 1 60); do
		if pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
			return 0
		fi
		sleep 0.5
	done
	log "cluster ${PG_VERSION}/${PG_CLUSTER} did not become ready on port ${PG_PORT}"
	exit 1
}

psql_admin() { as_postgres env PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@"; }

ensure_database() {
	psql_admin -d postgres >&2 <<-SQL
		DO \$\$
		BEGIN
		  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${DB_ROLE}') THEN
		    CREATE ROLE ${DB_ROLE} LOGIN PASSWORD '${DB_PASSWORD}';
		  END IF;
		END
		\$\$;
	SQL
	if [[ -z $(psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '${DB_NAME}'") ]]; then
		log "creating database ${DB_NAME}"
		as_postgres createdb -p "$PG_PORT" -O "$DB_ROLE" -E UTF8 -T template0 --locale=C.UTF-8 "$DB_NAME"
	fi
	psql_admin -d "$DB_NAME" -c 'CREATE EXTENSION IF NOT EXISTS vector' >&2
}

if [[ ! -f $VECTOR_CONTROL ]]; then
	install_pgvector
else
	log "pgvector already installed ($(awk -F"'" '/default_version/ {print $2}' "$VECTOR_CONTROL"))"
fi
ensure_cluster
ensure_database
log "ready"
echo "SEMCACHE_PG_DSN=postgres://${DB_ROLE}:${DB_PASSWORD}@127.0.0.1:${PG_PORT}/${DB_NAME}?sslmode=disable"
