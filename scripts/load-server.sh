#!/usr/bin/env bash
# A bounded load run of the token service (passport-server) on loopback:
# examples/token_load_server starts it on 127.0.0.1:0 (its /token, /introspect
# and /revoke limits set to LOAD_RATE in
# crates/server/benches/load_fixture/mod.rs: a burst of
# 1,000,000, then 1,000,000 a second, per client and per address — no
# request of the run is limited), prepares three workload clients, a
# parent passport, one child and DISTINCT other children, and wrk runs
# for DURATION seconds per scenario and load level (scripts/load-server.lua):
#   exchange              token exchange of the parent (bundle → child),
#                         each child's registry record durable before the
#                         answer
#   introspect_repeated   one child introspected again and again
#   introspect_distinct   DISTINCT children in turn
#   propagation           not wrk: examples/revocation_propagation, ROUNDS
#                         times — from a 200 on /revoke (at the last
#                         instance) to the first instance's served status
#                         list showing the bit, and to a status-list
#                         verifier refusing (its list cached for
#                         STATUS_TTL seconds)
# then everything stops. For each scenario and each CONNECTIONS level one
# summary line: requests/s (summed over the instances) and wrk's p50 and
# p99 latency (per instance with two). VERBOSE=1 prints wrk's reports too.
#
#   scripts/load-server.sh                         # SQLite in a temp dir
#   DATABASE=postgres://… scripts/load-server.sh   # PostgreSQL
#     (e.g. DATABASE="$(PASSPORT_PG_STATE=/tmp/pg-perf scripts/postgres.sh start)")
#   INSTANCES=2 scripts/load-server.sh             # two instances, one database,
#     one issuer name; wrk's connections split between them
#   CONNECTIONS="4 16 64" DURATION=10 SCENARIOS="exchange propagation" ...
#   BIN=/tmp/before SKIP_BUILD=1 ...   # examples built elsewhere (a before/after)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-4 16 64}"
DISTINCT="${DISTINCT:-20000}"
INSTANCES="${INSTANCES:-1}"
STATUS_TTL="${STATUS_TTL:-1}"
ROUNDS="${ROUNDS:-20}"
SCENARIOS="${SCENARIOS:-exchange introspect_repeated introspect_distinct propagation}"
BIN="${BIN:-target/release/examples}"
case "$INSTANCES" in 1 | 2) ;; *) echo "load-server.sh: INSTANCES is 1 or 2" >&2; exit 1 ;; esac
command -v wrk >/dev/null || { echo "load-server.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }
# one build for both databases (PostgreSQL support costs SQLite nothing)
features=(--features postgres)
db_args=()
dir="$(mktemp -d)"
if [ -n "${DATABASE:-}" ]; then
    db_args=(--database "$DATABASE")
else
    # both instances on the first one's SQLite file
    db_args=(--database "$dir/server.db")
fi
# SKIP_BUILD=1: the release examples already built are used as they are
[ "${SKIP_BUILD:-}" = 1 ] || cargo build --quiet --release -p passport-server "${features[@]}" \
    --example token_load_server --example revocation_propagation
servers=()
cleanup() {
    for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT
count=0
for _ in $SCENARIOS; do count=$((count + 1)); done
levels=0
for _ in $CONNECTIONS; do levels=$((levels + 1)); done
lifetime=$((count * levels * (DURATION + 5) + ROUNDS * (STATUS_TTL + 2) + 120))

# waits for the first line (the URL) of $1
url_of() {
    for _ in $(seq 1200); do [ -s "$1" ] && break; sleep 0.1; done
    head -1 "$1"
}
"$BIN"/token_load_server "$dir" "$lifetime" --distinct "$DISTINCT" \
    --status-ttl "$STATUS_TTL" "${db_args[@]}" > "$dir/url.0" &
servers+=($!)
urls=("$(url_of "$dir/url.0")")
[ -n "${urls[0]}" ] || { echo "load-server.sh: the server did not start" >&2; exit 1; }
if [ "$INSTANCES" = 2 ]; then
    "$BIN"/token_load_server "$dir" "$lifetime" --join "${urls[0]}" \
        --status-ttl "$STATUS_TTL" "${db_args[@]}" > "$dir/url.1" &
    servers+=($!)
    urls+=("$(url_of "$dir/url.1")")
    [ -n "${urls[1]}" ] || { echo "load-server.sh: the second instance did not start" >&2; exit 1; }
fi
echo "servers: ${urls[*]} ($([ -n "${DATABASE:-}" ] && echo PostgreSQL || echo SQLite), issuer ${urls[0]}), connections ${CONNECTIONS// //}, ${DURATION}s per run, load $(cut -d' ' -f1-3 /proc/loadavg)"

# wrk's figures from its report $1: "req/s p50 p99"
figures() {
    awk '/^ *50%/ {p50=$2} /^ *99%/ {p99=$2} /^Requests\/sec:/ {rps=$2}
         /Non-2xx/ {bad=$NF} END {printf "%s %s %s %s", rps, p50, p99, bad+0}' "$1"
}

run() {
    local name=$1 path=$2 auth=$3 body=$4 connections=$5
    local per=$((connections / INSTANCES)) threads=2 i pids=()
    [ "$per" -ge 2 ] || per=2
    for i in "${!urls[@]}"; do
        AUTH="$dir/$auth" BODY="$dir/$body" THREADS=$threads \
            wrk -t$threads -c"$per" -d"${DURATION}s" --latency \
            -s scripts/load-server.lua "${urls[$i]}$path" > "$dir/wrk.$i" &
        pids+=($!)
    done
    wait "${pids[@]}"
    local total=0 detail="" bad=0
    for i in "${!urls[@]}"; do
        [ "${VERBOSE:-}" != 1 ] || cat "$dir/wrk.$i"
        read -r rps p50 p99 non2xx <<< "$(figures "$dir/wrk.$i")"
        total=$(awk -v a="$total" -v b="$rps" 'BEGIN {printf "%.0f", a + b}')
        detail="$detail p50 $p50 p99 $p99;"
        bad=$((bad + non2xx))
    done
    printf '%-22s c=%-3s instances=%s %8s req/s  %s non-2xx %s\n' \
        "$name" "$connections" "$INSTANCES" "$total" "$detail" "$bad"
}

for scenario in $SCENARIOS; do
    for c in $CONNECTIONS; do
        case "$scenario" in
            exchange) run exchange /token exchange.auth exchange.body "$c" ;;
            introspect_repeated) run introspect_repeated /introspect introspect.auth repeated.body "$c" ;;
            introspect_distinct) run "introspect_distinct" /introspect introspect.auth distinct.bodies "$c" ;;
            propagation) ;;
            *) echo "unknown scenario $scenario" >&2; exit 1 ;;
        esac
    done
    if [ "$scenario" = propagation ]; then
        echo "propagation (status list ttl ${STATUS_TTL}s, revoked at ${urls[-1]}, read at ${urls[0]}):"
        "$BIN"/revocation_propagation "$dir" "$ROUNDS" "${urls[@]}"
    fi
done
# still correct after the load: the repeated child is active on every instance
printf 'Authorization: %s\n' "$(cat "$dir/introspect.auth")" > "$dir/headers"
for url in "${urls[@]}"; do
    active=$(curl -fsS -H "@$dir/headers" --data-binary "@$dir/repeated.body" \
        -H 'Content-Type: application/x-www-form-urlencoded' "$url/introspect")
    case "$active" in *'"active":true'*) ;; *) echo "after the load, $url: $active" >&2; exit 1 ;; esac
done
for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
servers=()
