#!/usr/bin/env bash
# Multiplexed-stream throughput: one stream carrying SIZE bytes (default
# 1 GiB) over loopback through the examples mux_proxy and mux_server of
# amp-mux (release builds; mux_server's forward: factory to a sink), against
# a plain TCP copy of the same bytes to the same sink. Prints the time and
# throughput of each, the ratio, and the peak resident memory (VmHWM) of
# mux_proxy and mux_server, which the per-stream window bounds.
#
#     bash scripts/bench-mux.sh [SIZE_MIB]
#
# The sender and the sink are the same small Python programs both times
# (standard library only, 1 MiB reads and writes).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/processes.sh
. scripts/processes.sh

mib=${1:-1024}
tmp=$(mktemp -d)
pids=()
cleanup() {
    stop_children "${pids[@]}" 2>/dev/null || true
    rm -rf "$tmp"
}
at_exit cleanup

cargo build --quiet --release -p amp-mux --features tokio --examples
bin=target/release/examples

cat >"$tmp/sink.py" <<'PY'
import socket, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0)); srv.listen(8)
print(f"LISTENING {srv.getsockname()[1]}", flush=True)
while True:
    conn, _ = srv.accept()
    total = 0
    while True:
        b = conn.recv(1 << 20)
        if not b:
            break
        total += len(b)
    conn.close()
    print(f"RECEIVED {total}", flush=True)
PY
cat >"$tmp/send.py" <<'PY'
import socket, sys, time
port, mib = int(sys.argv[1]), int(sys.argv[2])
chunk = bytes(range(256)) * 4096
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
start = time.monotonic()
for _ in range(mib):
    s.sendall(chunk)
s.shutdown(socket.SHUT_WR)
s.recv(1)  # the far end closes once everything arrived
print(f"{time.monotonic() - start:.3f}")
PY

# Starts "$@" with its output in $tmp/$name.out; sets port to its LISTENING port.
start() {
    local name=$1; shift
    : >"$tmp/$name.out"
    "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pids+=($!)
    eval "${name}_pid=$!"
    for _ in $(seq 100); do
        port=$(awk '/^LISTENING/ {print $2; exit}' "$tmp/$name.out")
        [ -n "$port" ] && return 0
        sleep 0.1
    done
    echo "$name did not start" >&2; cat "$tmp/$name.err" >&2; exit 1
}

start sink python3 "$tmp/sink.py"; sink_port=$port
start server "$bin/mux_server" 127.0.0.1:0; server_port=$port
start proxy "$bin/mux_proxy" 127.0.0.1:0 "127.0.0.1:$server_port" "forward:127.0.0.1:$sink_port"; proxy_port=$port

plain=$(python3 "$tmp/send.py" "$sink_port" "$mib")
muxed=$(python3 "$tmp/send.py" "$proxy_port" "$mib")
sleep 0.5
hwm() { awk '/VmHWM/ {print $2 " " $3}' "/proc/$1/status"; }
received=$(grep -c "RECEIVED $((mib * 1048576))" "$tmp/sink.out" || true)

python3 - "$mib" "$plain" "$muxed" <<PY
import sys
mib, plain, muxed = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"bytes: {mib} MiB, delivered whole: $received of 2")
print(f"plain TCP:           {plain:8.3f} s  {mib / plain:8.1f} MiB/s")
print(f"mux_proxy+mux_server:{muxed:8.3f} s  {mib / muxed:8.1f} MiB/s")
print(f"ratio: {plain / muxed:.2f} of plain TCP")
PY
echo "peak memory: mux_proxy $(hwm "$proxy_pid"), mux_server $(hwm "$server_pid")"
