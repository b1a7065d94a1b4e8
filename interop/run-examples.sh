#!/usr/bin/env bash
# Checks Twisted's documented AMP example (Sum, Divide) across languages and
# runtimes: pairings of a client (amp-tokio's `ampclient` example,
# amp-async-std's `ampclient_async_std`, Python interop/ampclient.py) with a
# server (`ampserver`, `ampserver_async_std`, Python interop/ampserver.py):
# each Rust side against Twisted in both directions, and the two Rust
# adapters against each other; over TCP, then over UNIX sockets (`unix:PATH`),
# then with the client spawning the server as a child on its standard input
# and output (`exec:SERVER stdio`, the Rust clients only); then the Rust
# pairings over TCP again with StartTLS, the server with `--tls CERT KEY`
# answering the client's `StartTLS` (client `--starttls CA`), with
# certificates made for the run (the `test_certs` example of
# amp-conformance).
#
#     bash interop/run-examples.sh
#
# For each pairing the server is started on port 0 and its `LISTENING <port>`
# line read; the client must exit 0 and print `Divided by zero: returning INF`
# and a `Done with math:` line equal to the Python client's against the
# Python server (the documented output); the server must print `Did a sum:
# 13 + 81 = 94` (a server on stdio prints it on standard error, which the
# client passes on). Prints PASS or FAIL per pairing, then `N passed, M failed`;
# exits 1 when a pairing failed (2 when the set-up failed).
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo" || exit 2
# shellcheck source=scripts/processes.sh
. scripts/processes.sh || exit 2

STEP_TIMEOUT=30 # seconds for a server to listen, for a client to finish
DOCUMENTED_DONE="Done with math: [(True, 94), (True, inf)]"

work="$(mktemp -d)"
server_pid=""

stop_server() {
    if [[ -n "$server_pid" ]]; then
        stop_children "$server_pid"
        server_pid=""
    fi
}

# Stops the client (`step`, see `run` in scripts/processes.sh), then the
# server.
cleanup() {
    stop_children ${step:+"$step"}
    stop_server
    rm -rf "$work"
}
at_exit cleanup

PY="$(bash scripts/python-env.sh | tail -1)"
if [[ -z "$PY" || ! -x "$PY" ]]; then
    echo "error: no Python with Twisted (scripts/python-env.sh failed)" >&2
    exit 2
fi

echo "building the amp-tokio and amp-async-std examples (with TLS)" >&2
if ! cargo build --quiet -p amp-tokio -p amp-async-std --features tls --examples; then
    echo "error: cargo build -p amp-tokio -p amp-async-std --features tls --examples failed" >&2
    exit 2
fi
if ! cargo run --quiet -p amp-conformance --example test_certs -- "$work/certs" >/dev/null; then
    echo "error: cannot make the test certificates" >&2
    exit 2
fi
target_dir="$(cargo metadata --format-version 1 --no-deps |
    "$PY" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
rust_server="$target_dir/debug/examples/ampserver"
rust_client="$target_dir/debug/examples/ampclient"
async_server="$target_dir/debug/examples/ampserver_async_std"
async_client="$target_dir/debug/examples/ampclient_async_std"
for binary in "$rust_server" "$rust_client" "$async_server" "$async_client"; do
    if [[ ! -x "$binary" ]]; then
        echo "error: $binary was not built" >&2
        exit 2
    fi
done

# The command line of each side, by language.
server_command() {
    case "$1" in
    rust) server_cmd=("$rust_server") ;;
    async-std) server_cmd=("$async_server") ;;
    python) server_cmd=("$PY" interop/ampserver.py) ;;
    esac
}
client_command() {
    case "$1" in
    rust) client_cmd=("$rust_client") ;;
    async-std) client_cmd=("$async_client") ;;
    python) client_cmd=("$PY" interop/ampclient.py) ;;
    esac
}

passed=0
failed=0
# The `Done with math:` line of the Python client against the Python server
# (the first pairing, which must print the documented line); every other
# pairing must print the same.
reference_done=""
reference_whose="the documented example"
reason=""
done_line=""

# run_pairing CLIENT SERVER [TRANSPORT]: sets `reason` (empty on success).
# TRANSPORT is tcp (the default), unix or exec.
run_pairing() {
    local client="$1" server="$2" transport="${3:-tcp}" line port
    local out="$work/$1-$2-${3:-tcp}.out" err="$work/$1-$2-${3:-tcp}.err" address
    reason=""

    server_command "$server"
    # StartTLS: the client's flags go before the address, the server's
    # after it (either order is accepted).
    local server_extra=() client_extra=()
    if [[ "$transport" == tls ]]; then
        server_extra=(--tls "$work/certs/server.pem" "$work/certs/server.key")
        client_extra=(--starttls "$work/certs/ca.pem")
    fi
    if [[ "$transport" == exec ]]; then
        # No server process of ours: the client spawns one per connection.
        address="exec:${server_cmd[0]}"
        client_command "$client"
        run timeout "$STEP_TIMEOUT" "${client_cmd[@]}" "$address" "${server_cmd[@]:1}" stdio >"$out" 2>"$err"
    else
        local listen_at="127.0.0.1:0"
        [[ "$transport" == unix ]] && listen_at="unix:$work/$client-$server.sock"
        # The server's standard input is a pipe held by this script (a
        # coprocess), so the Python servers also exit should the script die.
        coproc SERVER { exec "${server_cmd[@]}" "$listen_at" "${server_extra[@]}" 2>"$work/server-$server.err"; }
        server_pid="$SERVER_PID"
        local server_out="${SERVER[0]}"
        if ! read -r -t "$STEP_TIMEOUT" line <&"$server_out"; then
            reason="the $server server printed no LISTENING line within ${STEP_TIMEOUT} s"
            return
        fi
        port="${line#LISTENING }"
        if [[ "$transport" == unix ]]; then
            if [[ "$port" != "$listen_at" ]]; then
                reason="the $server server printed '$line', not 'LISTENING $listen_at'"
                return
            fi
            address="$listen_at"
        elif [[ "$line" != LISTENING\ * || ! "$port" =~ ^[0-9]+$ ]]; then
            reason="the $server server printed '$line', not 'LISTENING <port>'"
            return
        else
            address="127.0.0.1:$port"
        fi
        # With `run`, so that Ctrl-C or SIGTERM stop the script at once (see
        # scripts/processes.sh).
        client_command "$client"
        run timeout "$STEP_TIMEOUT" "${client_cmd[@]}" "${client_extra[@]}" "$address" >"$out" 2>"$err"
    fi
    local status=$?
    local want="${reference_done:-$DOCUMENTED_DONE}" whose="$reference_whose"
    done_line="$(grep -m1 '^Done with math:' "$out")"
    if ((status != 0)); then
        reason="the $client client exited with status $status: $(tr '\n' ' ' <"$err")"
    elif ! grep -qx 'Divided by zero: returning INF' "$out"; then
        reason="the $client client did not print 'Divided by zero: returning INF'"
    elif [[ -z "$done_line" ]]; then
        reason="the $client client printed no 'Done with math:' line"
    elif [[ "$done_line" != "$want" ]]; then
        reason="the $client client printed '$done_line', $whose '$want'"
    elif [[ "$transport" == exec ]]; then
        # The spawned server printed on its standard error, the client's.
        grep -qx 'Did a sum: 13 + 81 = 94' "$err" ||
            reason="the $server server (spawned) did not print 'Did a sum: 13 + 81 = 94'"
    else
        # The server did the sum (it prints what the documented one prints).
        local did=""
        while read -r -t 5 line <&"$server_out"; do
            if [[ "$line" == "Did a sum: 13 + 81 = 94" ]]; then
                did=yes
                break
            fi
        done
        [[ -n "$did" ]] || reason="the $server server did not print 'Did a sum: 13 + 81 = 94'"
    fi
}

# Python against Python first: the sanity check of the reference line.
# "rust" is amp-tokio, "async-std" amp-async-std.
# "tls" pairings: the client's flags go before the address, the server's
# after it (either order is accepted).
for pairing in "python python" "rust python" "python rust" "rust rust" \
    "async-std python" "python async-std" "async-std rust" "rust async-std" \
    "python python unix" "rust python unix" "python rust unix" \
    "async-std python unix" "python async-std unix" "rust async-std unix" "async-std rust unix" \
    "rust python exec" "rust rust exec" "rust async-std exec" \
    "async-std python exec" "async-std async-std exec" "async-std rust exec" \
    "rust rust tls" "async-std rust tls" "rust async-std tls"; do
    read -r client server transport <<<"$pairing"
    transport="${transport:-tcp}"
    run_pairing "$client" "$server" "$transport"
    stop_server
    if [[ -z "$reference_done" ]]; then
        # Should the sanity pairing fail, compare with the documented line.
        if [[ -z "$reason" ]]; then
            reference_done="$done_line"
            reference_whose="the Python client"
        else
            reference_done="$DOCUMENTED_DONE"
        fi
    fi
    name="$client ampclient -> $server ampserver"
    [[ "$transport" == tcp ]] || name="$name ($transport)"
    if [[ -z "$reason" ]]; then
        passed=$((passed + 1))
        echo "PASS $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name: $reason"
        for log in "$work/$client-$server-$transport.out" "$work/$client-$server-$transport.err" "$work/server-$server.err"; do
            if [[ -s "$log" ]]; then
                echo "--- ${log##*/}"
                cat "$log"
            fi
        done
    fi
done

echo "$passed passed, $failed failed"
((failed == 0))
