#!/usr/bin/env bash
# The whole test suite, the token service's state included on both of its
# databases: starts a throwaway PostgreSQL cluster (scripts/postgres.sh,
# Debian's `postgresql` package), runs `cargo test --workspace` with
# passport-store's PostgreSQL support, and stops the cluster on exit.
#
#   scripts/test.sh [cargo test arguments...]
#
# Without the PostgreSQL server binaries the PostgreSQL tests fail and say
# so; PASSPORT_SKIP_POSTGRES=1 skips them explicitly instead.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${PASSPORT_SKIP_POSTGRES:-}" != 1 ] && [ -z "${PASSPORT_TEST_DATABASE_URL:-}" ]; then
    export PASSPORT_PG_STATE="${PASSPORT_PG_STATE:-$(mktemp -u /tmp/passport-postgres-test.XXXXXX)}"
    trap 'scripts/postgres.sh stop' EXIT
    PASSPORT_TEST_DATABASE_URL="$(scripts/postgres.sh start)"
    export PASSPORT_TEST_DATABASE_URL
    echo "PostgreSQL for the tests: $PASSPORT_TEST_DATABASE_URL"
fi
cargo test --workspace --features passport-store/postgres "$@"
