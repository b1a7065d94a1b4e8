"""
The client of epsilon's amprouter guide (route_client.py of the Divmod "AMP
routes" how-to), running epsilon 0.8.0's real ``epsilon.amprouter`` on
Twisted 26.10.0, made usable as a test peer.

    python interop/route_client.py HOST:PORT   (default 127.0.0.1:7805)

As in the guide: one connection whose ``Router`` has the connection's AMP
protocol as its default route; three routes, each served by a
``CountClient``, set up at once with the guide's ``connect`` (bind a route,
``NewRoute(name=<its name>)`` on the default route, connect the route to the
name answered); as soon as a route is connected its ``CountClient`` calls
``Count`` on it, all calls in flight together. What differs from the guide's
script:

- the address comes from the first argument;
- each route calls ``Count`` exactly 4 times (the guide: 1 to 4 times at
  random), and instead of printing each value as it comes, the client prints,
  once every route is done, one line per route in the order they were
  created, with the route's name on this side and its values sorted, as the
  Rust example does::

      route 0: [1, 2, 3, 4]
      route 1: [1, 2, 3, 4]
      route 2: [1, 2, 3, 4]

- any failure (connection refused or lost, a failed call) prints ``FAILED:
  <reason>`` on standard error and exits with status 1; the run is limited to
  20 seconds (``FAILED: timed out``, status 1); on success it exits with
  status 0;
- epsilon's router is patched to work on Python 3: see
  ``route_server.patch_epsilon_amprouter``, applied when it is imported.
"""

import sys

from epsilon.amprouter import Router
from twisted.internet import defer, reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import HostnameEndpoint, connectProtocol
from twisted.protocols.amp import AMP

from peer import line_buffered_stdout, parse_address, stop_reactor
from route_server import Count, connect

ROUTES = 3
COUNTS = 4
TIMEOUT = 20.0

# The process's exit status, set when the counts are in or have failed.
status = {"code": 1}


class CountClient(AMP):
    def __init__(self, identifier):
        AMP.__init__(self)
        self.identifier = identifier
        self.finished = Deferred()

    def startReceivingBoxes(self, sender):
        AMP.startReceivingBoxes(self, sender)
        # The route (our IBoxSender): its name on this side.
        self.name = sender.localRouteName

        counts = []
        for i in range(COUNTS):
            d = self.callRemote(Count)
            d.addCallback(lambda answer: answer["value"])
            counts.append(d)
        gatherResults(counts).chainDeferred(self.finished)


def makeRoutes(proto, router):
    router.bindRoute(proto, None).connectTo(None)

    clients = []
    finish = []
    for i in range(ROUTES):
        client = CountClient(i)
        clients.append(client)
        finish.append(connect(proto, router, client))
        finish.append(client.finished)
    d = gatherResults(finish, consumeErrors=True)
    # Each route's values come after its connect()'s result.
    d.addCallback(lambda results: [(c.name, v) for c, v in zip(clients, results[1::2])])
    return d


def main(host, port):
    router = Router()
    d = connectProtocol(HostnameEndpoint(reactor, host, port), AMP(router))
    d.addCallback(makeRoutes, router)

    def done(results):
        for name, values in results:
            print(f"route {name}: {sorted(values)}")
        status["code"] = 0
        stop_reactor()

    def failed(failure):
        error = failure.value.subFailure if isinstance(failure.value, defer.FirstError) else failure
        print(f"FAILED: {error.getErrorMessage()} ({error.type.__name__})", file=sys.stderr)
        stop_reactor()

    d.addCallbacks(done, failed)


def timedOut():
    print(f"FAILED: timed out after {TIMEOUT:.0f} s", file=sys.stderr)
    stop_reactor()


if __name__ == "__main__":
    host, port = parse_address(sys.argv[1] if len(sys.argv) > 1 else None, "127.0.0.1:7805")
    line_buffered_stdout()
    main(host, port)
    reactor.callLater(TIMEOUT, timedOut)
    reactor.run()
    sys.exit(status["code"])
