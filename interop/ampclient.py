"""
Twisted's documented AMP example client (docs/core/examples/ampclient.py in
Twisted 26.10.0), made usable as a test peer.

    python interop/ampclient.py [HOST:PORT]     (default 127.0.0.1:1234)
    python interop/ampclient.py unix:PATH       (a UNIX socket)

As documented, it opens two connections, calls Sum(a=13, b=81) on one and
Divide(numerator=1234, denominator=0) on the other, turns the declared
ZeroDivisionError (ZERO_DIVISION) into infinity, and prints exactly:

    Divided by zero: returning INF
    Done with math: [(True, 94), (True, inf)]

(the second line prints the result of the documented DeferredList: one
``(success, value)`` pair per call). What differs from the documented script:

- the address comes from the first argument (``HOST:PORT`` or ``unix:PATH``);
- any failure (connection refused or lost, a wrong error, a wrong answer)
  prints ``FAILED: <reason>`` on standard error and exits with status 1,
  where the documented client would print a Failure and exit 0;
- the run is limited to 20 seconds (``FAILED: timed out``, status 1);
- on success it exits with status 0.
"""

import sys

from ampserver import Divide, Sum

from twisted.internet import defer, reactor
from twisted.internet.endpoints import HostnameEndpoint, UNIXClientEndpoint, connectProtocol
from twisted.protocols.amp import AMP

from peer import line_buffered_stdout, parse_address

TIMEOUT = 20.0

# The process's exit status, set when the math is done or has failed.
status = {"code": 1}


def doMath(host, port):
    if host is None:
        # unix:PATH: the port is the socket's path.
        destination = UNIXClientEndpoint(reactor, port)
    else:
        destination = HostnameEndpoint(reactor, host, port)
    sumDeferred = connectProtocol(destination, AMP())

    def connected(ampProto):
        return ampProto.callRemote(Sum, a=13, b=81)

    sumDeferred.addCallback(connected)

    def summed(result):
        return result["total"]

    sumDeferred.addCallback(summed)

    divideDeferred = connectProtocol(destination, AMP())

    def connected(ampProto):
        return ampProto.callRemote(Divide, numerator=1234, denominator=0)

    divideDeferred.addCallback(connected)

    def trapZero(result):
        result.trap(ZeroDivisionError)
        print("Divided by zero: returning INF")
        return 1e1000

    divideDeferred.addErrback(trapZero)

    def done(result):
        print("Done with math:", result)
        if result == [(True, 94), (True, float("inf"))]:
            status["code"] = 0
        else:
            print(f"FAILED: unexpected results {result!r}", file=sys.stderr)
        reactor.stop()

    def failed(failure):
        # With fireOnOneErrback, the first failed call arrives as a FirstError.
        error = failure.value.subFailure if isinstance(failure.value, defer.FirstError) else failure
        print(f"FAILED: {error.getErrorMessage()} ({error.type.__name__})", file=sys.stderr)
        reactor.stop()

    defer.DeferredList(
        [sumDeferred, divideDeferred], fireOnOneErrback=True, consumeErrors=True
    ).addCallbacks(done, failed)


def timedOut():
    print(f"FAILED: timed out after {TIMEOUT:.0f} s", file=sys.stderr)
    reactor.stop()


if __name__ == "__main__":
    address = sys.argv[1] if len(sys.argv) > 1 else None
    if address and address.startswith("unix:"):
        host, port = None, address[len("unix:"):]
    else:
        host, port = parse_address(address)
    line_buffered_stdout()
    doMath(host, port)
    reactor.callLater(TIMEOUT, timedOut)
    reactor.run()
    sys.exit(status["code"])
