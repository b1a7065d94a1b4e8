#!/usr/bin/env bash
# Loopback RPC benchmark: amp-tokio and amp-async-std (on async-std and on
# smol) against a raw TCP ping-pong of the same bytes (on tokio and on smol),
# tarpc (bincode and JSON) and Twisted AMP, with every client and server in a
# process of its own, all on 127.0.0.1.
#
#     bash scripts/bench-rpc.sh [--seconds S] [--warmup W] [--conns N]
#                               [--rounds R] [--budget SECONDS] [--out FILE]
#                               [--no-twisted]
#
# Workloads (each client runs W seconds of warm-up, then counts the Sum calls
# completed in S seconds):
#   sequential    1 connection, 1 call in flight
#   pipelined16   1 connection, 16 calls in flight
#   pipelined256  1 connection, 256 calls in flight
#   connsN        N connections (default 1000), 1 call in flight on each
#
# Latency: every client also records the latency of each call completed in
# the measured window (not the warm-up) and reports p50, p99, p99.9 and the
# maximum in microseconds. A call's latency runs from the moment the caller
# issues it to the moment it has the whole answer (AMP, tarpc: the call's
# future completes; Twisted: the Deferred's callback runs). The raw
# ping-pong has no calls: it reads the clock before each write of requests
# and after each read, and matches every whole answer a read completes with
# the oldest request not yet answered (the server answers in order). These
# are closed-loop latencies: with I calls in flight the mean is about I
# divided by the connection's rate. The Rust clients record into one
# hdrhistogram per thread (3 significant digits), merged at the end.
#
# The machine may be shared: before each measurement the script waits (a few
# seconds at most) for the other processes to go quiet, every result records
# the CPU that other processes used during its window (others_cpu), and a
# run disturbed by more than 0.25 of a core is repeated (at most twice, and
# only while the time budget allows), keeping the least disturbed one.
#
# Pairs (client -> server): raw -> raw, amp-tokio -> amp-tokio,
# amp-async-std -> amp-async-std on async-std and on smol, raw -> raw on smol,
# tarpc -> tarpc (bincode, JSON), Twisted -> Twisted, amp-tokio -> Twisted,
# Twisted -> amp-tokio; and on tokio over other transports: amp-tokio and the
# raw ping-pong over TLS from the first byte (rustls, a certificate the server
# makes as it starts) and over a UNIX socket. Every Rust process runs its tasks on one thread
# (amp-bench's default --threads 1). All servers start first and stay idle
# while not measured; then each workload runs against each pair in turn, so a
# slow moment of the machine is spread over all pairs instead of one. With
# --rounds R > 1 everything runs R times and the report takes the median
# (of each rate, CPU figure and latency percentile).
#
# Builds bench/ (its own cargo workspace) in release mode, gets Twisted from
# scripts/python-env.sh, prints a Markdown report and writes it to FILE
# (default bench/target/bench-rpc.md), with the raw result lines beside it
# (FILE with .txt). The report gives calls per second, CPU per call and the
# latency percentiles of every pair, and whether amp-tokio's p99 and p99.9
# are no worse than tarpc (bincode)'s. Every process is bounded in time;
# servers are killed on exit, clients too on Ctrl-C or SIGTERM. Defaults
# take three to four minutes on 2 cores (five at worst).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/processes.sh
. "$repo/scripts/processes.sh"
seconds=3
warmup=1
conns=1000
rounds=1
# Seconds of measuring after which disturbed runs are no longer repeated and
# the script no longer waits for quiet.
budget=180
out="$repo/bench/target/bench-rpc.md"
twisted=1

while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --warmup) warmup="$2"; shift 2 ;;
        --conns) conns="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --budget) budget="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --no-twisted) twisted=0; shift ;;
        -h|--help) sed -n '2,55p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "bench-rpc: unknown argument $1" >&2; exit 2 ;;
    esac
done

log() { printf 'bench-rpc: %s\n' "$*" >&2; }

# 1,000 connections need 1,000 descriptors in each process, plus slack.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) < conns + 64 )); then
    log "warning: open-file limit $(ulimit -n) is low for $conns connections"
fi

log "building bench/ (release)"
cargo build --release --quiet --manifest-path "$repo/bench/Cargo.toml"
bin="$repo/bench/target/release/amp-bench"

py=""
if (( twisted )); then
    if py="$(bash "$repo/scripts/python-env.sh" | tail -1)" && [[ -x "$py" ]]; then
        log "python: $py"
    else
        log "warning: no Twisted environment; Twisted pairs are skipped"
        py=""
        twisted=0
    fi
fi

mkdir -p "$(dirname "$out")"
results="${out%.md}.txt"
: >"$results"
work="$(mktemp -d)"
server_pids=()
# Stops the servers and the client (`step`, see `run` in
# scripts/processes.sh).
cleanup() {
    stop_children ${step:+"$step"} ${server_pids[@]+"${server_pids[@]}"}
    rm -rf "$work"
}
at_exit cleanup

# Servers stop by themselves after this long, should this script die.
server_max=$(( 900 ))
# A client gets this long before it is killed.
client_max="$(awk -v s="$seconds" -v w="$warmup" 'BEGIN { printf "%d", s + w + 90 }')"

declare -A port pid addr extra
# start_server NAME KIND IMPL: KIND is rust or twisted. Sets the address
# clients connect to (addr[NAME]) and what else they need (extra[NAME]).
start_server() {
    local name="$1" kind="$2" impl="$3" file="$work/server-$1.out"
    local listen=127.0.0.1:0 more=()
    extra[$name]=""
    case "$impl" in
        *-unix) listen="$work/$name.sock" ;;
        *-tls) more=(--cert "$work/$name.pem"); extra[$name]="--cert $work/$name.pem" ;;
    esac
    : >"$file"
    case "$kind" in
        rust) "$bin" server --impl "$impl" --addr "$listen" ${more[@]+"${more[@]}"} --max-seconds "$server_max" >"$file" 2>"$work/server-$name.err" & ;;
        twisted) "$py" "$repo/bench/twisted_server.py" --addr 127.0.0.1:0 --max-seconds "$server_max" >"$file" 2>"$work/server-$name.err" & ;;
    esac
    pid[$name]=$!
    server_pids+=("$!")
    local i
    for i in $(seq 200); do
        if grep -q '^LISTENING ' "$file"; then
            port[$name]="$(awk '/^LISTENING /{ print $2; exit }' "$file")"
            case "$impl" in
                *-unix) addr[$name]="$listen" ;;
                *) addr[$name]="127.0.0.1:${port[$name]}" ;;
            esac
            log "server $name ($kind $impl) on ${addr[$name]}, pid ${pid[$name]}"
            return
        fi
        if ! kill -0 "${pid[$name]}" 2>/dev/null; then break; fi
        sleep 0.05
    done
    cat "$work/server-$name.err" >&2
    log "server $name did not start"
    exit 1
}

# Pairs: NAME CLIENT-KIND CLIENT-IMPL SERVER-NAME
pairs=(
    "raw rust raw raw"
    "amp rust amp amp"
    "amp-async-std rust amp-async-std amp-async-std"
    "amp-smol rust amp-smol amp-smol"
    "raw-smol rust raw-smol raw-smol"
    "tarpc rust tarpc tarpc"
    "tarpc-json rust tarpc-json tarpc-json"
    "raw-tls rust raw-tls raw-tls"
    "amp-tls rust amp-tls amp-tls"
    "raw-unix rust raw-unix raw-unix"
    "amp-unix rust amp-unix amp-unix"
)
start_server raw rust raw
start_server amp rust amp
start_server amp-async-std rust amp-async-std
start_server amp-smol rust amp-smol
start_server raw-smol rust raw-smol
start_server tarpc rust tarpc
start_server tarpc-json rust tarpc-json
start_server raw-tls rust raw-tls
start_server amp-tls rust amp-tls
start_server raw-unix rust raw-unix
start_server amp-unix rust amp-unix
if (( twisted )); then
    start_server twisted twisted sum
    pairs+=(
        "twisted twisted - twisted"
        "amp-to-twisted rust amp twisted"
        "twisted-to-amp twisted - amp"
    )
fi

workloads=(
    "sequential 1 1"
    "pipelined16 1 16"
    "pipelined256 1 256"
    "conns$conns $conns 1"
)

# Busy cores of the whole machine over the last half second.
busy_cores() {
    local a b
    a="$(head -1 /proc/stat)"
    sleep 0.5
    b="$(head -1 /proc/stat)"
    awk -v a="$a" -v b="$b" 'BEGIN {
        split(a, x, " "); split(b, y, " ");
        busy = (y[2]-x[2]) + (y[3]-x[3]) + (y[4]-x[4]) + (y[7]-x[7]) + (y[8]-x[8]);
        printf "%.2f", busy / 100 / 0.5 }'
}

# Waits (at most 8 s) until other processes use less than 0.3 of a core.
wait_quiet() {
    local i
    for i in $(seq 16); do
        awk -v b="$(busy_cores)" 'BEGIN { exit !(b < 0.3) }' && return 0
    done
    return 0
}

within_budget() { (( $(date +%s) - started < budget )); }

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
started=$(date +%s)
for round in $(seq "$rounds"); do
    for w in "${workloads[@]}"; do
        read -r wname wconns winflight <<<"$w"
        for p in "${pairs[@]}"; do
            read -r pname ckind cimpl sname <<<"$p"
            args=(--addr "${addr[$sname]}" --conns "$wconns" --inflight "$winflight"
                  --seconds "$seconds" --warmup "$warmup" --server-pid "${pid[$sname]}" --label "$pname")
            # shellcheck disable=SC2206 # a path without spaces
            [[ -n "${extra[$sname]}" ]] && args+=(${extra[$sname]})
            case "$ckind" in
                rust) cmd=("$bin" client --impl "$cimpl" "${args[@]}") ;;
                twisted) cmd=("$py" "$repo/bench/twisted_client.py" "${args[@]}") ;;
            esac
            best="" best_others=""
            for attempt in 1 2 3; do
                if (( attempt > 1 )) && ! within_budget; then break; fi
                if within_budget; then wait_quiet; fi
                # With `run`, so that Ctrl-C or SIGTERM stop the script at
                # once (see scripts/processes.sh).
                client_ok=1
                run timeout "$client_max" "${cmd[@]}" >"$work/client.out" 2>"$work/client.err" || client_ok=0
                if ! ((client_ok)) || ! line="$(grep '^RESULT ' "$work/client.out")"; then
                    log "round $round $wname $pname: FAILED"
                    sed 's/^/    /' "$work/client.err" >&2
                    continue
                fi
                others="$(grep -o 'others_cpu=[0-9.na]*' <<<"$line" | cut -d= -f2)"
                [[ "$others" == na ]] && others=0
                log "round $round $wname $pname: $(grep -o 'rate=[0-9]*' <<<"$line")/s, $(grep -o 'p99_us=[0-9.na]*' <<<"$line" || echo 'p99_us=?') (others ${others})"
                if [[ -z "$best" ]] || awk -v o="$others" -v b="$best_others" 'BEGIN { exit !(o < b) }'; then
                    best="$line" best_others="$others"
                fi
                awk -v o="$others" 'BEGIN { exit !(o <= 0.25) }' && break
            done
            if [[ -n "$best" ]]; then
                echo "pair=$pname workload=$wname round=$round attempts=$attempt ${best#RESULT }" >>"$results"
            else
                echo "pair=$pname workload=$wname round=$round failed=1" >>"$results"
            fi
        done
    done
done
elapsed=$(( $(date +%s) - started ))
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

locked() { awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/[^0-9.]/, ""); print; exit }' "$repo/bench/Cargo.lock"; }
tarpc_version="$(locked tarpc)"
twisted_version=""
python_version=""
if [[ -n "$py" ]]; then
    twisted_version="$("$py" -c 'import twisted; print(twisted.__version__)')"
    python_version="$("$py" -c 'import platform; print(platform.python_version())')"
fi
revision="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$repo" status --porcelain -- amp-core/src amp-tokio/src amp-async-std/src amp-core/Cargo.toml amp-tokio/Cargo.toml amp-async-std/Cargo.toml 2>/dev/null)" ]]; then
    revision="$revision with uncommitted changes in amp-core/amp-tokio/amp-async-std"
fi
"${py:-python3}" "$repo/bench/report.py" "$results" \
    "revision=$revision" \
    "command=bash scripts/bench-rpc.sh --seconds $seconds --warmup $warmup --conns $conns --rounds $rounds --budget $budget" \
    "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
    "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
    "nproc=$(nproc)" \
    "kernel=$(uname -r)" \
    "rustc=$(rustc --version)" \
    "tarpc=$tarpc_version" \
    "tokio=$(locked tokio)" \
    "async-std=$(locked async-std)" \
    "smol=$(locked smol)" \
    "async-io=$(locked async-io)" \
    "python=$python_version" \
    "twisted=$twisted_version" \
    "load_before=$load_before" \
    "load_after=$load_after" \
    "elapsed=${elapsed}s" \
    "seconds=$seconds" \
    "warmup=$warmup" \
    >"$out"
cat "$out"
log "report written to $out (raw results in $results)"
