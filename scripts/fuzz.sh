#!/usr/bin/env bash
# The fuzz targets of fuzz/ (cargo-fuzz, libFuzzer): installs cargo-fuzz
# when missing, builds every target once, and gives each a short smoke run
# from its committed seed corpus. See docs/fuzzing.md.
#
#   scripts/fuzz.sh                 # build + smoke run (FUZZ_SECONDS each, default 15)
#   scripts/fuzz.sh TARGET [ARGS]   # run one target longer, libFuzzer ARGS
#                                   # (e.g. -max_total_time=300)
#
# Stable Rust: no sanitizer (`--sanitizer none`; ASan needs nightly's
# -Zsanitizer), so what is caught is panics (failed assertions, overflow
# checks: cargo-fuzz builds with debug assertions) and timeouts, not
# memory errors; the code under test forbids `unsafe`.
# The smoke runs never write into fuzz/corpus: they read the seeds and keep
# what they find in a scratch directory, so the committed corpus only
# changes on purpose (docs/fuzzing.md, "Corpus").
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION"; then
    cargo install --locked --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi

fuzz=(cargo fuzz)
flags=(--sanitizer none --fuzz-dir fuzz)
"${fuzz[@]}" build "${flags[@]}"
# the fuzz package's own lockfile (fuzz/Cargo.lock) is committed: a build
# that had to change it means a dependency moved without a commit
if ! git diff --quiet -- fuzz/Cargo.lock 2>/dev/null; then
    echo "fuzz/Cargo.lock changed while building; commit it on purpose" >&2
    exit 1
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

run() {
    local target="$1" status=0
    shift
    mkdir -p "$scratch/$target"
    "${fuzz[@]}" run "${flags[@]}" "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
        -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "$@" >"$scratch/$target.log" 2>&1 ||
        status=$?
    grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|stat::number_of_executed_units)' "$scratch/$target.log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$scratch/$target.log" >&2
        echo "fuzz target $target failed (exit $status); the input is in fuzz/artifacts/$target/" >&2
        return 1
    fi
}

if [ $# -gt 0 ]; then
    run "$@"
    exit
fi

seconds="${FUZZ_SECONDS:-15}"
failed=0
for target in $("${fuzz[@]}" list --fuzz-dir fuzz); do
    echo "--- $target (${seconds}s)"
    run "$target" "-max_total_time=$seconds" || failed=1
done
exit "$failed"
