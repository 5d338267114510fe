#!/usr/bin/env bash
# Memory per million registry rows: what a registry of ROWS passports costs
# the database on disk and the token service in memory.
#
#   scripts/registry-memory.sh                         # SQLite in a temp dir
#   DATABASE=postgres://… scripts/registry-memory.sh   # a fresh PostgreSQL database
#
# 1. examples/token_load_server starts on the database (its schema, three
#    clients, DISTINCT real passports); its RSS is read (/proc/PID/status,
#    VmRSS) after a distinct-introspection wrk run.
# 2. It stops; ROWS registry rows are inserted with SQL (sqlite3 / psql):
#    one issuer's passports, 1 in 100 revoked, each with its own status
#    index (and the index's allocation, as the server's allocator records
#    it), so the served status list covers them all.
# 3. It starts again on the grown database (`--join`: the same issuer
#    name, the same clients): the database's size on disk
#    (the SQLite file and its WAL; pg_database_size), the server's RSS
#    after start, after the same wrk run, and after fetching the status
#    list FETCHES times (the first builds and signs it, the others get the
#    kept list: nothing changed in between), with the
#    time of one fetch and the list token's size.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${ROWS:-1000000}"
DISTINCT="${DISTINCT:-20000}"
DURATION="${DURATION:-5}"
FETCHES="${FETCHES:-5}"
command -v wrk >/dev/null || { echo "registry-memory.sh: needs wrk" >&2; exit 1; }
# SKIP_BUILD=1: the release examples already built are used as they are
[ "${SKIP_BUILD:-}" = 1 ] || cargo build --quiet --release -p passport-server --features postgres --example token_load_server
dir="$(mktemp -d)"
server=
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
if [ -n "${DATABASE:-}" ]; then
    db="$DATABASE"
    command -v psql >/dev/null || { echo "registry-memory.sh: needs psql" >&2; exit 1; }
    sql() { psql -q -v ON_ERROR_STOP=1 "$DATABASE" -c "$1"; }
    size() { psql -tA "$DATABASE" -c "SELECT pg_database_size(current_database())"; }
else
    db="$dir/server.db"
    command -v sqlite3 >/dev/null || { echo "registry-memory.sh: needs sqlite3" >&2; exit 1; }
    sql() { sqlite3 "$db" "$1"; }
    size() { du -cb "$db"* | tail -1 | cut -f1; }
fi
rss() { awk '/^VmRSS/ {print $2 " kB"}' "/proc/$server/status"; }

start() {
    : > "$dir/url"
    target/release/examples/token_load_server "$dir" 3600 "$@" --database "$db" > "$dir/url" &
    server=$!
    for _ in $(seq 1200); do [ -s "$dir/url" ] && break; sleep 0.1; done
    url="$(head -1 "$dir/url")"
    [ -n "$url" ] || { echo "registry-memory.sh: the server did not start" >&2; exit 1; }
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=; }
distinct_run() {
    AUTH="$dir/introspect.auth" BODY="$dir/distinct.bodies" THREADS=2 \
        wrk -t2 -c16 -d"${DURATION}s" -s scripts/load-server.lua "$url/introspect" \
        | awk '/^Requests\/sec/ {print $2 " introspections/s"}'
}

start --distinct "$DISTINCT"
echo "before: $(size) bytes on disk; server RSS $(rss) after start"
echo "  distinct run: $(distinct_run); RSS $(rss)"
issuer="$url"
stop

echo "inserting $ROWS registry rows ..."
t0=$(date +%s)
now=$(date +%s)
uri="$issuer/status/1"
# indices above the list's first 2^16 (where the allocator drew the real ones)
base=65536
if [ -n "${DATABASE:-}" ]; then
    series="generate_series(0, $ROWS - 1) AS i"
    concat="'bulk-' || i"
else
    series="(WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $ROWS) SELECT i FROM n)"
    concat="'bulk-' || i"
fi
sql "BEGIN;
INSERT INTO registry (jti, parent_jti, client_id, agent_id, principal, audience, scopes, iat, exp,
                      kid, status_uri, status_idx, state, revoked_at, revoked_reason, created_at)
SELECT $concat, NULL, 'bulk', 'bulk', 'alice', 'https://tools.example/mcp', 'files:read', $now,
       $now + 900, 'bulk', '$uri', $base + i,
       CASE WHEN i % 100 = 0 THEN 'revoked' ELSE 'active' END,
       CASE WHEN i % 100 = 0 THEN $now END,
       CASE WHEN i % 100 = 0 THEN 'direct' END, $now
FROM $series;
INSERT INTO status_index (uri, idx) SELECT '$uri', $base + i FROM $series;
UPDATE status_allocation SET next_idx = next_idx + $ROWS WHERE uri = '$uri';
COMMIT;"
[ -z "${DATABASE:-}" ] || sql "VACUUM ANALYZE registry"
echo "  inserted in $(($(date +%s) - t0)) s"

# under the same issuer name (the rows' status list URI), with the
# clients and passports of the first start
start --join "$issuer"
echo "after: $(size) bytes on disk; server RSS $(rss) after start"
echo "  distinct run: $(distinct_run); RSS $(rss)"
for _ in $(seq "$FETCHES"); do
    curl -fsS -o "$dir/list" -w '%{time_total}\n' "$url/status/1" >> "$dir/times"
done
first="$(head -1 "$dir/times")"
later="$(tail -n +2 "$dir/times" | sort -n)"
echo "  status list: $(wc -c < "$dir/list") bytes, first fetch $first s, then $(echo "$later" | head -1)–$(echo "$later" | tail -1) s; RSS $(rss)"
stop
