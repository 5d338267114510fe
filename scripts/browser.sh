#!/usr/bin/env bash
# The dashboard in a real browser (issue 14): Debian's Chromium driven by
# playwright-core from npm (pinned in scripts/browser/package-lock.json; no
# browser download ever), against a hermetic server
# (crates/server/examples/admin_dashboard.rs: the mock provider with several
# users and passport-server on 127.0.0.1 governed by the reference's
# dev/test/prod policy, two registered agents). The steps follow the
# reference's pipeline (scripts/browser/dashboard.mjs). Screenshots go to
# target/browser-artifacts/. Every step is bounded; whatever this starts is
# stopped when it exits.
set -euo pipefail
cd "$(dirname "$0")/.."

artifacts=target/browser-artifacts
rm -rf "$artifacts"
mkdir -p "$artifacts"

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
    echo "installing ${missing[*]}"
    timeout 300 "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 900 "${sudo[@]}" apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
fi
/usr/bin/chromium --version

# playwright-core only: its install step downloads nothing, and this says so
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
(cd scripts/browser && timeout 300 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)

timeout 900 cargo build --locked -q -p passport-server --example admin_dashboard

work=$(mktemp -d)
chmod 700 "$work"
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# the fixture serves until its stdin closes: a FIFO held open by this shell
mkfifo "$work/stdin"
target/debug/examples/admin_dashboard "$work/env" <"$work/stdin" 2>"$artifacts/server.log" &
server_pid=$!
exec 9>"$work/stdin"
for _ in $(seq 100); do
    [ -s "$work/env" ] && grep -q '^AGENT_B_SECRET=' "$work/env" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$artifacts/server.log" >&2; exit 1; }
    sleep 0.2
done
grep -q '^AGENT_B_SECRET=' "$work/env" || { echo "the server did not start" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
. "$work/env"
set +a
export ARTIFACTS="$PWD/$artifacts"

NODE_PATH="$PWD/scripts/browser/node_modules" timeout 300 node scripts/browser/dashboard.mjs
