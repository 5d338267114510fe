#!/usr/bin/env bash
# The whole test suite, the token service's state included on both of its
# databases: starts a throwaway PostgreSQL cluster (scripts/postgres.sh,
# Debian's `postgresql` package), runs `cargo test --workspace` with
# passport-store's PostgreSQL support, and stops the cluster on exit.
#
#   scripts/test.sh [cargo test arguments...]
#
# With the cluster, passport-server's suite then runs a second time with
# every test server's state on PostgreSQL (PASSPORT_SERVER_TEST_BACKEND):
# the token service is tested on both of its databases.
#
# The load-and-faults scenarios (crates/cli/tests/load_faults.rs: real
# `passport serve` processes, SIGKILL mid-run) are part of the first run:
# their SQLite scenarios always, their PostgreSQL one on this cluster.
#
# Without the PostgreSQL server binaries the PostgreSQL tests fail and say
# so; PASSPORT_SKIP_POSTGRES=1 skips them explicitly instead.
set -euo pipefail
cd "$(dirname "$0")/.."

own_cluster=
if [ "${PASSPORT_SKIP_POSTGRES:-}" != 1 ] && [ -z "${PASSPORT_TEST_DATABASE_URL:-}" ]; then
    export PASSPORT_PG_STATE="${PASSPORT_PG_STATE:-$(mktemp -u /tmp/passport-postgres-test.XXXXXX)}"
    # On a failure, the disk space and the cluster's size (it may be what
    # filled the disk), before the cluster is deleted.
    trap 'rc=$?; [ "$rc" -eq 0 ] || { df -h /tmp; du -sh "$(cat "$PASSPORT_PG_STATE")"; } >&2 2>/dev/null || true; scripts/postgres.sh stop' EXIT
    own_cluster=1
    PASSPORT_TEST_DATABASE_URL="$(scripts/postgres.sh start)"
    export PASSPORT_TEST_DATABASE_URL
    echo "PostgreSQL for the tests: $PASSPORT_TEST_DATABASE_URL"
fi
cargo test --workspace --features passport-store/postgres "$@"
if [ -n "${PASSPORT_TEST_DATABASE_URL:-}" ]; then
    # the first run's leftover databases (a few hundred MB) go first
    # (best effort: the second run does not depend on it)
    if [ -n "$own_cluster" ]; then
        scripts/postgres.sh drop-scratch || echo "test.sh: warning: scratch databases not dropped" >&2
    fi
    echo "passport-server's tests again, with its state on PostgreSQL"
    PASSPORT_SERVER_TEST_BACKEND=postgres \
        cargo test -p passport-server --features postgres "$@" --test server
    if [ -n "$own_cluster" ]; then
        echo "the test cluster's size at the end: $(du -sh "$(cat "$PASSPORT_PG_STATE")" | cut -f1)"
    fi
fi
