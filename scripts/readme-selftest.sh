#!/usr/bin/env bash
# Tests scripts/readme.sh on small sample READMEs: that it runs only marked
# blocks, fails a block that fails, hangs, breaks a pipe or misses an expected
# line (naming the block), stops what a block left running, hides the
# machine's configuration, and rejects malformed markers. Needs no build.
#
#   scripts/readme.sh --self-test      (or: bash scripts/readme-selftest.sh)
set -euo pipefail

runner="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/readme.sh}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/readme-selftest.XXXXXX")"
trap 'rm -rf "$dir"' EXIT
checks=0

fail() {
    echo "readme self-test: FAILED: $*" >&2
    exit 1
}

# run FILE ARGS...: runs the runner on FILE; sets $status and $output.
run() {
    local file="$1"
    shift
    status=0
    output="$(bash "$runner" --no-build --timeout 3 --readme "$file" "$@" 2>&1)" || status=$?
}

# expect STATUS TEXT: the last run exited STATUS and printed TEXT.
expect() {
    [[ "$status" == "$1" ]] || fail "expected exit $1, got $status; output:"$'\n'"$output"
    [[ "$output" == *"$2"* ]] || fail "expected \"$2\" in the output:"$'\n'"$output"
    checks=$((checks + 1))
}

# The machine's configuration must not reach a block.
export CSP_CLIENT_ID=leaked AGENT_PASSPORT_HOME=/leaked XDG_DATA_HOME=/leaked

cat >"$dir/good.md" <<EOF
# Sample

An ordinary snippet is never run:

\`\`\`sh
touch "$dir/unmarked-ran"; exit 1
\`\`\`

<!-- readme-test: hello
expect: hello, world
expect: second line
-->
\`\`\`sh
echo "hello, world"
false || echo "second line"
\`\`\`

<!-- readme-test: clean-env -->

\`\`\`bash
test -z "\${CSP_CLIENT_ID:-}"
test -z "\${AGENT_PASSPORT_HOME:-}"
case "\$XDG_DATA_HOME" in /leaked) exit 1 ;; esac
d="\$(mktemp -d)"; case "\$d" in "\$TMPDIR"/*) ;; *) exit 1 ;; esac
test "\$PWD" = "$(cd "$(dirname "$runner")/.." && pwd)"
\`\`\`

<!-- readme-test: leaves-a-process -->
\`\`\`sh
sleep 300 &
echo \$! > "$dir/background.pid"
\`\`\`
EOF

run "$dir/good.md"
expect 0 'all 3 walk-through(s) ran as written'
[[ ! -e "$dir/unmarked-ran" ]] || fail "an unmarked block ran"
pid="$(cat "$dir/background.pid")"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && { kill "$pid"; fail "the block's background process $pid was left running"; }
checks=$((checks + 1))

run "$dir/good.md" --list
expect 0 $'hello\nclean-env\nleaves-a-process'
[[ "$output" != *unmarked* ]] || fail "--list names an unmarked block"

cat >"$dir/bad.md" <<'EOF'
<!-- readme-test: fails -->
```sh
echo "before"
false
echo "never printed"
```

<!-- readme-test: broken-pipe -->
```sh
false | cat
```

<!-- readme-test: hangs -->
```sh
sleep 60
```

<!-- readme-test: missing-line
expect: refused, exit 1
-->
```sh
true || echo "refused, exit $?"
```

<!-- readme-test: stderr-is-not-stdout
expect: refused
-->
```sh
echo refused >&2
```
EOF

run "$dir/bad.md" fails
expect 1 'FAILED "fails": exit 1'
[[ "$output" == *before* && "$output" != *"never printed"* ]] || fail "the failing block's output:"$'\n'"$output"

run "$dir/bad.md" broken-pipe
expect 1 'FAILED "broken-pipe": exit 1'

start=$SECONDS
run "$dir/bad.md" hangs
expect 1 'FAILED "hangs": timed out after 3 s'
((SECONDS - start < 15)) || fail "the hanging block took $((SECONDS - start)) s to stop"

run "$dir/bad.md" missing-line
expect 1 'FAILED "missing-line": no line "refused, exit 1" on stdout'

run "$dir/bad.md" stderr-is-not-stdout
expect 1 'FAILED "stderr-is-not-stdout": no line "refused" on stdout'

run "$dir/bad.md"
expect 1 '5 of 5 walk-through(s) failed'

run "$dir/bad.md" no-such-block
expect 2 'no walk-through named "no-such-block"'

printf '# nothing marked\n\n```sh\necho hi\n```\n' >"$dir/none.md"
run "$dir/none.md"
expect 2 'no walk-through is marked'

printf '<!-- readme-test: lonely -->\nSome prose.\n```sh\necho hi\n```\n' >"$dir/lonely.md"
run "$dir/lonely.md"
expect 2 'the marker "lonely" is not followed by a ```sh block'

printf '<!-- readme-test: twice -->\n```sh\ntrue\n```\n<!-- readme-test: twice -->\n```sh\ntrue\n```\n' >"$dir/twice.md"
run "$dir/twice.md"
expect 2 'the walk-through name "twice" is used twice'

printf '<!-- readme-test: open -->\n```sh\ntrue\n' >"$dir/open.md"
run "$dir/open.md"
expect 2 'the block "open" is not closed'

printf '<!-- readme-test: typo\nexpects: x\n-->\n```sh\ntrue\n```\n' >"$dir/typo.md"
run "$dir/typo.md"
expect 2 'expected "expect: LINE" or "-->"'

echo "readme self-test: ok ($checks checks)"
