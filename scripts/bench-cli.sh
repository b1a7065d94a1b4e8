#!/usr/bin/env bash
# `amp bench` against the workspace's own benchmark client (bench/): both
# load the same amp-tokio server (`amp-bench server --impl amp`, one thread)
# with 256 calls in flight on one connection, one after the other, for R
# rounds; prints each round's rates and amp bench's share of the benchmark
# client's rate. A load tool must not be the bottleneck: the share should
# be 0.9 or more.
#
#     bash scripts/bench-cli.sh [--seconds S] [--rounds R]
#
# Builds bench/ and the amp command in release mode. Every process is
# bounded in time; the server is stopped on exit, Ctrl-C or SIGTERM.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/processes.sh
. "$repo/scripts/processes.sh"
seconds=3
rounds=3
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        *) echo "usage: $0 [--seconds S] [--rounds R]" >&2; exit 2 ;;
    esac
done

server=""
listening=""
cleanup() {
    stop_processes ${step:+"$step"} ${server:+"$server"}
    [ -z "$listening" ] || rm -f "$listening"
}
at_exit cleanup

run cargo build --quiet --release --manifest-path "$repo/bench/Cargo.toml"
run cargo build --quiet --release -p amp
bench="$repo/bench/target/release/amp-bench"
amp="$repo/target/release/amp"

listening=$(mktemp)
limit=$(( (2 * seconds + 4) * rounds + 30 ))
"$bench" server --impl amp --addr 127.0.0.1:0 --max-seconds "$limit" >"$listening" &
server=$!
for _ in $(seq 100); do
    grep -q '^LISTENING ' "$listening" && break
    sleep 0.1
done
port=$(sed -n 's/^LISTENING //p' "$listening" | head -1)
[ -n "$port" ] || { echo "the server did not start" >&2; exit 1; }

echo "| round | benchmark client (calls/s) | amp bench (calls/s) | share |"
echo "|---|---|---|---|"
total=0
for round in $(seq "$rounds"); do
    theirs=$(timeout $((seconds + 30)) "$bench" client --impl amp --addr "127.0.0.1:$port" \
        --conns 1 --inflight 256 --seconds "$seconds" --warmup 1 \
        | grep -Eo 'rate=[0-9]+' | cut -d= -f2)
    ours=$(timeout $((seconds + 30)) "$amp" bench --json "127.0.0.1:$port" Sum a=13 b=81 \
        -c 256 -d "${seconds}s" | grep -Eo '"rate":[0-9.]+' | cut -d: -f2)
    share=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.2f", a / b }')
    total=$(awk -v t="$total" -v s="$share" 'BEGIN { print t + s }')
    printf '| %s | %s | %.0f | %s |\n' "$round" "$theirs" "$ours" "$share"
done
awk -v t="$total" -v r="$rounds" 'BEGIN { printf "\nmean share: %.2f\n", t / r }'
