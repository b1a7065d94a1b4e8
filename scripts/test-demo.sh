#!/usr/bin/env bash
# Checks that the demo (scripts/demo.sh) stops every process it starts.
#
#     bash scripts/test-demo.sh [DEMO]    (or AMP_DEMO_SCRIPT=DEMO; default
#                                          scripts/demo.sh)
#
# Runs the demo three times, each in a session (and process group) of its own
# and with a marker in its environment that every process it starts inherits:
#
#  1. to the end: it must exit 0;
#  2. stopped as Ctrl-C stops it (SIGINT to its whole process group) once its
#     Rust server listens: it must exit non-zero;
#  3. stopped by SIGTERM to its shell alone at the same point: it must exit
#     non-zero.
#
# After each run nothing it started may still run: no process of its session
# or process group, none carrying its marker (a process that left the
# session), and no ampserver, ampserver.py, ampclient or ampclient.py that was
# not running before the run. Leftovers are named and the test fails; those
# that are the run's are stopped first (a new one by name without the
# marker may belong to another run on the machine: it is named, not stopped).
# A DEMO outside scripts/ (say an older version, from `git show`) is run as
# if it were scripts/demo.sh, so that it finds the repository.
#
# Exits 0 when all three runs pass, 1 when one fails, 2 when the test cannot
# run. Needs Linux (setsid, ps, /proc).
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo" || exit 2

demo=${1:-${AMP_DEMO_SCRIPT:-scripts/demo.sh}}
BUILD_TIMEOUT=900 # seconds for a run to reach its servers (it may build first)
STOP_TIMEOUT=30   # seconds for an interrupted run to end

say() { printf 'test-demo: %s\n' "$*"; }
if [[ ! -f "$demo" ]]; then
    say "error: no demo script $demo" >&2
    exit 2
fi
for tool in setsid ps; do
    if ! command -v "$tool" >/dev/null; then
        say "error: $tool is needed" >&2
        exit 2
    fi
done
if [[ "$(cd "$(dirname "$demo")" && pwd)" == "$repo/scripts" ]]; then
    demo_cmd=(bash "$demo")
else
    demo_cmd=(bash -c "$(cat "$demo")" scripts/demo.sh)
fi
# The demo must see SIGINT as a terminal's Ctrl-C delivers it, even should
# this script have been started with SIGINT ignored.
default_int=()
if env --default-signal=INT true 2>/dev/null; then
    default_int=(--default-signal=INT)
fi

work="$(mktemp -d)"
runs=0
failed=0   # runs that failed
run_ok=""  # empty once the current run has failed
runner=""  # the process running the demo (setsid, then the demo itself)
leader=""  # the demo's process id: also its session's and process group's
mark=""    # the value of AMP_TEST_DEMO_RUN in the demo's environment

# Those of the given process ids that still run (not yet exited).
running() {
    ps -o pid= -o stat= -p "$(echo "$*" | tr ' ' ,)" 2>/dev/null | awk '$2 !~ /^Z/ { print $1 }'
}

# "PID COMMAND" of every process of the current run: in its session or its
# process group, or carrying its marker; zombies aside.
of_run() {
    local marked=""
    [[ -n "$leader" ]] || return 0
    if [[ -n "$mark" && -d /proc/self ]]; then
        marked="$(grep -lszxF "AMP_TEST_DEMO_RUN=$mark" /proc/[0-9]*/environ 2>/dev/null |
            cut -d/ -f3 | tr '\n' ' ')"
    fi
    ps -e -o pid= -o pgid= -o sid= -o stat= -o args= |
        awk -v g="$leader" -v marked=" $marked" '
            $4 ~ /^Z/ { next }
            $2 == g || $3 == g || index(marked, " " $1 " ") {
                pid = $1
                sub(/^ *[0-9]+ +[0-9]+ +[0-9]+ +[^ ]+ +/, "")
                print pid, substr($0, 1, 200)
            }'
}

# "PID COMMAND" of every ampserver, ampserver.py, ampclient or ampclient.py
# (and the _async_std examples), zombies aside: the program itself, or a
# Python running the script.
amp_named() {
    ps -e -o pid= -o stat= -o args= |
        awk 'function base(path) { sub(/.*\//, "", path); return path }
            $2 ~ /^Z/ { next }
            {
                named = base($3) ~ /^amp(server|client)(_async_std)?$/
                for (i = 4; i <= NF && !named && base($3) ~ /^python/; i++)
                    named = base($i) ~ /^amp(server|client)\.py$/
                if (!named) next
                pid = $1
                sub(/^ *[0-9]+ +[^ ]+ +/, "")
                print pid, substr($0, 1, 200)
            }'
}

# Stops the given processes (not children of this shell): SIGTERM, then
# SIGKILL to whatever still runs 5 s later.
stop_pids() {
    local left=""
    [[ $# -gt 0 ]] || return 0
    kill -TERM "$@" 2>/dev/null
    for _ in $(seq 50); do
        left="$(running "$@")"
        [[ -z "$left" ]] && return 0
        sleep 0.1
    done
    # shellcheck disable=SC2086 # a list of process ids
    kill -KILL $left 2>/dev/null
}

# Stops whatever of the current run still runs.
stop_run() {
    [[ -n "$leader" ]] && kill -TERM -- "-$leader" 2>/dev/null
    if [[ -n "$runner" ]]; then
        stop_pids "$runner"
        wait "$runner" 2>/dev/null
        runner=""
    fi
    # shellcheck disable=SC2046 # a list of process ids
    stop_pids $(of_run | cut -d' ' -f1)
}

cleanup() {
    trap '' INT TERM
    stop_run
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Reports a failure of the current run.
fail() {
    run_ok=""
    say "FAIL: $*"
}

# Waits (at most $1 seconds) for the demo to end, or, with a second argument,
# for a line matching it in the demo's output. Returns 1 on timeout.
await() {
    local deadline=$(($(date +%s) + $1)) pattern="${2:-}"
    while (($(date +%s) < deadline)); do
        [[ -n "$(running "$runner")" ]] || return 0
        [[ -n "$pattern" ]] && grep -q "$pattern" "$out" && return 0
        sleep 0.1
    done
    return 1
}

# run_demo HOW: HOW is "end" (let it run to the end), "INT" (SIGINT to its
# process group, as Ctrl-C) or "TERM" (SIGTERM to its shell).
run_demo() {
    local how="$1" pidfile before status left named stray
    runs=$((runs + 1))
    run_ok=yes
    out="$work/run$runs.out"
    pidfile="$work/run$runs.pid"
    case "$how" in
    end) say "run $runs: $demo to the end" ;;
    INT) say "run $runs: $demo, Ctrl-C (SIGINT to its process group) once its Rust server listens" ;;
    TERM) say "run $runs: $demo, SIGTERM to its shell once its Rust server listens" ;;
    esac

    before=" $(amp_named | cut -d' ' -f1 | tr '\n' ' ')"
    mark="$$-$runs-$RANDOM$RANDOM"
    : >"$pidfile"
    # shellcheck disable=SC2016 # $$, $0 and $@ are the inner shell's
    (
        trap - INT QUIT
        exec env ${default_int[@]+"${default_int[@]}"} "AMP_TEST_DEMO_RUN=$mark" \
            setsid --wait bash -c 'echo "$$" >"$0" && exec "$@"' "$pidfile" "${demo_cmd[@]}"
    ) >"$out" 2>&1 </dev/null &
    runner=$!
    leader=""
    for _ in $(seq 100); do
        leader="$(cat "$pidfile")"
        [[ -n "$leader" ]] && break
        sleep 0.05
    done
    if [[ -z "$leader" ]]; then
        fail "run $runs: the demo did not start"
        stop_run
        failed=$((failed + 1))
        return
    fi

    if [[ "$how" == end ]]; then
        if ! await "$BUILD_TIMEOUT"; then
            fail "run $runs: the demo was still running after $BUILD_TIMEOUT s"
        fi
    else
        if ! await "$BUILD_TIMEOUT" '^listening on'; then
            fail "run $runs: the demo's Rust server did not listen within $BUILD_TIMEOUT s"
        elif [[ -z "$(running "$runner")" ]]; then
            fail "run $runs: the demo ended before it could be stopped"
        else
            if [[ "$how" == INT ]]; then
                kill -INT -- "-$leader"
            else
                kill -TERM "$leader"
            fi
            await "$STOP_TIMEOUT" ||
                fail "run $runs: the demo was still running $STOP_TIMEOUT s after SIG$how"
        fi
    fi
    if [[ -n "$(running "$runner")" ]]; then
        stop_pids "$leader"
    fi
    wait "$runner"
    status=$?
    runner=""

    # What is left, once processes on their way out have had 3 s to go.
    for _ in $(seq 30); do
        left="$(of_run)"
        [[ -z "$left" ]] && break
        sleep 0.1
    done
    named="$(amp_named | awk -v before="$before" 'index(before, " " $1 " ") == 0')"
    stray="$(awk 'NR == FNR { ours[$1] = 1; next } !($1 in ours)' \
        <(printf '%s\n' "$left") <(printf '%s\n' "$named"))"

    if [[ "$how" == end && "$status" -ne 0 ]]; then
        fail "run $runs: the demo exited with status $status"
    elif [[ "$how" != end && "$status" -eq 0 ]]; then
        fail "run $runs: the demo exited with status 0 after SIG$how"
    fi
    if [[ -n "$left" ]]; then
        fail "run $runs: left running after the demo ended (stopped now):"
        sed 's/^/    /' <<<"$left"
        # shellcheck disable=SC2046 # a list of process ids
        stop_pids $(cut -d' ' -f1 <<<"$left")
    fi
    if [[ -n "$stray" ]]; then
        fail "run $runs: started during the run and still running, without its marker (another run on this machine? not stopped):"
        sed 's/^/    /' <<<"$stray"
    fi
    if [[ -n "$run_ok" ]]; then
        say "ok: exited with status $status, left nothing running"
    else
        failed=$((failed + 1))
        say "the demo's output (last 30 lines):"
        tail -n 30 "$out" | sed 's/^/    | /'
    fi
    leader=""
    mark=""
}

run_demo end
run_demo INT
run_demo TERM

if ((failed > 0)); then
    say "$failed of $runs runs failed"
    exit 1
fi
say "all $runs runs passed"
