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
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q -p amp-tokio --examples
bin=${CARGO_TARGET_DIR:-target}/debug/examples
py=$(bash scripts/python-env.sh | tail -n 1)

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

logs=$(mktemp -d)

# Starts a server on a free port, its output in $logs/$1.log; prints the port.
start() {
    local log="$logs/$1.log"
    shift
    "$@" 127.0.0.1:0 >"$log" 2>&1 </dev/null &
    pids+=("$!")
    for _ in $(seq 100); do
        grep -q '^LISTENING' "$log" && break
        sleep 0.1
    done
    awk '/^LISTENING/ { print $2; exit }' "$log"
}

echo "== Rust ampserver (tokio)"
rust_port=$(start rust "$bin/ampserver")
echo "listening on 127.0.0.1:$rust_port"

echo
echo "== Rust ampclient -> Rust ampserver"
"$bin/ampclient" "127.0.0.1:$rust_port"

echo
echo "== Twisted's ampclient.py -> Rust ampserver"
"$py" interop/ampclient.py "127.0.0.1:$rust_port"

echo
echo "== Rust ampclient -> Twisted's ampserver.py"
py_port=$(start python "$py" interop/ampserver.py)
"$bin/ampclient" "127.0.0.1:$py_port"

echo
echo "== what the Rust ampserver printed"
grep -v '^LISTENING' "$logs/rust.log"
echo
echo "== what Twisted's ampserver.py printed"
grep -v '^LISTENING' "$logs/python.log" || true
