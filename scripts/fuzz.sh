#!/usr/bin/env bash
# Runs every fuzz target for a bounded time, one process each, one after the
# other, and prints what each did.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]
#
# Default: 60 seconds for each of decoder, values, serde_box, dispatcher,
# router, cli_decode, cli_proxy, cli_pcap, txampext, mux.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
#
# Each target starts from its committed seeds (fuzz/corpus/<target>/, read
# only) plus what earlier runs found (fuzz/work/corpus/<target>/, where new
# inputs go; not committed). A crash, timeout, leak or out-of-memory input is
# written by libFuzzer to fuzz/artifacts/<target>/ and copied to
# fuzz/regressions/<target>/, which the stable test `fuzz_regressions` of
# amp-fuzz-checks (fuzz-checks/, whose checks the targets run) replays for
# every target; the script then exits non-zero.
set -euo pipefail

seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(decoder values serde_box dispatcher router cli_decode cli_proxy cli_pcap txampext mux descriptors)
fi

# shellcheck source=scripts/processes.sh
. "$(dirname "$0")/processes.sh"
cd "$(dirname "$0")/../fuzz"

# Each cargo command runs with `run` (scripts/processes.sh), so that Ctrl-C
# or SIGTERM stop the script at once, and the clean-up stops cargo, the
# fuzzer it runs and the fuzzer's own processes.
before=""
cleanup() {
    stop_processes ${step:+"$step"}
    [ -z "$before" ] || rm -f "$before"
}
at_exit cleanup

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz and the nightly toolchain are needed:" >&2
    echo "  rustup toolchain install nightly && cargo install cargo-fuzz" >&2
    exit 2
fi

run cargo +nightly fuzz build >/dev/null

declare -a rows
status=0
for t in "${targets[@]}"; do
    mkdir -p "work/corpus/$t" "artifacts/$t" "regressions/$t"
    log="work/$t.log"
    before=$(mktemp)
    ls "artifacts/$t" >"$before"
    echo "== $t: ${seconds}s" >&2
    # -timeout: an input running over 10 s is a hang; -rss_limit_mb: one
    # over 2 GiB is a memory blow-up. Both are findings.
    rc=0
    run cargo +nightly fuzz run "$t" "work/corpus/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1 || rc=$?
    runs=$(grep -Eo '^Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' | tail -1 || true)
    if [ -z "$runs" ]; then
        runs=$(grep -Eo '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)
    fi
    if [ -z "$runs" ]; then
        runs=$(grep -Eo '^#[0-9]+' "$log" | tr -d '#' | tail -1 || echo '?')
    fi
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(echo "$last" | grep -Eo 'cov: [0-9]+' | grep -Eo '[0-9]+' || echo '?')
    corp=$(echo "$last" | grep -Eo 'corp: [0-9]+' | grep -Eo '[0-9]+' || echo '?')
    new=$(ls "artifacts/$t" | grep -Ev '^slow-unit' | comm -13 "$before" - || true)
    rm -f "$before"
    before=""
    findings=0
    for f in $new; do
        cp "artifacts/$t/$f" "regressions/$t/$f"
        findings=$((findings + 1))
        echo "   finding: fuzz/artifacts/$t/$f (copied to fuzz/regressions/$t/)" >&2
    done
    if [ "$rc" -ne 0 ] && [ "$findings" -eq 0 ]; then
        echo "   cargo fuzz exited with $rc; see fuzz/$log" >&2
        findings="error (rc $rc)"
    fi
    if [ "$findings" != 0 ]; then
        status=1
        grep -E 'ERROR: libFuzzer|panicked at|SUMMARY' "$log" | head -5 >&2 || true
    fi
    rows+=("| $t | ${seconds} s | $runs | $cov | $corp | $findings |")
done

echo
echo "| target | time | executions | coverage (edges) | corpus | findings |"
echo "|---|---|---|---|---|---|"
for r in "${rows[@]}"; do
    echo "$r"
done
exit $status
