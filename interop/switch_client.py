"""
Twisted's side of a ProtocolSwitchCommand as caller, for the switching
interoperability tests: calls SwitchToEcho on a server of the catalogue,
writes bytes on the raw transport at once behind the request (before the
answer, in the same write as far as TCP goes), then more once switched,
and prints one JSON line: what came back through the echo.

    python interop/switch_client.py HOST:PORT

Exits 0 when the echo gave back every byte, in order; 1 otherwise (the
reason on standard error).
"""

import json
import sys

from twisted.internet import defer, reactor
from twisted.internet.protocol import ClientCreator, ClientFactory, Protocol

from commands import Sum, SwitchToEcho
from peer import InteropProtocol, line_buffered_stdout, log_to_stderr, parse_address

EARLY = b"sent right behind the request\n"
LATE = b"sent once switched\n"


class Collect(Protocol):
    """The protocol switched to: collects what the echo sends back."""

    def __init__(self):
        self.received = b""
        self.complete = defer.Deferred()

    def dataReceived(self, data):
        self.received += data
        if len(self.received) >= len(EARLY) + len(LATE) and not self.complete.called:
            self.complete.callback(self.received)


class CollectFactory(ClientFactory):
    def __init__(self):
        self.protocol_instance = Collect()

    def buildProtocol(self, addr):
        return self.protocol_instance


@defer.inlineCallbacks
def run(address):
    host, port = parse_address(address)
    proto = yield ClientCreator(reactor, InteropProtocol).connectTCP(host, port)
    factory = CollectFactory()
    switched = proto.callRemote(SwitchToEcho, _protoToSwitchToFactory=factory)
    # While the switch is pending Twisted refuses other calls.
    refused = {"kind": None}
    try:
        d = proto.callRemote(Sum, a=1, b=2)
        d.addCallbacks(
            lambda _: refused.update(kind="answered"),
            lambda f: refused.update(kind=f.type.__name__),
        )
    except Exception as e:
        refused["kind"] = type(e).__name__
    # Raw bytes behind the request, before the answer.
    proto.transport.write(EARLY)
    yield switched
    factory.protocol_instance.transport.write(LATE)
    received = yield factory.protocol_instance.complete
    print(json.dumps({"echoed": received.decode("utf-8"), "refused_meanwhile": refused["kind"]}))
    factory.protocol_instance.transport.loseConnection()


def main(argv):
    line_buffered_stdout()
    log_to_stderr()
    outcome = {"code": 1}

    def done(_):
        outcome["code"] = 0
        reactor.callLater(0.05, reactor.stop)

    def failed(failure):
        sys.stderr.write(f"switch_client failed: {failure.getTraceback()}\n")
        reactor.callLater(0, reactor.stop)

    reactor.callWhenRunning(lambda: run(argv[1]).addCallbacks(done, failed))
    reactor.callLater(30, reactor.stop)
    reactor.run()
    sys.exit(outcome["code"])


if __name__ == "__main__":
    main(sys.argv)
