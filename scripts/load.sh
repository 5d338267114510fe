#!/usr/bin/env bash
# A bounded load run of a passport-protected route on loopback: a 3-link
# bundle (ancestors and leaf from the verifier's cache), a scope check,
# passport-axum; first with the bundle as a Bearer token, then bound to a
# key with a fresh single-use DPoP proof per request (proofs pre-signed by
# the server, handed out by scripts/load.lua). Count- and time-limited: wrk
# runs for DURATION seconds, the server exits on its own.
# Needs wrk (Debian package `wrk`); installs it when apt-get is available.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS=2
# Proofs for the DPoP run: more than the route can serve in DURATION.
PROOFS="${PROOFS:-$((DURATION * 25000))}"
if ! command -v wrk >/dev/null; then
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
cargo build --quiet --release -p passport-examples --example load_server
dir="$(mktemp -d)"
server=
trap 'rm -rf "$dir"; [ -z "$server" ] || kill "$server" 2>/dev/null || true' EXIT

start() {
    rm -f "$dir/url"
    target/release/examples/load_server "$dir/bundle.txt" $((DURATION + 30)) "$@" > "$dir/url" &
    server=$!
    for _ in $(seq 600); do [ -s "$dir/url" ] && break; sleep 0.1; done
    url="$(head -1 "$dir/url")"
}

echo "== Bearer =="
start
curl -fsS -H "Authorization: Bearer $(cat "$dir/bundle.txt")" "$url" > /dev/null
echo "load: $url, bundle $(wc -c < "$dir/bundle.txt") bytes, $CONNECTIONS connections, ${DURATION}s"
wrk -t$THREADS -c"$CONNECTIONS" -d"${DURATION}s" --latency \
    -H "Authorization: Bearer $(cat "$dir/bundle.txt")" "$url"
# A tampered bundle under load must still be refused.
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$dir/bundle.txt")x" "$url")
[ "$status" = 401 ] || { echo "tampered bundle answered $status"; exit 1; }
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true

echo "== DPoP (a fresh proof per request, $PROOFS pre-signed) =="
start --dpop "$PROOFS"
echo "load: $url, bundle $(wc -c < "$dir/bundle.txt") bytes, $CONNECTIONS connections, ${DURATION}s"
BUNDLE="$dir/bundle.txt" PROOFS="$dir/bundle.txt.proofs" THREADS=$THREADS \
    wrk -t$THREADS -c"$CONNECTIONS" -d"${DURATION}s" --latency -s scripts/load.lua "$url"
# A bound passport without its proof is refused.
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: DPoP $(cat "$dir/bundle.txt")" "$url")
[ "$status" = 400 ] || [ "$status" = 401 ] || { echo "a bound passport without a proof answered $status"; exit 1; }
