#!/usr/bin/env bash
# A bounded load run of the token service (passport-server) on loopback:
# examples/token_load_server starts it on 127.0.0.1:0 (its /token, /introspect
# and /revoke limits set to LOAD_RATE in
# crates/server/benches/load_fixture/mod.rs: a burst of
# 1,000,000, then 1,000,000 a second, per client and per address — no
# request of the run is limited), prepares three workload clients, a
# parent passport, one child and DISTINCT other children, and wrk runs
# for DURATION seconds per scenario (scripts/load-server.lua):
#   exchange              token exchange of the parent (bundle → child),
#                         each child's registry record durable before the
#                         answer
#   introspect_repeated   one child introspected again and again
#   introspect_distinct   DISTINCT children in turn
# then everything stops. wrk's own report (req/s, latency percentiles
# with --latency, non-2xx count) is printed for each.
#
#   scripts/load-server.sh                         # SQLite in a temp dir
#   DATABASE=postgres://… scripts/load-server.sh   # PostgreSQL
#     (e.g. DATABASE="$(PASSPORT_PG_STATE=/tmp/pg-perf scripts/postgres.sh start)")
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-32}"
DISTINCT="${DISTINCT:-20000}"
THREADS=2
SCENARIOS="${SCENARIOS:-exchange introspect_repeated introspect_distinct}"
command -v wrk >/dev/null || { echo "load-server.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }
features=()
db_args=()
if [ -n "${DATABASE:-}" ]; then
    features=(--features postgres)
    db_args=(--database "$DATABASE")
fi
cargo build --quiet --release -p passport-server "${features[@]}" --example token_load_server
dir="$(mktemp -d)"
server=
trap 'rm -rf "$dir"; [ -z "$server" ] || kill "$server" 2>/dev/null || true' EXIT
lifetime=$((DURATION * 4 + 120))
target/release/examples/token_load_server "$dir" "$lifetime" --distinct "$DISTINCT" "${db_args[@]}" > "$dir/url" &
server=$!
for _ in $(seq 1200); do [ -s "$dir/url" ] && break; sleep 0.1; done
url="$(head -1 "$dir/url")"
[ -n "$url" ] || { echo "load-server.sh: the server did not start" >&2; exit 1; }
echo "server: $url ($([ -n "${DATABASE:-}" ] && echo PostgreSQL || echo SQLite)), $CONNECTIONS connections, $THREADS wrk threads, ${DURATION}s per scenario, load $(cut -d' ' -f1-3 /proc/loadavg)"

run() {
    local name=$1 path=$2 auth=$3 body=$4
    echo "== $name =="
    AUTH="$dir/$auth" BODY="$dir/$body" THREADS=$THREADS \
        wrk -t$THREADS -c"$CONNECTIONS" -d"${DURATION}s" --latency \
        -s scripts/load-server.lua "$url$path"
}
for scenario in $SCENARIOS; do
    case "$scenario" in
        exchange) run exchange /token exchange.auth exchange.body ;;
        introspect_repeated) run introspect_repeated /introspect introspect.auth repeated.body ;;
        introspect_distinct) run "introspect_distinct ($DISTINCT passports)" /introspect introspect.auth distinct.bodies ;;
        *) echo "unknown scenario $scenario" >&2; exit 1 ;;
    esac
done
# still correct after the load: the repeated child is active
printf 'Authorization: %s\n' "$(cat "$dir/introspect.auth")" > "$dir/headers"
active=$(curl -fsS -H "@$dir/headers" --data-binary "@$dir/repeated.body" \
    -H 'Content-Type: application/x-www-form-urlencoded' "$url/introspect")
case "$active" in *'"active":true'*) ;; *) echo "after the load: $active" >&2; exit 1 ;; esac
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
