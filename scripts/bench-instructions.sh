#!/usr/bin/env bash
# Instructions per call, counted: one side of the RPC benchmark runs under
# valgrind's callgrind while the other runs natively, and the instructions
# that side executed in user space are divided by the calls it served.
# Unlike calls per second, the count does not move with the machine's speed,
# so two builds can be compared in one run each.
#
#     bash scripts/bench-instructions.sh [--impl amp|raw|amp-smol|...]
#                                        [--side server|client]
#                                        [--inflight N] [--conns C]
#                                        [--seconds S]
#                                        [--top N] [--keep FILE]
#
# Prints `instructions_per_call=...` and the N functions (default 25) with
# the most instructions including what they call, per call; --keep copies
# the callgrind profile to FILE for callgrind_annotate. The count
# includes the process's start-up (about 1-3 % of the total at the default
# 4 s). Needs valgrind (callgrind_annotate comes with it). Every process is
# bounded in time; the server and the client are stopped on exit, Ctrl-C or
# SIGTERM.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/processes.sh
. "$repo/scripts/processes.sh"
imp=amp
side=server
inflight=1
conns=1
seconds=4
top=25
keep=
while [[ $# -gt 0 ]]; do
    case "$1" in
        --impl) imp="$2"; shift 2 ;;
        --side) side="$2"; shift 2 ;;
        --inflight) inflight="$2"; shift 2 ;;
        --conns) conns="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --top) top="$2"; shift 2 ;;
        --keep) keep="$2"; shift 2 ;;
        -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
case "$side" in server|client) ;; *) echo "--side is server or client" >&2; exit 2 ;; esac
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }

cargo build --release --quiet --manifest-path "$repo/bench/Cargo.toml"
bin="$repo/bench/target/release/amp-bench"
work="$(mktemp -d)"
spid=
# Stops the server and the client (`step`, see `run` in scripts/processes.sh).
cleanup() {
    stop_children ${step:+"$step"} ${spid:+"$spid"}
    rm -rf "$work"
}
at_exit cleanup

profile="$work/callgrind.out"
grind=(valgrind --quiet --tool=callgrind --callgrind-out-file="$profile")
# A TLS server writes its certificate where the client reads it.
tls=()
case "$imp" in *-tls) tls=(--cert "$work/cert.pem") ;; esac
server=("$bin" server --impl "$imp" --addr 127.0.0.1:0 ${tls[@]+"${tls[@]}"} --max-seconds $((seconds * 3 + 20)))
if [[ $side == server ]]; then server=("${grind[@]}" "${server[@]}"); fi
"${server[@]}" >"$work/server.out" 2>"$work/server.err" &
spid=$!
for _ in $(seq 400); do
    grep -q '^LISTENING' "$work/server.out" 2>/dev/null && break
    sleep 0.05
done
port="$(awk '/^LISTENING/{print $2}' "$work/server.out")"
[[ -n "$port" ]] || { echo "the server did not start" >&2; cat "$work/server.err" >&2; exit 1; }

# No warm-up: the calls counted are all the calls made.
client=("$bin" client --impl "$imp" --addr "127.0.0.1:$port" --conns "$conns"
    --inflight "$inflight" --seconds "$seconds" --warmup 0 ${tls[@]+"${tls[@]}"})
if [[ $side == client ]]; then client=("${grind[@]}" "${client[@]}"); fi
# With `run`, so that Ctrl-C or SIGTERM stop the script at once (see
# scripts/processes.sh).
run timeout $((seconds * 10 + 60)) "${client[@]}" >"$work/client.out"
calls="$(grep -o ' calls=[0-9]*' "$work/client.out" | cut -d= -f2)"
# The server under callgrind writes its profile when it exits (valgrind
# finishes it on SIGTERM; not on SIGINT, which a command started with & ignores
# when the shell has no job control, so that the server would run on until
# --max-seconds).
if [[ $side == server ]]; then
    kill -TERM "$spid"
    wait "$spid" 2>/dev/null || true
    spid=
fi
[[ -n "$calls" && "$calls" -gt 0 ]] || { echo "no calls completed" >&2; exit 1; }

if [[ -n "$keep" ]]; then cp "$profile" "$keep"; fi
total="$(callgrind_annotate "$profile" 2>/dev/null | awk '/PROGRAM TOTALS/{gsub(",", "", $1); print $1}')"
echo "impl=$imp side=$side conns=$conns inflight=$inflight calls=$calls instructions=$total instructions_per_call=$((total / calls))"
echo "per call, including callees:"
callgrind_annotate --inclusive=yes "$profile" 2>/dev/null |
    awk -v calls="$calls" '/^ *[0-9,]+ \(/{n = $1; gsub(",", "", n); $1 = ""; $2 = ""; printf "%8.0f %s\n", n / calls, $0}' |
    sed 's|/root/.cargo/registry/src/[^/]*/||; s|/rustc/[0-9a-f]*/||' |
    grep -vE 'PROGRAM TOTALS|below main|ld-linux|libc-start|lang_start|backtrace|\?\?\?:main ' |
    head -n "$top"
