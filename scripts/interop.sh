#!/usr/bin/env bash
# Interop with the Python reference csp-agent-passport 0.2.1, both directions
# (SPEC §3: Rust passports verify with the reference's Verifier, and the
# reference's passports verify here under a policy that accepts untyped
# headers, §5 item 10).
#
#   1. Rust mints an EdDSA root and a 3-link chain   (examples/interop.rs mint)
#   2. the reference verifies them, then mints an RS256 root and chain
#                                                    (scripts/interop.py)
#   3. Rust verifies the reference's passports and shows the default policy
#      refuses them as untyped                        (examples/interop.rs verify)
#
# The reference is installed from PyPI into ${INTEROP_VENV:-target/interop-venv}
# (once; later runs reuse it). Any failing step fails the script.
set -euo pipefail

REF_PACKAGE=csp-agent-passport
REF_VERSION=0.2.1
# The OK lines the three steps print: 3 from Python, 3 from Rust.
EXPECTED_CHECKS=6

cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="${INTEROP_VENV:-target/interop-venv}"

fail() {
    echo "interop: FAILED: $*" >&2
    exit 1
}

python=${PYTHON:-python3}
command -v "$python" >/dev/null || fail "$python not found (Python >= 3.11 is required)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    fail "$("$python" --version 2>&1) is too old; $REF_PACKAGE needs Python >= 3.11"

if [[ ! -x "$venv/bin/python" ]]; then
    echo "interop: creating virtualenv $venv"
    "$python" -m venv "$venv" || fail "could not create the virtualenv $venv"
fi
vpy="$venv/bin/python"

installed=$("$vpy" -m pip show "$REF_PACKAGE" 2>/dev/null | sed -n 's/^Version: //p' || true)
if [[ "$installed" != "$REF_VERSION" ]]; then
    echo "interop: installing $REF_PACKAGE==$REF_VERSION into $venv"
    "$vpy" -m pip install --quiet --disable-pip-version-check "$REF_PACKAGE==$REF_VERSION" ||
        fail "pip install $REF_PACKAGE==$REF_VERSION"
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/passport-interop.XXXXXX")
log="$dir/interop.log"
ok=0
cleanup() {
    if [[ $ok == 1 ]]; then
        rm -rf "$dir"
    else
        echo "interop: artifacts kept in $dir" >&2
    fi
}
trap cleanup EXIT

# Runs one step, showing and logging its output; a failing step ends the script.
run_step() {
    local name=$1
    shift
    echo "== $name"
    if ! "$@" 2>&1 | tee -a "$log"; then
        fail "$name"
    fi
}

run_step "rust mints a root and a 3-link chain" \
    cargo run --quiet -p passport-examples --example interop -- mint "$dir"
run_step "python reference verifies them and mints its own" \
    "$vpy" scripts/interop.py "$dir"
run_step "rust verifies the python reference's passports" \
    cargo run --quiet -p passport-examples --example interop -- verify "$dir"

checks=$(grep -c '^OK ' "$log" || true)
[[ "$checks" == "$EXPECTED_CHECKS" ]] ||
    fail "expected $EXPECTED_CHECKS OK checks, saw $checks"
ok=1
echo "interop: $checks checks passed ($REF_PACKAGE $REF_VERSION, both directions)"
