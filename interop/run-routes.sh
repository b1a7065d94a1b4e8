#!/usr/bin/env bash
# Checks epsilon's amprouter guide (routes: NewRoute, Count) across
# languages: the four pairings of a client (amp-router's `route_client`
# example, Python interop/route_client.py on epsilon 0.8.0) with a server
# (`route_server`, Python interop/route_server.py).
#
#     bash interop/run-routes.sh
#
# For each pairing the server is started on port 0 and its `LISTENING <port>`
# line read; the client must exit 0 and print exactly three lines
# `route <name>: [1, 2, 3, 4]` (three routes, each counted from 1), with three
# different names; the server must print three `new route ...` lines. Prints
# PASS or FAIL per pairing, then `N passed, M failed`; exits 1 when a pairing
# failed (2 when the set-up failed).
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo" || exit 2
# shellcheck source=scripts/processes.sh
. scripts/processes.sh || exit 2

STEP_TIMEOUT=30 # seconds for a server to listen, for a client to finish
ROUTES=3

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
if ! "$PY" -c 'import epsilon.amprouter' 2>/dev/null; then
    echo "error: $PY cannot import epsilon.amprouter (see interop/requirements.txt)" >&2
    exit 2
fi

echo "building the amp-router examples" >&2
if ! cargo build --quiet -p amp-router --features tokio --examples; then
    echo "error: cargo build -p amp-router --features tokio --examples failed" >&2
    exit 2
fi
target_dir="$(cargo metadata --format-version 1 --no-deps |
    "$PY" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
rust_server="$target_dir/debug/examples/route_server"
rust_client="$target_dir/debug/examples/route_client"
for binary in "$rust_server" "$rust_client"; do
    if [[ ! -x "$binary" ]]; then
        echo "error: $binary was not built" >&2
        exit 2
    fi
done

# The command line of each side, by language.
server_command() {
    case "$1" in
    rust) server_cmd=("$rust_server") ;;
    python) server_cmd=("$PY" interop/route_server.py) ;;
    esac
}
client_command() {
    case "$1" in
    rust) client_cmd=("$rust_client") ;;
    python) client_cmd=("$PY" interop/route_client.py) ;;
    esac
}

passed=0
failed=0
reason=""

# run_pairing CLIENT SERVER: sets `reason` (empty on success).
run_pairing() {
    local client="$1" server="$2" line port out="$work/$1-$2.out" err="$work/$1-$2.err"
    reason=""

    # The server's standard input is a pipe held by this script (a coprocess),
    # so the Python server also exits should the script die.
    server_command "$server"
    coproc SERVER { exec "${server_cmd[@]}" 127.0.0.1:0 2>"$work/server-$server.err"; }
    server_pid="$SERVER_PID"
    local server_out="${SERVER[0]}"
    if ! read -r -t "$STEP_TIMEOUT" line <&"$server_out"; then
        reason="the $server server printed no LISTENING line within ${STEP_TIMEOUT} s"
        return
    fi
    port="${line#LISTENING }"
    if [[ "$line" != LISTENING\ * || ! "$port" =~ ^[0-9]+$ ]]; then
        reason="the $server server printed '$line', not 'LISTENING <port>'"
        return
    fi

    # With `run`, so that Ctrl-C or SIGTERM stop the script at once (see
    # scripts/processes.sh).
    client_command "$client"
    run timeout "$STEP_TIMEOUT" "${client_cmd[@]}" "127.0.0.1:$port" >"$out" 2>"$err"
    local status=$?
    local lines routes names
    lines="$(wc -l <"$out")"
    routes="$(grep -cx 'route [^:]*: \[1, 2, 3, 4\]' "$out")"
    names="$(sed -n 's/^route \([^:]*\): .*/\1/p' "$out" | sort -u | wc -l)"
    if ((status != 0)); then
        reason="the $client client exited with status $status: $(tr '\n' ' ' <"$err")"
    elif ((routes != ROUTES || lines != ROUTES)); then
        reason="the $client client printed $lines lines, $routes of them 'route <name>: [1, 2, 3, 4]' ($ROUTES wanted): $(tr '\n' '|' <"$out")"
    elif ((names != ROUTES)); then
        reason="the $client client printed $names different route names ($ROUTES wanted): $(tr '\n' '|' <"$out")"
    else
        # The server bound a route for each of the client's.
        local bound=0
        while ((bound < ROUTES)) && read -r -t 5 line <&"$server_out"; do
            [[ "$line" == "new route "* ]] && bound=$((bound + 1))
        done
        ((bound == ROUTES)) || reason="the $server server printed $bound 'new route' lines ($ROUTES wanted)"
    fi
}

# Python against Python first: epsilon against itself.
for pairing in "python python" "rust python" "python rust" "rust rust"; do
    read -r client server <<<"$pairing"
    run_pairing "$client" "$server"
    stop_server
    name="$client route_client -> $server route_server"
    if [[ -z "$reason" ]]; then
        passed=$((passed + 1))
        echo "PASS $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name: $reason"
        for log in "$work/$client-$server.out" "$work/$client-$server.err" "$work/server-$server.err"; do
            if [[ -s "$log" ]]; then
                echo "--- ${log##*/}"
                cat "$log"
            fi
        done
    fi
done

echo "$passed passed, $failed failed"
((failed == 0))
