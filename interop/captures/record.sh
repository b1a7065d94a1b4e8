#!/usr/bin/env bash
# Records interop/captures/twisted-howto.pcap: Twisted's documented AMP
# example (interop/ampclient.py calling interop/ampserver.py: Sum(13, 81)
# answered 94, Divide(1234, 0) answered ZERO_DIVISION), captured on the
# loopback interface by tcpdump. `amp decode` reads it in the tests
# (amp-cli/tests/decode.rs).
#
#     bash interop/captures/record.sh            # needs tcpdump and the right to capture
#
# The capture is committed: the tests read it without tcpdump. Re-record it
# after changing the example, and review what `amp decode` prints of it.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
# shellcheck source=scripts/processes.sh
. scripts/processes.sh

command -v tcpdump >/dev/null || { echo "record.sh: tcpdump is needed" >&2; exit 1; }
PY="$(bash scripts/python-env.sh | tail -1)"
out=interop/captures/twisted-howto.pcap
work="$(mktemp -d)"
server="" capture=""
cleanup() {
    stop_children ${capture:+"$capture"} ${server:+"$server"}
    rm -rf "$work"
}
at_exit cleanup

"$PY" interop/ampserver.py 127.0.0.1:0 >"$work/server.out" 2>&1 &
server=$!
for _ in $(seq 50); do
    grep -q LISTENING "$work/server.out" && break
    sleep 0.1
done
port="$(awk '/LISTENING/ {print $2}' "$work/server.out")"
[[ -n "$port" ]] || { echo "record.sh: the server did not listen" >&2; exit 1; }

tcpdump -i lo -U -w "$work/capture.pcap" "tcp port $port" 2>"$work/tcpdump.err" &
capture=$!
sleep 1
"$PY" interop/ampclient.py "127.0.0.1:$port"
sleep 1
stop_children "$capture" || true
capture=""
cp "$work/capture.pcap" "$out"
echo "recorded $out"
