"""
A Twisted AMP client for the `amp` command's tests: calls the commands
named on its command line on HOST:PORT, one connection for all, and prints
one line per call on standard output:

    <Command> answer <the response dict's repr, keys sorted>
    <Command> error <exception class name> <str(exception)>

then ``done``. Commands come from interop/commands.py with fixed arguments
(below). Exits 0 once every call has an outcome, 1 on a time-out (10 s).

    python twisted_caller.py HOST:PORT Sum Divide ...
"""

import datetime
import decimal
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "interop"))

from twisted.internet import defer, reactor, task  # noqa: E402
from twisted.internet.endpoints import HostnameEndpoint, connectProtocol  # noqa: E402
from twisted.protocols import amp  # noqa: E402

import commands  # noqa: E402

ARGUMENTS = {
    "Sum": dict(a=13, b=81),
    "Divide": dict(numerator=1, denominator=0),
    "EchoInteger": dict(value=18446744073709551616),
    "EchoFloat": dict(value=0.1),
    "EchoDecimal": dict(value=decimal.Decimal("1.5E+2")),
    "EchoDateTime": dict(
        value=datetime.datetime(2012, 1, 23, 12, 34, 56, 54321,
                                tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30)))
    ),
    "EchoListOfString": dict(value=[b"a", b"\x00\xff"]),
    "EchoAmpList": dict(value=[{"name": "one", "items": [{"n": 1}], "note": "x"},
                               {"name": "two", "items": []}]),
    "EchoLong": {commands.LONG_KEY.decode(): b"k", "big": b"\x00" * 300},
    "Fatal": dict(),
}


def show(response):
    return "{" + ", ".join(f"{k!r}: {response[k]!r}" for k in sorted(response)) + "}"


@defer.inlineCallbacks
def main(reactor, address, names):
    host, port = address.rsplit(":", 1)
    proto = yield connectProtocol(HostnameEndpoint(reactor, host, int(port)), amp.AMP())
    for name in names:
        command = getattr(commands, name)
        try:
            response = yield proto.callRemote(command, **ARGUMENTS[name])
            print(f"{name} answer {show(response)}", flush=True)
        except Exception as e:  # every outcome is printed
            print(f"{name} error {type(e).__name__} {e}", flush=True)
    print("done", flush=True)
    proto.transport.loseConnection()


def run(reactor):
    d = main(reactor, sys.argv[1], sys.argv[2:])
    d.addTimeout(10, reactor)
    return d


if __name__ == "__main__":
    task.react(run)
