"""
The server of epsilon's amprouter guide (the Divmod "AMP routes" how-to:
route_setup.py and route_server.py), running epsilon 0.8.0's real
``epsilon.amprouter`` on Twisted 26.10.0, made usable as a test peer.

    python interop/route_server.py [HOST:PORT]   (default 127.0.0.1:7805, the
                                                  guide's port; port 0 picks
                                                  a free port)

Each connection gets its own ``Router``; the connection's AMP protocol is its
default route (boxes without ``_route``) and answers
``NewRoute(name: Unicode) -> name: Unicode`` by binding a new route, served
by a fresh ``Counter``, connected to the caller's route ``name``; it answers
the new route's name (``"0"``, ``"1"``, ... per connection). ``Count() ->
value: Integer`` on a route counts that route's calls from 1.

The guide's code is kept as it is (``NewRoute``, ``RoutingAMP``,
``AMPRouteServerFactory``, ``connect``, ``Count`` and ``Counter`` below), but
for the byte-string argument names Twisted requires on Python 3. What differs
from the guide's script:

- the address comes from the first argument instead of the fixed port 7805;
- once listening it prints ``LISTENING <port>`` (flushed) instead of logging
  to standard output; then one line per new route, ``new route <name> for the
  caller's route <caller>``, as the Rust example does; Twisted's log
  (warnings and worse) goes to standard error;
- it stops when standard input, if it is a pipe, reaches end of file (as
  well as when it is killed);
- ``patch_epsilon_amprouter()`` below makes epsilon's router work on
  Python 3 (see there).

route_client.py imports the commands, ``connect`` and the patch from here,
as the guide's client imports route_setup and route_server.
"""

import operator
import sys

from epsilon import amprouter
from epsilon.amprouter import Router
from twisted.internet.protocol import ServerFactory
from twisted.protocols.amp import AMP, Command, Integer, Unicode

from peer import line_buffered_stdout, log_to_stderr, parse_address, stop_when_stdin_closes

# -- Compatibility patch: epsilon 0.8.0's amprouter on Python 3 ----------------


def patch_epsilon_amprouter():
    """
    Make epsilon 0.8.0's ``amprouter`` put routes on the wire on Python 3.

    epsilon was written for Python 2, where ``'_route'`` was a byte string
    like every other key of a Twisted AMP box, and where the text route name
    ``u'0'`` and the received bytes ``'0'`` were equal (with equal hashes).
    On Python 3 neither holds:

    - ``Route.sendBox`` writes the key as the text ``'_route'`` beside
      Twisted's ``bytes`` keys, and the value is the text name: serializing
      the box fails (``TypeError``: sorting ``str`` against ``bytes`` keys,
      and Twisted refuses text keys and values);
    - ``Router.ampBoxReceived`` pops the text key ``'_route'``, which a
      received box (``bytes`` keys) never has, so every box would go to the
      default route; and the received name is ``b'0'``, which does not find
      the route bound as ``'0'``.

    The patch, three changes and nothing else:

    1. ``amprouter._ROUTE = b"_route"``: the key is the bytes key, read and
       written by epsilon's own ``sendBox`` and ``ampBoxReceived``;
    2. ``Route.connectTo`` stores a text remote route name as its ASCII bytes,
       so ``sendBox`` writes ``_route`` as bytes on the wire;
    3. ``Router.ampBoxReceived`` turns the received ``_route`` bytes back into
       ASCII text before epsilon's own method pops it and looks up the route
       (route names stay text in Python, as the guide's code uses them: the
       ``NewRoute`` argument and answer are ``Unicode``).

    A name that is not ASCII raises ``UnicodeError``, as Python 2's implicit
    conversions did. Safe to call more than once.
    """
    if getattr(amprouter, "_python3_patched", False):
        return
    amprouter._ROUTE = b"_route"

    connect_to = amprouter.Route.connectTo

    def connectTo(self, remoteRouteName):
        if isinstance(remoteRouteName, str):
            remoteRouteName = remoteRouteName.encode("ascii")
        connect_to(self, remoteRouteName)

    box_received = amprouter.Router.ampBoxReceived

    def ampBoxReceived(self, box):
        name = box.get(b"_route")
        if name is not None:
            box[b"_route"] = name.decode("ascii")
        box_received(self, box)

    amprouter.Route.connectTo = connectTo
    amprouter.Router.ampBoxReceived = ampBoxReceived
    amprouter._python3_patched = True


patch_epsilon_amprouter()

# -- The guide's route_setup.py --------------------------------------------------


class NewRoute(Command):
    arguments = [(b"name", Unicode())]
    response = [(b"name", Unicode())]


class RoutingAMP(AMP):
    @NewRoute.responder
    def newRoute(self, name):
        route = self.boxReceiver.bindRoute(self.factory.routeProtocol())
        route.connectTo(name)
        # Not in the guide: say so, as the Rust example does.
        print(f"new route {route.localRouteName} for the caller's route {name}")
        return {"name": route.localRouteName}


class AMPRouteServerFactory(ServerFactory):
    protocol = RoutingAMP
    routeProtocol = None

    def buildProtocol(self, addr):
        router = Router()
        proto = self.protocol(router)
        proto.factory = self
        default = router.bindRoute(proto, None)
        default.connectTo(None)
        return proto


def connect(proto, router, receiver):
    route = router.bindRoute(receiver)
    d = proto.callRemote(NewRoute, name=route.localRouteName)
    d.addCallback(operator.getitem, "name")
    d.addCallback(lambda name: route.connectTo(name))

    def connectionFailed(err):
        route.unbind()
        return err

    d.addErrback(connectionFailed)
    return d


# -- The guide's route_server.py -------------------------------------------------


class Count(Command):
    response = [(b"value", Integer())]


class Counter(AMP):
    _valueCounter = 0

    @Count.responder
    def count(self):
        self._valueCounter += 1
        return {"value": self._valueCounter}


def main(argv):
    from twisted.internet import reactor

    host, port = parse_address(argv[1] if len(argv) > 1 else None, "127.0.0.1:7805")
    line_buffered_stdout()
    log_to_stderr()
    serverFactory = AMPRouteServerFactory()
    serverFactory.routeProtocol = Counter
    listening = reactor.listenTCP(port, serverFactory, interface=host)
    print(f"LISTENING {listening.getHost().port}")
    stop_when_stdin_closes()
    reactor.run()


if __name__ == "__main__":
    main(sys.argv)
