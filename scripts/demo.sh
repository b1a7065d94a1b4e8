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
# shellcheck source=scripts/processes.sh
. "$(dirname "$0")/processes.sh"
cd "$(dirname "$0")/.."

logs=""    # a temporary folder for the servers' output
servers=() # process ids of the servers, running in the background

# Stops the servers and the step under way (the build, a client: each runs
# with `run`, so that Ctrl-C or SIGTERM stop the demo at once), with all they
# started.
cleanup() {
    stop_processes ${step:+"$step"} ${servers[@]+"${servers[@]}"}
    [ -z "$logs" ] || rm -rf "$logs"
}
at_exit cleanup
logs=$(mktemp -d)

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
