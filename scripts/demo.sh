#!/usr/bin/env bash
# The demo: Twisted's documented AMP example (Sum and Divide), in Rust and in
# Python, talking to each other over loopback TCP.
#
#  1. the Rust `ampserver` (tokio) serves Sum and Divide;
#  2. the Rust `ampclient` calls it;
#  3. Twisted's own `ampclient.py` calls the same Rust server;
#  4. the Rust client calls Twisted's own `ampserver.py`.
#
# It sets up its Python environment itself (Twisted from PyPI, see
# scripts/python-env.sh).
#
# Every process it starts (the servers, the clients, the build and whatever
# they start in turn) is stopped before it ends, whether it succeeds, fails,
# or is stopped by Ctrl-C or SIGTERM; scripts/test-demo.sh checks this.
set -euo pipefail
cd "$(dirname "$0")/.."

logs=""    # a temporary folder for the servers' output
servers=() # process ids of the servers, running in the background
step=""    # process id of the step being waited for (the build, a client)

# The given process ids and all their descendants, as the process table has
# them now.
with_descendants() {
    ps -e -o pid= -o ppid= | awk -v roots="$*" '
        BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
        { parent[$1] = $2 }
        END {
            do {
                grew = 0
                for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grew = 1 }
            } while (grew)
            for (p in keep) print p
        }'
}

# Those of the given process ids that still run (not yet exited).
running() {
    ps -o pid= -o stat= -p "$(echo "$*" | tr ' ' ,)" 2>/dev/null | awk '$2 !~ /^Z/ { print $1 }'
}

# Stops the given processes (children of this shell) and their descendants:
# SIGTERM (and SIGCONT, for a stopped one), SIGKILL to whatever still runs
# 5 s later, then reaps them.
stop_processes() {
    [ $# -gt 0 ] || return 0
    local all left="" p
    all=$(with_descendants "$@")
    # shellcheck disable=SC2086 # a list of process ids
    kill -TERM $all 2>/dev/null
    # shellcheck disable=SC2086 # (a stopped process acts on SIGTERM once continued)
    kill -CONT $all 2>/dev/null
    for _ in $(seq 50); do
        # shellcheck disable=SC2086
        left=$(running $all)
        [ -z "$left" ] && break
        sleep 0.1
    done
    # shellcheck disable=SC2086
    [ -z "$left" ] || kill -KILL $left 2>/dev/null
    for p in "$@"; do wait "$p" 2>/dev/null; done
}

cleanup() {
    local status=$?
    set +e
    trap '' INT TERM # a second Ctrl-C must not cut the clean-up short
    stop_processes ${step:+"$step"} ${servers[@]+"${servers[@]}"}
    [ -z "$logs" ] || rm -rf "$logs"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
logs=$(mktemp -d)

# Runs a step in the background and waits for it: a trap runs only once a
# foreground command has ended, while `wait` gives way to it at once, so
# Ctrl-C or SIGTERM stop the demo at once and the clean-up stops the step.
run() {
    "$@" &
    step=$!
    local status=0
    wait "$step" || status=$?
    step=""
    return "$status"
}

# start NAME COMMAND...: starts a server on a free port, in the background of
# this shell (so that its process id is known here), its output in
# $logs/NAME.log; sets `port` to the port it listens on.
start() {
    local name=$1 log="$logs/$1.log" pid
    shift
    : >"$log" # there before the server opens it, for the reads below
    "$@" 127.0.0.1:0 >"$log" 2>&1 </dev/null &
    pid=$!
    servers+=("$pid")
    port=""
    for _ in $(seq 200); do
        port=$(awk '/^LISTENING/ { print $2; exit }' "$log")
        [ -n "$port" ] && return 0
        [ -n "$(running "$pid")" ] || break
        sleep 0.1
    done
    echo "the $name server did not start listening:" >&2
    cat "$log" >&2
    exit 1
}

run cargo build -q -p amp-tokio --examples
bin=${CARGO_TARGET_DIR:-target}/debug/examples
run bash scripts/python-env.sh >"$logs/python-env.out"
py=$(tail -n 1 "$logs/python-env.out")

echo "== Rust ampserver (tokio)"
start rust "$bin/ampserver"
rust_port=$port
echo "listening on 127.0.0.1:$rust_port"

echo
echo "== Rust ampclient -> Rust ampserver"
run "$bin/ampclient" "127.0.0.1:$rust_port"

echo
echo "== Twisted's ampclient.py -> Rust ampserver"
run "$py" interop/ampclient.py "127.0.0.1:$rust_port"

echo
echo "== Rust ampclient -> Twisted's ampserver.py"
start python "$py" interop/ampserver.py
py_port=$port
run "$bin/ampclient" "127.0.0.1:$py_port"

echo
echo "== what the Rust ampserver printed"
grep -v '^LISTENING' "$logs/rust.log"
echo
echo "== what Twisted's ampserver.py printed"
grep -v '^LISTENING' "$logs/python.log" || true
