#!/usr/bin/env bash
# Runs the README's shell walk-throughs as written, so the README cannot rot.
#
#   scripts/readme.sh [--readme FILE] [--timeout SECONDS] [--no-build] [--verbose] [--list] [NAME...]
#   scripts/readme.sh --self-test
#
# A walk-through is a ```sh block preceded by a marker comment, which may list
# lines its standard output must contain (each exactly, as a whole line):
#
#   <!-- readme-test: revocation
#   expect: child accepted
#   -->
#   ```sh
#   ...
#   ```
#
# Unmarked blocks (snippets, the quickstart) are never run. Each marked block
# (or only the NAMEs given) runs
#   - from the repository root, as the README tells its reader to paste it,
#     with `bash -e -o pipefail`, so any command that fails fails the block;
#   - in a clean environment: only PATH (the built binaries first) and the
#     toolchain's variables pass through; HOME, TMPDIR and XDG_DATA_HOME point
#     into a fresh temporary directory, so no CSP_* or AGENT_PASSPORT_* setting
#     or data directory of the machine leaks in;
#   - bounded in time (--timeout, default 180 s); whatever it left running
#     (a backgrounded mock provider) is stopped afterwards.
# A block fails on a non-zero exit, a timeout or a missing `expect:` line; the
# script then prints the block's name, its stdout and stderr (--verbose prints
# them for every block), and exits 1.
# Exit 2: a usage error or a malformed marker.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
self="$root/scripts/readme.sh"
readme="$root/README.md"
limit=180
build=1
list=0
verbose=0
names=()

usage() {
    echo "usage: scripts/readme.sh [--readme FILE] [--timeout SECONDS] [--no-build] [--verbose] [--list] [NAME...]" >&2
    echo "       scripts/readme.sh --self-test" >&2
    exit 2
}

while (($#)); do
    case "$1" in
    --readme) (($# >= 2)) || usage; readme="$2"; shift 2 ;;
    --timeout) (($# >= 2)) && [[ "$2" =~ ^[1-9][0-9]*$ ]] || usage; limit="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --list) list=1; shift ;;
    -v | --verbose) verbose=1; shift ;;
    --self-test) exec bash "$root/scripts/readme-selftest.sh" "$self" ;;
    -h | --help) usage ;;
    -*) usage ;;
    *) names+=("$1"); shift ;;
    esac
done

[[ -r "$readme" ]] || { echo "readme: cannot read $readme" >&2; exit 2; }
work="$(mktemp -d "${TMPDIR:-/tmp}/readme-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Extract each marked block into $work/NAME.sh and its expected lines into
# $work/NAME.expect; the names, in README order, into $work/names.
awk -v dir="$work" '
function fail(msg) { printf "readme: %s:%d: %s\n", FILENAME, NR, msg > "/dev/stderr"; bad = 1; exit 2 }
state == "code" {
    if ($0 ~ /^```[ \t]*$/) { state = ""; close(dir "/" name ".sh"); next }
    print > (dir "/" name ".sh"); next
}
state == "marker" {
    if ($0 ~ /^-->[ \t]*$/) { state = "await"; next }
    if ($0 ~ /^expect: /) { print substr($0, 9) > (dir "/" name ".expect"); next }
    fail("in the marker of \"" name "\", expected \"expect: LINE\" or \"-->\"")
}
state == "await" {
    if ($0 ~ /^[ \t]*$/) next
    if ($0 ~ /^```(sh|bash)[ \t]*$/) { state = "code"; printf "" > (dir "/" name ".sh"); next }
    fail("the marker \"" name "\" is not followed by a ```sh block")
}
/^<!-- readme-test:/ {
    line = $0
    sub(/^<!-- readme-test:[ \t]*/, "", line)
    one_line = (line ~ /-->[ \t]*$/)
    sub(/[ \t]*-->[ \t]*$/, "", line)
    if (line !~ /^[a-z0-9][a-z0-9-]*$/) fail("a walk-through name is [a-z0-9-]+, not \"" line "\"")
    if (line in seen) fail("the walk-through name \"" line "\" is used twice")
    seen[line] = 1; name = line
    print name > (dir "/names")
    printf "" > (dir "/" name ".expect")
    state = one_line ? "await" : "marker"
}
END {
    if (bad) exit 2
    if (state == "code") fail("the block \"" name "\" is not closed")
    if (state != "") fail("the marker \"" name "\" has no ```sh block")
}
' "$readme" || exit 2

[[ -s "$work/names" ]] || { echo "readme: no walk-through is marked in $readme" >&2; exit 2; }
all=()
while IFS= read -r name; do all+=("$name"); done <"$work/names"
if ((list)); then
    printf '%s\n' "${all[@]}"
    exit 0
fi
if ((${#names[@]} == 0)); then
    names=("${all[@]}")
fi
for name in "${names[@]}"; do
    [[ -f "$work/$name.sh" ]] || { echo "readme: no walk-through named \"$name\" in $readme" >&2; exit 2; }
done

cd "$root"
# The CLI reads a .env in the working directory; a developer's would change
# what the walk-throughs do.
if [[ -e .env ]]; then
    echo "readme: $root/.env exists and would be read by the walk-throughs; move it aside" >&2
    exit 2
fi
if ((build)); then
    # Built here, outside the time bound; the blocks' own `cargo build` is then a no-op.
    env -u CARGO_TARGET_DIR cargo build --locked -p passport-cli -p passport-mock-oidc
fi

# The variables a block sees besides PATH, HOME, TMPDIR and XDG_DATA_HOME.
passthrough=(LANG=C.UTF-8 TERM=dumb "CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}"
    "RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}")
for var in RUSTUP_TOOLCHAIN RUSTUP_AUTO_INSTALL CARGO_TERM_COLOR; do
    if [[ -n "${!var:-}" ]]; then passthrough+=("$var=${!var}"); fi
done

show() {
    echo "  stdout:"
    sed 's/^/    /' "$1/stdout"
    echo "  stderr:"
    sed 's/^/    /' "$1/stderr"
}

failed=()
for name in "${names[@]}"; do
    tmp="$work/$name"
    mkdir -p "$tmp/home" "$tmp/data"
    echo "readme: running \"$name\" (at most ${limit} s)"
    start=$SECONDS
    # timeout(1) puts itself and the block in a process group of their own
    # (its pid); whatever the block leaves behind is stopped with that group.
    env -i "${passthrough[@]}" PATH="$root/target/debug:$PATH" HOME="$tmp/home" TMPDIR="$tmp" \
        XDG_DATA_HOME="$tmp/data" \
        timeout -k 5 "$limit" bash -e -o pipefail "$work/$name.sh" \
        </dev/null >"$tmp/stdout" 2>"$tmp/stderr" &
    group=$!
    status=0
    wait "$group" || status=$?
    kill -TERM -- "-$group" 2>/dev/null || true
    problem=""
    if ((status == 124 || status == 137)); then
        problem="timed out after ${limit} s"
    elif ((status != 0)); then
        problem="exit $status"
    else
        while IFS= read -r want; do
            grep -qxF -- "$want" "$tmp/stdout" || problem+="${problem:+; }no line \"$want\" on stdout"
        done <"$work/$name.expect"
    fi
    if [[ -n "$problem" ]]; then
        failed+=("$name")
        echo "readme: FAILED \"$name\": $problem" >&2
        show "$tmp" >&2
    else
        echo "readme: ok \"$name\" ($((SECONDS - start)) s)"
        if ((verbose)); then show "$tmp"; fi
    fi
done

if ((${#failed[@]})); then
    echo "readme: ${#failed[@]} of ${#names[@]} walk-through(s) failed: ${failed[*]}" >&2
    exit 1
fi
echo "readme: all ${#names[@]} walk-through(s) ran as written"
