"""
What the Twisted side of the RPC benchmark shares: the Sum command of
Twisted's AMP howto, its protocol, and small helpers.
"""

import sys

from twisted.protocols import amp


class Sum(amp.Command):
    """``Sum(a: Integer, b: Integer) -> total: Integer``."""

    arguments = [(b"a", amp.Integer()), (b"b", amp.Integer())]
    response = [(b"total", amp.Integer())]


class SumProtocol(amp.AMP):
    """Answers Sum; Nagle off, as the Rust peers have it."""

    def connectionMade(self):
        amp.AMP.connectionMade(self)
        self.transport.setTcpNoDelay(True)

    @Sum.responder
    def sum(self, a, b):
        return {"total": a + b}


def parse_address(text):
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def parse_options(argv, defaults):
    """``--key value`` pairs over ``defaults`` (whose types they take)."""
    opts = dict(defaults)
    args = list(argv)
    while args:
        key = args.pop(0)
        if not key.startswith("--") or not args:
            sys.exit(f"bad argument {key!r}")
        name = key[2:]
        if name not in opts:
            sys.exit(f"unknown option {key}")
        value = args.pop(0)
        default = opts[name]
        opts[name] = type(default)(value) if default is not None else value
    return opts


def cpu_seconds(pid):
    """CPU seconds (user + system) process ``pid`` has used, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def machine_busy_seconds():
    """CPU seconds the whole machine has been busy (steal excluded)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / 100.0


def machine_steal_seconds():
    """CPU seconds the hypervisor gave this machine's CPUs to others."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[7] / 100.0 if len(v) > 7 else 0.0
