#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests of the token service's state
# (passport-store, feature `postgres`), with Debian's server binaries
# (`apt-get install postgresql`).
#
#   scripts/postgres.sh start   # initialise and start; prints the URL
#   scripts/postgres.sh url     # prints the URL of the running cluster
#   scripts/postgres.sh stop    # stop it and delete its directory
#   scripts/postgres.sh drop-scratch  # drop the tests' leftover databases
#
# The cluster lives in a temporary directory recorded in
# ${PASSPORT_PG_STATE:-/tmp/passport-postgres-$UID.dir}; it listens on
# 127.0.0.1 only, on a free port, with its socket in that directory, and
# trusts local connections (a test database, nothing else). PostgreSQL
# refuses to run as root, so as root the binaries run as the `postgres`
# user the Debian package creates.
#
# Typical use (what .ci/run does):
#   export PASSPORT_TEST_DATABASE_URL="$(scripts/postgres.sh start)"
#   cargo test -p passport-store --features postgres
#   scripts/postgres.sh stop
set -euo pipefail

state_file="${PASSPORT_PG_STATE:-/tmp/passport-postgres-$(id -u).dir}"

bindir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            echo "$d"
            return
        fi
    done
    echo "postgres.sh: no PostgreSQL server binaries under /usr/lib/postgresql/*/bin;" \
        "install them with: apt-get install postgresql" >&2
    exit 1
}

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

url_of() {
    echo "postgres://postgres@127.0.0.1:$(cat "$1/port")/postgres"
}

case "${1:-}" in
start)
    if [ -s "$state_file" ] && [ -f "$(cat "$state_file")/data/postmaster.pid" ]; then
        url_of "$(cat "$state_file")"
        exit 0
    fi
    bin="$(bindir)"
    dir="$(mktemp -d /tmp/passport-postgres.XXXXXX)"
    chmod 0755 "$dir"
    [ "$(id -u)" -ne 0 ] || chown postgres: "$dir"
    port="$(free_port)"
    echo "$port" > "$dir/port"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 \
        --no-instructions > "$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    # fsync stays on: the figures of docs/performance.md are durable ones.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-h 127.0.0.1 -p $port -k $dir -c max_connections=200" start > /dev/null || {
        cat "$dir/server.log" >&2
        exit 1
    }
    echo "$dir" > "$state_file"
    url_of "$dir"
    ;;
url)
    [ -s "$state_file" ] || { echo "postgres.sh: no cluster started (run: $0 start)" >&2; exit 1; }
    url_of "$(cat "$state_file")"
    ;;
stop)
    [ -s "$state_file" ] || exit 0
    dir="$(cat "$state_file")"
    if [ -d "$dir/data" ]; then
        as_owner "$(bindir)/pg_ctl" -D "$dir/data" -m fast -w stop > /dev/null 2>&1 || true
    fi
    case "$dir" in /tmp/passport-postgres.*) rm -rf "$dir" ;; esac
    rm -f "$state_file"
    ;;
drop-scratch)
    # Drops the tests' scratch databases (passport_test_<16 hex digits>,
    # made by Database::create_scratch_postgres_database) still on the
    # cluster: ~8 MB each, hundreds in a run. scripts/test.sh calls this
    # between its two runs.
    [ -s "$state_file" ] || { echo "postgres.sh: no cluster started (run: $0 start)" >&2; exit 1; }
    url="$(url_of "$(cat "$state_file")")"
    psql="$(bindir)/psql"
    [ -x "$psql" ] || psql=psql
    # -X: a user's ~/.psqlrc (\timing, say) must not add lines to the names
    names="$("$psql" -X "$url" -Atqc \
        "SELECT datname FROM pg_database WHERE datname ~ '^passport_test_[0-9a-f]{16}\$'")"
    for name in $names; do
        "$psql" -X "$url" -qc "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" > /dev/null
    done
    echo "dropped $(printf '%s\n' $names | grep -c . || true) scratch databases" >&2
    ;;
*)
    echo "usage: $0 start|stop|url|drop-scratch" >&2
    exit 2
    ;;
esac
