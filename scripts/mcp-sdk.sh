#!/usr/bin/env bash
# The official MCP Python SDK (`mcp` from PyPI), a client nobody here wrote,
# against our stack (issue 13, "Tests"):
#
#   passport-mock-oidc                     the upstream OpenID provider
#   passport serve --auto-consent          the token service (SQLite in a
#                                          temporary data directory)
#   examples/mcp_server --trust ISSUER     the example MCP server behind
#                                          passport-axum, trusting the token
#                                          service by URL
#   scripts/mcp_sdk_client.py MCP_URL      the SDK: discovery, dynamic
#                                          registration, code flow + PKCE,
#                                          a tool call, step-up, a refusal
#
# Everything binds 127.0.0.1 and stops when the script exits. The SDK is
# installed from PyPI into ${MCP_SDK_VENV:-target/mcp-sdk-venv} (once; later
# runs reuse it). Exits non-zero if any step fails.
set -euo pipefail

MCP_PACKAGE=mcp
MCP_VERSION=2.3.0
# The path of passport serve's upstream callback, which the mock provider
# must accept as the redirect URI's path.
CALLBACK_PATH=/authorize/callback

cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="${MCP_SDK_VENV:-target/mcp-sdk-venv}"

fail() {
    echo "mcp-sdk: FAILED: $*" >&2
    exit 1
}

python=${PYTHON:-python3}
command -v "$python" >/dev/null || fail "$python not found (Python >= 3.11 is required)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    fail "$("$python" --version 2>&1) is too old; the MCP SDK needs Python >= 3.11"
if [[ ! -x "$venv/bin/python" ]]; then
    echo "mcp-sdk: creating virtualenv $venv"
    "$python" -m venv "$venv" || fail "could not create the virtualenv $venv"
fi
vpy="$venv/bin/python"
installed=$("$vpy" -m pip show "$MCP_PACKAGE" 2>/dev/null | sed -n 's/^Version: //p' || true)
if [[ "$installed" != "$MCP_VERSION" ]]; then
    echo "mcp-sdk: installing $MCP_PACKAGE==$MCP_VERSION into $venv"
    "$vpy" -m pip install --quiet --disable-pip-version-check "$MCP_PACKAGE==$MCP_VERSION" ||
        fail "pip install $MCP_PACKAGE==$MCP_VERSION"
fi

echo "mcp-sdk: building passport, passport-mock-oidc and the example MCP server"
cargo build --quiet --locked -p passport-cli --bin passport -p passport-mock-oidc --bin passport-mock-oidc
cargo build --quiet --locked -p passport-examples --example mcp_server

dir=$(mktemp -d "${TMPDIR:-/tmp}/passport-mcp-sdk.XXXXXX")
pids=()
ok=0
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ $ok == 1 ]]; then
        rm -rf "$dir"
    else
        echo "mcp-sdk: logs kept in $dir" >&2
        tail -n 20 "$dir"/*.log >&2 2>/dev/null || true
    fi
}
trap cleanup EXIT

# Waits (at most 60 s) for a line matching $2 in file $1 and prints it.
first_line() {
    local file=$1 pattern=$2 line=""
    for _ in $(seq 1 600); do
        line=$(grep -m1 -E "$pattern" "$file" 2>/dev/null || true)
        [[ -n "$line" ]] && break
        sleep 0.1
    done
    [[ -n "$line" ]] || fail "no line matching '$pattern' in $file"
    printf '%s\n' "$line"
}

target/debug/passport-mock-oidc --port 0 --redirect-path "$CALLBACK_PATH" \
    >"$dir/mock.out" 2>"$dir/mock.log" &
pids+=($!)
discovery=$(first_line "$dir/mock.out" '^CSP_DISCOVERY_URL=' | cut -d= -f2-)
client_id=$(first_line "$dir/mock.out" '^CSP_CLIENT_ID=' | cut -d= -f2-)
echo "mcp-sdk: upstream provider $discovery"

mkdir -m 700 "$dir/home"
CSP_DISCOVERY_URL="$discovery" CSP_CLIENT_ID="$client_id" \
    target/debug/passport --data-dir "$dir/home" serve --listen 127.0.0.1:0 --auto-consent \
    --registration-scope files:read --registration-scope files:write \
    >"$dir/serve.out" 2>"$dir/serve.log" &
pids+=($!)
issuer=$(first_line "$dir/serve.out" '^https?://')
echo "mcp-sdk: token service $issuer"

target/debug/examples/mcp_server --trust "$issuer" >"$dir/mcp.out" 2>"$dir/mcp.log" &
pids+=($!)
mcp_url=$(first_line "$dir/mcp.out" '^MCP_URL=' | cut -d= -f2-)
echo "mcp-sdk: MCP server $mcp_url"

"$vpy" scripts/mcp_sdk_client.py "$mcp_url" || fail "the MCP Python SDK's run"
ok=1
echo "mcp-sdk: OK"
