"""
Twisted AMP client of the RPC benchmark: the same workloads as
``amp-bench client``, on Twisted.

    python bench/twisted_client.py --addr HOST:PORT [--conns C] [--inflight I]
        [--seconds S] [--warmup W] [--server-pid PID] [--label TEXT]

Opens C connections (at most 64 handshakes at a time), keeps I Sum calls in
flight on each (a new callRemote as each answer comes), lets W seconds of
warm-up pass, counts the calls answered in the next S seconds and prints one
``RESULT key=value ...`` line, in the format of the Rust client, with the
latencies of those calls (from ``callRemote`` to the answer's callback:
``lat_calls``, ``p50_us``, ``p99_us``, ``p999_us``, ``max_us``).
"""

import math

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from twisted.internet import reactor  # noqa: E402
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol  # noqa: E402

from twisted_sum import (  # noqa: E402
    Sum,
    SumProtocol,
    cpu_seconds,
    machine_busy_seconds,
    machine_steal_seconds,
    parse_address,
    parse_options,
)

A, B = 13, 81


class Bench:
    def __init__(self, opts):
        self.opts = opts
        self.host, self.port = parse_address(opts["addr"])
        self.protocols = []
        self.to_connect = opts["conns"]
        self.connecting = 0
        self.done = 0
        self.errors = 0
        self.outstanding = 0
        self.stopping = False
        self.failure = None
        # Latencies (seconds) of the calls answered in the measured window.
        self.measuring = False
        self.latencies = []

    # -- connecting

    def start(self):
        for _ in range(min(64, self.to_connect)):
            self.connect_one()

    def connect_one(self):
        self.to_connect -= 1
        self.connecting += 1
        endpoint = TCP4ClientEndpoint(reactor, self.host, self.port)
        d = connectProtocol(endpoint, SumProtocol())
        d.addCallbacks(self.connected, self.connect_failed)

    def connected(self, proto):
        self.connecting -= 1
        self.protocols.append(proto)
        if self.to_connect > 0:
            self.connect_one()
        elif self.connecting == 0:
            self.run()

    def connect_failed(self, failure):
        self.failure = failure.getErrorMessage()
        reactor.stop()

    # -- calling

    def run(self):
        for proto in self.protocols:
            for _ in range(self.opts["inflight"]):
                self.call(proto)
        reactor.callLater(self.opts["warmup"], self.mark_start)

    def call(self, proto):
        self.outstanding += 1
        issued = time.perf_counter()
        d = proto.callRemote(Sum, a=A, b=B)
        d.addCallbacks(self.answered, self.failed, callbackArgs=(proto, issued), errbackArgs=(proto,))

    def answered(self, response, proto, issued):
        self.outstanding -= 1
        if response["total"] == A + B:
            if self.measuring:
                self.latencies.append(time.perf_counter() - issued)
            self.done += 1
        else:
            self.errors += 1
        if not self.stopping:
            self.call(proto)
        elif self.outstanding == 0:
            reactor.stop()

    def failed(self, failure, proto):
        self.outstanding -= 1
        self.errors += 1
        if not self.stopping and proto.transport.connected:
            self.call(proto)
        elif self.outstanding == 0:
            reactor.stop()

    # -- measuring

    def mark_start(self):
        self.c0, self.e0 = self.done, self.errors
        self.cpu0 = cpu_seconds("self")
        self.scpu0 = cpu_seconds(self.opts["server-pid"]) if self.opts["server-pid"] else None
        self.busy0 = machine_busy_seconds()
        self.steal0 = machine_steal_seconds()
        self.t0 = time.monotonic()
        self.measuring = True
        reactor.callLater(self.opts["seconds"], self.mark_end)

    def mark_end(self):
        self.measuring = False
        elapsed = time.monotonic() - self.t0
        calls, errors = self.done - self.c0, self.errors - self.e0
        cpu1 = cpu_seconds("self")
        scpu1 = cpu_seconds(self.opts["server-pid"]) if self.opts["server-pid"] else None
        busy1 = machine_busy_seconds()
        steal = (machine_steal_seconds() - self.steal0) / elapsed
        if None in (self.cpu0, cpu1, self.scpu0, scpu1):
            others = "na"
        else:
            used = (busy1 - self.busy0) - (cpu1 - self.cpu0) - (scpu1 - self.scpu0)
            others = f"{max(used, 0.0) / elapsed:.2f}"

        def cpu(a, b):
            return "na" if a is None or b is None else f"{(b - a) / elapsed:.2f}"

        print(
            f"RESULT impl=twisted label={self.opts['label'] or '-'} conns={self.opts['conns']} "
            f"inflight={self.opts['inflight']} calls={calls} seconds={elapsed:.3f} "
            f"rate={calls / elapsed:.0f} errors={errors} "
            f"client_cpu={cpu(self.cpu0, cpu1)} server_cpu={cpu(self.scpu0, scpu1)} "
            f"others_cpu={others} steal_cpu={steal:.2f} {latency_fields(self.latencies)}",
            flush=True,
        )
        self.stopping = True
        # Let the calls in flight come back (bounded), then stop.
        reactor.callLater(3, reactor.stop)


def latency_fields(latencies):
    """The RESULT line's latency fields, in microseconds: the value at or
    below which a fraction q of the calls fall (nearest rank, as the Rust
    client's histograms give it)."""
    if not latencies:
        return "lat_calls=0 p50_us=na p99_us=na p999_us=na max_us=na"
    xs = sorted(latencies)

    def at(q):
        return xs[max(math.ceil(q * len(xs)) - 1, 0)] * 1e6

    return (f"lat_calls={len(xs)} p50_us={at(0.5):.1f} p99_us={at(0.99):.1f} "
            f"p999_us={at(0.999):.1f} max_us={xs[-1] * 1e6:.1f}")


def main(argv):
    opts = parse_options(
        argv,
        {
            "addr": None,
            "conns": 1,
            "inflight": 1,
            "seconds": 3.0,
            "warmup": 1.0,
            "server-pid": None,
            "label": "",
        },
    )
    if not opts["addr"]:
        sys.exit("--addr is required")
    bench = Bench(opts)
    reactor.callWhenRunning(bench.start)
    # A hard bound, whatever happens.
    reactor.callLater(opts["warmup"] + opts["seconds"] + 120, reactor.stop)
    reactor.run()
    if bench.failure:
        sys.exit(f"twisted_client: {bench.failure}")


if __name__ == "__main__":
    main(sys.argv[1:])
