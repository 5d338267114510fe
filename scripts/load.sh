#!/usr/bin/env bash
# A bounded load run of a passport-protected route on loopback (issue 6):
# 3-link bundle, ancestors cached, scope check, passport-axum. Count- and
# time-limited: wrk runs for DURATION seconds, the server exits on its own.
# Needs wrk (Debian package `wrk`); installs it when apt-get is available.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-16}"
if ! command -v wrk >/dev/null; then
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
cargo build --quiet --release -p passport-examples --example load_server
dir="$(mktemp -d)"
trap 'rm -rf "$dir"; kill "$server" 2>/dev/null || true' EXIT
target/release/examples/load_server "$dir/bundle.txt" $((DURATION + 10)) > "$dir/url" &
server=$!
for _ in $(seq 50); do [ -s "$dir/url" ] && break; sleep 0.1; done
url="$(head -1 "$dir/url")"
curl -fsS -H "Authorization: Bearer $(cat "$dir/bundle.txt")" "$url" > /dev/null
echo "load: $url, bundle $(wc -c < "$dir/bundle.txt") bytes, $CONNECTIONS connections, ${DURATION}s"
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency \
    -H "Authorization: Bearer $(cat "$dir/bundle.txt")" "$url"
# A wrong audience under load must still be refused.
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$dir/bundle.txt")x" "$url")
[ "$status" = 401 ] || { echo "tampered bundle answered $status"; exit 1; }
