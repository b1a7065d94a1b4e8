#!/usr/bin/env bash
# Server memory per idle connection: a benchmark server (amp-bench, release
# build) in one process, N connections to it from a client in another
# (`amp-bench hold`: one call on each, then idle), and the server's resident
# memory (VmRSS) before and after, divided by N. The same for the raw
# ping-pong server and tarpc (bincode) beside it.
#
#     bash scripts/bench-idle.sh [--conns N] [--impls "amp raw tarpc"]
#
# Every process is bounded in time and stopped on exit, Ctrl-C or SIGTERM.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/processes.sh
. "$repo/scripts/processes.sh"
conns=10000
impls="amp raw tarpc"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --conns) conns="$2"; shift 2 ;;
        --impls) impls="$2"; shift 2 ;;
        -h|--help) sed -n '2,11p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "bench-idle: unknown argument $1" >&2; exit 2 ;;
    esac
done
log() { printf 'bench-idle: %s\n' "$*" >&2; }

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) < conns + 64 )); then
    log "open-file limit $(ulimit -n) is too low for $conns connections"
    exit 1
fi

cargo build --release --quiet --manifest-path "$repo/bench/Cargo.toml"
bin="$repo/bench/target/release/amp-bench"
work="$(mktemp -d)"
pids=()
cleanup() {
    stop_children ${pids[@]+"${pids[@]}"}
    rm -rf "$work"
}
at_exit cleanup

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

printf '| server | connections | RSS before (KiB) | RSS with them open (KiB) | per connection (KiB) |\n'
printf '|---|---:|---:|---:|---:|\n'
for imp in $impls; do
    "$bin" server --impl "$imp" --addr 127.0.0.1:0 --max-seconds 300 >"$work/$imp.out" 2>"$work/$imp.err" &
    server=$!
    pids+=("$server")
    for _ in $(seq 200); do
        grep -q '^LISTENING ' "$work/$imp.out" && break
        sleep 0.05
    done
    port="$(awk '/^LISTENING /{ print $2; exit }' "$work/$imp.out")"
    [[ -n "$port" ]] || { cat "$work/$imp.err" >&2; log "server $imp did not start"; exit 1; }
    sleep 0.5
    before="$(rss_kib "$server")"
    "$bin" hold --impl "$imp" --addr "127.0.0.1:$port" --conns "$conns" --seconds 120 >"$work/hold-$imp.out" 2>"$work/hold-$imp.err" &
    client=$!
    pids+=("$client")
    for _ in $(seq 1200); do
        grep -q '^READY ' "$work/hold-$imp.out" && break
        kill -0 "$client" 2>/dev/null || break
        sleep 0.1
    done
    grep -q '^READY ' "$work/hold-$imp.out" || { cat "$work/hold-$imp.err" >&2; log "client for $imp did not get ready"; exit 1; }
    # Let the server finish with the last connections.
    sleep 1
    after="$(rss_kib "$server")"
    awk -v i="$imp" -v n="$conns" -v b="$before" -v a="$after" \
        'BEGIN { printf "| %s | %d | %d | %d | %.1f |\n", i, n, b, a, (a - b) / n }'
    kill "$client" "$server" 2>/dev/null || true
    wait "$client" "$server" 2>/dev/null || true
done
