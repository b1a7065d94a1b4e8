"""
Records the AMP wire vectors (interop/vectors/twisted-amp.json) from the real
``twisted.protocols.amp``, and epsilon 0.8.0's ``epsilon.amprouter`` for
routes, run in this process.

    python interop/record_vectors.py OUT.json                  write the vectors
    python interop/record_vectors.py --check FILE               record, compare with FILE
    python interop/record_vectors.py --compare RECORDED FILE    compare two files

Run it with the suite's Python (``PY=$(bash scripts/python-env.sh | tail
-1)``), which has the pinned Twisted, epsilon and pyOpenSSL. The format is
described in interop/vectors/README.md. ``--check`` and ``--compare`` exit 0
when FILE holds exactly the bytes recorded, 1 when not, after naming every
vector that differs (list, index, and its note or type and value) and the
fields that differ; 2 for a usage error. scripts/check-vectors.sh uses them.

Most vectors come from Twisted protocols connected to each other in memory
(``StringTransport``s, the bytes each side wrote handed to the other until
both are quiet): Twisted's client and Twisted's server do all the work, the
recorder only writes down the bytes. StartTLS and Descriptor need a real
transport: they run on the reactor, StartTLS over TCP on the loopback
interface, Descriptor over a UNIX socket pair (``sendmsg``), and only what is
deterministic is kept (AMP boxes in clear, never TLS bytes, certificates,
ports or descriptor numbers).

The output is deterministic: fixed inputs in a fixed order, ``_ask`` tags from
Twisted's own per-connection counters, no time, no randomness, no path of this
machine. Two runs write the same bytes.
"""

import datetime
import decimal
import json
import os
import re
import socket
import sys

import twisted
from twisted.internet import defer, protocol
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, formatEventAsClassicLogText, globalLogBeginner
from twisted.protocols import amp
from twisted.python import filepath
from twisted.python.failure import Failure

# The epsilon guide's route commands and server, and the Python 3 patch of
# epsilon's amprouter (applied on import): the code the route peers run.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from epsilon.amprouter import Router  # noqa: E402
from route_server import AMPRouteServerFactory, Count, Counter, connect  # noqa: E402

GENERATOR = f"twisted.protocols.amp {twisted.__version__}"

# How long the reactor part (StartTLS, Descriptor) may take.
LIVE_TIMEOUT = 30.0


# -- Helpers ----------------------------------------------------------------------


def hexs(data):
    return bytes(data).hex()


def box_pairs(wire):
    """``[key, value_hex]`` for each pair of the one box in ``wire``, in wire
    order (Twisted's parser keeps it)."""
    boxes = amp.parseString(bytes(wire))
    assert len(boxes) == 1, f"expected one box, got {len(boxes)}"
    return [[k.decode("ascii"), hexs(v)] for k, v in boxes[0].items()]


def first_box_end(wire):
    """Where the box at the start of ``wire`` ends (after its terminator);
    whatever follows is not looked at."""
    at = 0
    while True:
        klen = int.from_bytes(wire[at : at + 2], "big")
        at += 2
        if klen == 0:
            return at
        at += klen
        at += 2 + int.from_bytes(wire[at : at + 2], "big")


def outcome(r):
    """A call's result in the vectors' terms: ``["ok", {key: str(value)}]``,
    or ``["error", exception class, errorCode]`` (the code a
    ``RemoteAmpError`` carries, else empty)."""
    if isinstance(r, Failure):
        code = getattr(r.value, "errorCode", b"") or b""
        return ["error", type(r.value).__name__, code.decode("ascii")]
    return ["ok", {str(k): str(v) for k, v in r.items()}]


class Result:
    """Collects a ``callRemote`` Deferred's result as soon as it has one (an
    errback must be in place before an error answer arrives, or Twisted
    treats the failure as unhandled and drops the connection)."""

    def __init__(self, d):
        self.got = []
        d.addBoth(self.got.append)

    def get(self):
        """The result, in the terms of ``outcome``."""
        assert self.got, "the call has not finished"
        return outcome(self.got[0])


def quiet(d):
    """Consume a Deferred's failure so that it is not logged as unhandled."""
    if d is not None:
        d.addErrback(lambda f: None)
    return d


class Wire:
    """
    Two protocols connected in memory. ``pump`` hands what each side wrote to
    the other until both are quiet, keeping every byte in ``c2s`` and ``s2c``.
    Once a side has asked to close, its last bytes are delivered and both
    sides learn that the connection is gone; nothing written after that is
    delivered.
    """

    def __init__(self, client, server):
        self.client, self.server = client, server
        self.ct, self.st = StringTransport(), StringTransport()
        self.c2s, self.s2c = bytearray(), bytearray()
        self.lost = False
        server.makeConnection(self.st)
        client.makeConnection(self.ct)

    def pump(self):
        while not self.lost:
            moved = False
            for src, dst, log in (
                (self.ct, self.server, self.c2s),
                (self.st, self.client, self.s2c),
            ):
                data = src.value()
                if data:
                    src.clear()
                    log += data
                    moved = True
                    dst.dataReceived(data)
            if not moved:
                if self.ct.disconnecting or self.st.disconnecting:
                    self.lost = True
                    reason = Failure(ConnectionDone())
                    self.server.connectionLost(reason)
                    self.client.connectionLost(reason)
                return

    @property
    def server_closed(self):
        return bool(self.st.disconnecting)


# -- arguments --------------------------------------------------------------------


def stable_repr(obj):
    """``repr(obj)`` without object addresses (a DateTime's tzinfo has one,
    different on every run)."""
    return re.sub(r" object at 0x[0-9a-f]+>", " object>", repr(obj))


def argument_cases():
    """``(type label, argument, value label, Python value)``, in file order."""
    cases = []

    def add(label, arg, values, show=repr):
        for v in values:
            cases.append((label, arg, show(v), v))

    add(
        "Integer",
        amp.Integer(),
        [0, 1, -1, 42, 2**31, 2**63 - 1, -(2**63), 2**64, 10**30, -(10**30)],
        show=str,
    )
    add(
        "String",
        amp.String(),
        [b"", b"hello", b"\x00\x01\xff\xfe", bytes(range(256))],
        show=hexs,
    )
    add(
        "Unicode",
        amp.Unicode(),
        ["", "hello", "h\u00e9llo w\u00f6rld", "\u65e5\u672c\u8a9e", "\U0001f600 emoji", "nul\x00inside"],
        show=str,
    )
    add("Boolean", amp.Boolean(), [True, False], show=str)
    add(
        "Float",
        amp.Float(),
        [
            0.0,
            -0.0,
            1.0,
            -1.5,
            0.1,
            1e16,
            1e-07,
            123456789.12345679,
            sys.float_info.max,
            5e-324,
            float("inf"),
            float("-inf"),
            float("nan"),
        ],
    )
    for text in [
        "0",
        "-0",
        "1",
        "1.0",
        "10",
        "1E+2",
        "1E-1",
        "1.5E+2",
        "-3.14159",
        "Infinity",
        "-Infinity",
        "NaN",
        "-NaN",
        "sNaN",
        "-sNaN",
        "12345678901234567890.123456789",
    ]:
        cases.append(("Decimal", amp.Decimal(), text, decimal.Decimal(text)))

    def offset(sign, hours, minutes):
        return amp._FixedOffsetTZInfo.fromSignHoursMinutes(sign, hours, minutes)

    for text, value in [
        (
            "2012-01-23T12:34:56.054321 UTC",
            datetime.datetime(2012, 1, 23, 12, 34, 56, 54321, tzinfo=amp.utc),
        ),
        ("0001-01-01 UTC", datetime.datetime(1, 1, 1, tzinfo=amp.utc)),
        (
            "9999-12-31T23:59:59.999999+05:30",
            datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=offset("+", 5, 30)),
        ),
        (
            "2000-02-29T01:02:03-08:00",
            datetime.datetime(2000, 2, 29, 1, 2, 3, tzinfo=offset("-", 8, 0)),
        ),
    ]:
        cases.append(("DateTime", amp.DateTime(), text, value))
    add("ListOf(Integer)", amp.ListOf(amp.Integer()), [[], [1], [1, 2, 3], [-(2**63), 2**64]])
    add(
        "ListOf(Unicode)",
        amp.ListOf(amp.Unicode()),
        [[], ["a"], ["", "b\u00e9", "\U0001f600"]],
    )
    add("ListOf(Boolean)", amp.ListOf(amp.Boolean()), [[True, False, True]])
    add("ListOf(String)", amp.ListOf(amp.String()), [[b"x", b"", b"\xff"]])
    add(
        "AmpList([a: Integer, b: Unicode])",
        amp.AmpList([(b"a", amp.Integer()), (b"b", amp.Unicode())]),
        [[], [{"a": 7, "b": "hello"}, {"a": 9, "b": "goodbye"}]],
    )
    add(
        "AmpList([a: Integer, b: Unicode optional])",
        amp.AmpList([(b"a", amp.Integer()), (b"b", amp.Unicode(optional=True))]),
        [[{"a": 1, "b": None}, {"a": 2, "b": "x"}]],
    )
    add(
        "AmpList([name: Unicode, items: AmpList([n: Integer])])",
        amp.AmpList(
            [(b"name", amp.Unicode()), (b"items", amp.AmpList([(b"n", amp.Integer())]))]
        ),
        [[{"name": "x", "items": [{"n": 1}, {"n": 2}]}, {"name": "y", "items": []}]],
    )
    # Path sends a FilePath, which is always absolute and normalized: FilePath
    # resolves a relative path against the working directory (/ while these
    # are recorded). `value` is the text given to FilePath.
    for text in [
        "/",
        "/usr/share/doc/amp/README.txt",
        "/srv/donn\u00e9es/\u65e5\u672c\u8a9e \u2603.txt",
        "/srv/./amp/../data/",
        "relative/d\u00efr/file.txt",
    ]:
        cases.append(("Path", amp.Path(), text, filepath.FilePath(text)))
    return cases


def record_arguments():
    out = []
    cwd = os.getcwd()
    os.chdir("/")
    try:
        for label, arg, shown, value in argument_cases():
            wire = arg.toStringProto(value, None)
            decoded = arg.fromStringProto(wire, None)
            out.append(
                {
                    "type": label,
                    "value": shown,
                    "wire_hex": hexs(wire),
                    "decoded_repr": stable_repr(decoded),
                }
            )
    finally:
        os.chdir(cwd)
    return out


# -- The commands and server of the recorded conversations ------------------------


class Sum(amp.Command):
    arguments = [(b"a", amp.Integer()), (b"b", amp.Integer())]
    response = [(b"total", amp.Integer())]


class SumNoAnswer(amp.Command):
    commandName = b"Sum"
    arguments = [(b"a", amp.Integer()), (b"b", amp.Integer())]
    requiresAnswer = False


class Divide(amp.Command):
    arguments = [(b"numerator", amp.Integer()), (b"denominator", amp.Integer())]
    response = [(b"result", amp.Float())]
    errors = {ZeroDivisionError: b"ZERO_DIVISION"}


class Fatal(amp.Command):
    fatalErrors = {KeyError: b"FATAL_KEY"}


class Boom(amp.Command):
    pass


class Notify(amp.Command):
    arguments = [(b"text", amp.Unicode())]
    requiresAnswer = False


class Server(amp.AMP):
    """The server of the recorded conversations."""

    @Sum.responder
    def sum(self, a, b):
        return {"total": a + b}

    @Divide.responder
    def divide(self, numerator, denominator):
        return {"result": numerator / denominator}

    @Fatal.responder
    def fatal(self):
        raise KeyError("x")

    @Boom.responder
    def boom(self):
        raise RuntimeError("boom")

    @Notify.responder
    def notify(self, text):
        return {}


# -- boxes --------------------------------------------------------------------------


def record_boxes():
    # The Sum of AMP's front page, and Twisted's server answering it.
    wire = Wire(amp.AMP(), Server())
    quiet(wire.client.callRemote(Sum, a=13, b=81))
    wire.pump()
    sum_request, sum_answer = bytes(wire.c2s), bytes(wire.s2c)

    # An error answer to a connection's second request, with Python's message
    # for an integer division by zero.
    try:
        1 // 0
    except ZeroDivisionError as e:
        message = str(e).encode("ascii")
    error = amp.AmpBox(
        _error=b"2", _error_code=b"ZERO_DIVISION", _error_description=message
    ).serialize()

    # A command with requiresAnswer=False, as a client writes it.
    client, t = amp.AMP(), StringTransport()
    client.makeConnection(t)
    client.callRemote(SumNoAnswer, a=1, b=2)
    no_answer = t.value()

    # Count on an epsilon route connected to the peer's route "0".
    router = Router()
    proto, t = amp.AMP(router), StringTransport()
    proto.makeConnection(t)
    route = router.bindRoute(amp.AMP())
    route.connectTo("0")
    quiet(route.receiver.callRemote(Count))
    routed = t.value()

    boxes = [
        ("empty box: just the terminator", amp.AmpBox().serialize()),
        ("Sum request from the AMP front page", sum_request),
        ("Sum answer", sum_answer),
        ("error answer", error),
        ("longest key (255 bytes)", amp.AmpBox({b"k" * 255: b"v"}).serialize()),
        ("longest value (65535 bytes)", amp.AmpBox(big=b"\xab" * 65535).serialize()),
        ("request with requiresAnswer=False: no _ask", no_answer),
        ("routed request (epsilon.amprouter)", routed),
    ]
    return [{"note": n, "pairs": box_pairs(w), "wire_hex": hexs(w)} for n, w in boxes]


# -- conversations --------------------------------------------------------------------


def converse(note, calls, raw=b"", keep=True):
    """
    A Twisted client and the Twisted ``Server`` above: ``calls(client)``
    makes the client's calls (Deferreds; ``None`` for a call that expects no
    answer) and ``raw`` is written by the client as it is. ``keep`` says
    whether the calls' results are recorded.
    """
    wire = Wire(amp.AMP(), Server())
    calls = [Result(d) for d in calls(wire.client) if d is not None]
    if raw:
        wire.client.transport.write(raw)
    wire.pump()
    results = [c.get() for c in calls]
    return {
        "note": note,
        "client_to_server_hex": hexs(wire.c2s),
        "server_to_client_hex": hexs(wire.s2c),
        "server_closed_connection": wire.server_closed,
        "client_results": results if keep else [],
    }


def record_conversations():
    return [
        converse(
            "two Sum calls in one write",
            lambda c: [c.callRemote(Sum, a=13, b=81), c.callRemote(Sum, a=-5, b=2**70)],
        ),
        converse(
            "Divide ok then declared error ZERO_DIVISION",
            lambda c: [
                c.callRemote(Divide, numerator=10, denominator=4),
                c.callRemote(Divide, numerator=1, denominator=0),
            ],
        ),
        converse(
            "unknown command gets UNHANDLED (not fatal)",
            lambda c: [c.callRemoteString(b"NoSuchCommand")],
            keep=False,
        ),
        converse(
            "fatal error closes the connection after the error box",
            lambda c: [c.callRemote(Fatal)],
        ),
        converse(
            "undeclared exception becomes UNKNOWN and closes the connection",
            lambda c: [c.callRemote(Boom)],
        ),
        converse(
            "requiresAnswer=False: no _ask, no answer",
            lambda c: [c.callRemote(Notify, text="hi")],
        ),
        converse(
            "key length prefix over 255: Twisted drops the connection",
            lambda c: [],
            raw=b"\x01\x00" + b"k" * 256,
        ),
    ]


# -- protocol switch --------------------------------------------------------------


class SwitchToEcho(amp.ProtocolSwitchCommand):
    """Switch the connection to the echo protocol below (politely)."""

    arguments = [(b"greeting", amp.Unicode())]
    errors = {ValueError: b"NO_ECHO"}


class EchoUpper(protocol.Protocol):
    """The server's protocol after the switch: says it is ready, then sends
    back what it receives in upper case."""

    def connectionMade(self):
        self.received = bytearray()
        self.transport.write(b"ECHO READY\r\n")

    def dataReceived(self, data):
        self.received += data
        self.transport.write(data.upper())


class Talker(protocol.Protocol):
    """The client's protocol after the switch: sends a few bytes at once and
    keeps what it receives."""

    def connectionMade(self):
        self.received = bytearray()
        self.transport.write(b"hello, echo \x00\x01\xfe\xff\r\n")

    def dataReceived(self, data):
        self.received += data


class SwitchServer(Server):
    echo = None

    @SwitchToEcho.responder
    def switch(self, greeting):
        if greeting != "please":
            raise ValueError(f"{greeting!r} is not please")
        self.echo = EchoUpper()
        return self.echo


class TalkerFactory(protocol.ClientFactory):
    protocol = Talker
    built = None
    failed = False

    def buildProtocol(self, addr):
        self.built = protocol.ClientFactory.buildProtocol(self, addr)
        return self.built

    def clientConnectionFailed(self, connector, reason):
        self.failed = True


def switch_entry(note, wire, results, switched, client_inner, server_inner):
    c2s_switch = first_box_end(wire.c2s) if switched else None
    s2c_switch = first_box_end(wire.s2c) if switched else None
    return {
        "note": note,
        "client_to_server_hex": hexs(wire.c2s),
        "server_to_client_hex": hexs(wire.s2c),
        "switched": switched,
        "client_to_server_switch_offset": c2s_switch,
        "server_to_client_switch_offset": s2c_switch,
        "server_received_after_switch_hex": hexs(server_inner.received) if switched else "",
        "client_received_after_switch_hex": hexs(client_inner.received) if switched else "",
        "client_results": results,
    }


def record_protocol_switch():
    out = []

    # The switch goes through.
    factory = TalkerFactory()
    wire = Wire(amp.AMP(), SwitchServer())
    d = Result(wire.client.callRemote(SwitchToEcho, factory, greeting="please"))
    wire.pump()
    assert wire.client.innerProtocol is factory.built is not None
    assert wire.server.innerProtocol is wire.server.echo is not None
    out.append(
        switch_entry(
            "ProtocolSwitchCommand: the server answers and switches, the client switches "
            "on the answer; then the new protocols talk (the server's says ECHO READY, "
            "then echoes in upper case)",
            wire,
            [d.get()],
            True,
            factory.built,
            wire.server.echo,
        )
    )

    # The switch is refused with a declared error: the connection stays AMP
    # and the client's next call is answered.
    factory = TalkerFactory()
    wire = Wire(amp.AMP(), SwitchServer())
    d = Result(wire.client.callRemote(SwitchToEcho, factory, greeting="now"))
    wire.pump()
    d2 = Result(wire.client.callRemote(Sum, a=1, b=2))
    wire.pump()
    assert wire.client.innerProtocol is None and wire.server.innerProtocol is None
    assert factory.failed
    out.append(
        switch_entry(
            "ProtocolSwitchCommand refused with a declared error: nobody switches, "
            "the connection stays AMP and the next call is answered",
            wire,
            [d.get(), d2.get()],
            False,
            None,
            None,
        )
    )
    return out


# -- routed conversations (epsilon.amprouter) -------------------------------------


class TwoCounts(amp.AMP):
    """A route's receiver on the client: as soon as the route is connected,
    calls Count twice on it."""

    def startReceivingBoxes(self, sender):
        amp.AMP.startReceivingBoxes(self, sender)
        self.name = sender.localRouteName
        # The server's name for the route, from its NewRoute answer (ASCII
        # bytes once epsilon's patch has stored it).
        self.remote = sender.remoteRouteName.decode("ascii")
        self.calls = [Result(self.callRemote(Count)), Result(self.callRemote(Count))]


def record_routed():
    # The server of epsilon's guide: the connection's AMP is the default
    # route and answers NewRoute by binding a Counter route.
    factory = AMPRouteServerFactory()
    factory.routeProtocol = Counter
    server = factory.buildProtocol(None)

    # The client of the guide, with two routes. Its route "0" is bound first
    # and never connected, so that its routes are named differently from the
    # server's ("1" and "2" here, "0" and "1" there): `_route` names the
    # receiving side's route.
    router = Router()
    client = amp.AMP(router)
    wire = Wire(client, server)
    router.bindRoute(client, None).connectTo(None)
    router.bindRoute(amp.AMP())
    receivers = [TwoCounts(), TwoCounts()]
    new_routes = [Result(connect(client, router, r)) for r in receivers]
    # The guide's server prints each route it binds: not part of the vectors.
    stdout, sys.stdout = sys.stdout, open(os.devnull, "w")
    try:
        wire.pump()
    finally:
        sys.stdout.close()
        sys.stdout = stdout
    results = []
    for r, d in zip(receivers, new_routes):
        assert d.got == [None], d.got  # connect() succeeded
        results.append(
            {"route": None, "command": "NewRoute", "result": ["ok", {"name": r.remote}]}
        )
    for r in receivers:
        for d in r.calls:
            results.append({"route": r.name, "command": "Count", "result": d.get()})
    return [
        {
            "note": "epsilon's guide: NewRoute twice on the default route, then Count "
            "twice on each new route (client routes 1 and 2, server routes 0 and 1)",
            "client_to_server_hex": hexs(wire.c2s),
            "server_to_client_hex": hexs(wire.s2c),
            "client_routes": [r.name for r in receivers],
            "client_results": results,
        }
    ]


# -- StartTLS and Descriptor: on the reactor ------------------------------------------


def adopt_pair(reactor, client, server):
    """Connects ``client`` and ``server`` over a UNIX socket pair."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        for sock, proto in ((b, server), (a, client)):
            sock.setblocking(False)
            reactor.adoptStreamConnection(
                sock.fileno(), socket.AF_UNIX, protocol.Factory.forProtocol(lambda p=proto: p)
            )
    finally:
        # The reactor has its own copies of the descriptors.
        a.close()
        b.close()


def connect_tcp(reactor, client, server):
    """Connects ``client`` and ``server`` over TCP on the loopback interface
    (TLS needs a connection with a client side and a server side); fires
    once both are connected."""
    port = reactor.listenTCP(0, protocol.Factory.forProtocol(lambda: server), interface="127.0.0.1")
    connected = defer.Deferred()
    factory = protocol.ClientFactory.forProtocol(lambda: client)
    factory.clientConnectionFailed = lambda connector, reason: connected.errback(reason)
    original = client.connectionMade

    def made():
        original()
        port.stopListening()
        connected.callback(None)

    client.connectionMade = made
    reactor.connectTCP("127.0.0.1", port.getHost().port, factory)
    return connected


def make_certificates():
    """A self-signed certificate for each side (made afresh every run; they
    never reach the vectors)."""
    from twisted.internet import ssl

    server = ssl.KeyPair.generate(size=2048).selfSignedCert(1, commonName="amp server")
    client = ssl.KeyPair.generate(size=2048).selfSignedCert(2, commonName="amp client")
    return server, client


class RecordingWrites:
    """Keeps what a protocol writes to its transport before TLS starts."""

    def makeConnection(self, transport):
        self.clear = bytearray()
        self.tls = False
        write, start_tls = transport.write, transport.startTLS

        def recording_write(data):
            if not self.tls:
                self.clear += data
            write(data)

        def recording_start_tls(*args, **kwargs):
            self.tls = True
            return start_tls(*args, **kwargs)

        transport.write = recording_write
        transport.startTLS = recording_start_tls
        super().makeConnection(transport)


class TLSServer(RecordingWrites, Server):
    certificate = authorities = None

    @amp.StartTLS.responder
    def start_tls(self):
        return {
            "tls_localCertificate": self.certificate,
            "tls_verifyAuthorities": self.authorities,
        }


class TLSClient(RecordingWrites, amp.AMP):
    pass


@defer.inlineCallbacks
def record_starttls(reactor):
    server_cert, client_cert = make_certificates()
    server, client = TLSServer(), TLSClient()
    server.certificate = server_cert
    server.authorities = [client_cert]
    yield connect_tcp(reactor, client, server)
    answer = yield client.callRemote(
        amp.StartTLS,
        tls_localCertificate=client_cert,
        tls_verifyAuthorities=[server_cert],
    )
    # A call over TLS, to show the handshake went through; then each side
    # holds the other's certificate.
    total = yield client.callRemote(Sum, a=40, b=2)
    assert client.peerCertificate.digest() == server_cert.digest()
    assert server.peerCertificate.digest() == client_cert.digest()
    client.transport.loseConnection()
    assert first_box_end(client.clear) == len(client.clear), "one box in clear from the client"
    assert first_box_end(server.clear) == len(server.clear), "one box in clear from the server"
    return [
        {
            "note": "amp.StartTLS with tls_localCertificate and tls_verifyAuthorities on "
            "both sides: only the request and the answer are in clear (the certificates "
            "are not on the wire); each side starts TLS right after the box (the TLS bytes, "
            "random, are not recorded); then a Sum call goes through over TLS",
            "client_to_server_hex": hexs(client.clear),
            "server_to_client_hex": hexs(server.clear),
            "client_results": [outcome(answer), outcome(total)],
        }
    ]


class ReadDescriptor(amp.Command):
    """The server reads everything from the descriptor ``fd`` and answers it."""

    arguments = [(b"fd", amp.Descriptor())]
    response = [(b"text", amp.Unicode())]


class Relay(amp.Command):
    """The server reads everything from ``source`` and writes it to ``log``,
    and answers how many bytes it relayed. Declared ``source`` first, so
    ``source`` gets the smaller ordinal; on the wire ``log`` comes first."""

    arguments = [(b"source", amp.Descriptor()), (b"log", amp.Descriptor())]
    response = [(b"relayed", amp.Integer())]


def read_all(fd):
    data = bytearray()
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            return bytes(data)
        data += chunk


class DescriptorServer(amp.AMP):
    def connectionMade(self):
        super().connectionMade()
        self.c2s = bytearray()

    def dataReceived(self, data):
        self.c2s += data
        super().dataReceived(data)

    @ReadDescriptor.responder
    def read_descriptor(self, fd):
        try:
            return {"text": read_all(fd).decode("utf-8")}
        finally:
            os.close(fd)

    @Relay.responder
    def relay(self, source, log):
        try:
            data = read_all(source)
            os.write(log, data)
            return {"relayed": len(data)}
        finally:
            os.close(source)
            os.close(log)


class DescriptorClient(amp.AMP):
    def connectionMade(self):
        super().connectionMade()
        self.s2c = bytearray()
        self.sent = []
        send = self.transport.sendFileDescriptor

        def recording_send(fd):
            self.sent.append(fd)
            send(fd)

        self.transport.sendFileDescriptor = recording_send

    def dataReceived(self, data):
        self.s2c += data
        super().dataReceived(data)


def pipe_with(data):
    """A pipe's read end holding ``data`` (its write end closed)."""
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    return r


@defer.inlineCallbacks
def record_descriptors(reactor):
    server, client = DescriptorServer(), DescriptorClient()
    adopt_pair(reactor, client, server)
    first = pipe_with("descripteur n\u00b0 0".encode("utf-8"))
    source = pipe_with(b"relayed through the server")
    log_r, log_w = os.pipe()
    names = {first: "fd", source: "source", log_w: "log"}
    try:
        text = yield client.callRemote(ReadDescriptor, fd=first)
        relayed = yield client.callRemote(Relay, source=source, log=log_w)
        os.close(log_w)
        log_w = None
        logged = read_all(log_r)
    finally:
        for fd in (first, source, log_r, log_w):
            if fd is not None:
                os.close(fd)
    assert logged == b"relayed through the server", logged
    # Each descriptor's ordinal is its position among those the client sent.
    ordinals = [names[fd] for fd in client.sent]
    client.transport.loseConnection()
    return [
        {
            "note": "Descriptor: each descriptor goes out of band (sendmsg, SCM_RIGHTS on a "
            "UNIX socket) and the box carries its ordinal, counted per connection from 0 "
            "in the order the client sent them (a command's descriptors in declaration "
            "order); the server reads the first, then relays source to log",
            "client_to_server_hex": hexs(server.c2s),
            "server_to_client_hex": hexs(client.s2c),
            "calls": [
                {"command": "ReadDescriptor", "ordinals": {"fd": ordinals.index("fd")}},
                {
                    "command": "Relay",
                    "ordinals": {
                        "source": ordinals.index("source"),
                        "log": ordinals.index("log"),
                    },
                },
            ],
            "client_results": [outcome(text), outcome(relayed)],
        }
    ]


def record_live():
    """Runs StartTLS and Descriptor on the reactor, one after the other."""
    from twisted.internet import reactor

    done = {}

    @defer.inlineCallbacks
    def run():
        try:
            done["starttls"] = yield record_starttls(reactor)
            done["descriptors"] = yield record_descriptors(reactor)
        except BaseException:
            done["error"] = Failure()
        finally:
            reactor.callLater(0, reactor.stop)

    def timeout():
        done.setdefault("error", f"timed out after {LIVE_TIMEOUT:.0f} s")
        reactor.stop()

    reactor.callWhenRunning(run)
    call = reactor.callLater(LIVE_TIMEOUT, timeout)
    reactor.run()
    if call.active():
        call.cancel()
    if "error" in done:
        error = done["error"]
        if isinstance(error, Failure):
            error.printTraceback(file=sys.stderr)
        raise SystemExit(f"record_vectors: recording StartTLS and Descriptor failed: {error}")
    return done["starttls"], done["descriptors"]


# -- The file ---------------------------------------------------------------------


def log_unexpected(event):
    """Twisted's log, for the recording: the traceback of the undeclared
    exception the Boom conversation raises on purpose is left out; anything
    else at error level or worse goes to standard error."""
    failure = event.get("log_failure")
    if failure is not None and failure.check(RuntimeError) and str(failure.value) == "boom":
        return
    if event.get("log_level") in (LogLevel.error, LogLevel.critical):
        text = formatEventAsClassicLogText(event)
        if text:
            sys.stderr.write(text)


def record():
    globalLogBeginner.beginLoggingTo([log_unexpected], redirectStandardIO=False)
    starttls, descriptors = record_live()
    return {
        "generator": GENERATOR,
        "arguments": record_arguments(),
        "boxes": record_boxes(),
        "conversations": record_conversations(),
        "protocol_switch": record_protocol_switch(),
        "starttls": starttls,
        "descriptors": descriptors,
        "routed_conversations": record_routed(),
    }


def dumps(vectors):
    return json.dumps(vectors, indent=1, ensure_ascii=False).encode("utf-8")


def describe(entry):
    """A vector's name for a report: its note, or its type and value."""
    if not isinstance(entry, dict):
        return repr(entry)[:80]
    if "note" in entry:
        return f"note {entry['note']!r}"
    if "type" in entry:
        value = entry.get("value", "")
        if len(value) > 60:
            value = value[:60] + "..."
        return f"type {entry['type']!r} value {value!r}"
    return "(unnamed)"


def differences(recorded, committed):
    """Lines naming every vector that differs between two vector files."""
    out = []
    for key in list(recorded) + [k for k in committed if k not in recorded]:
        if key not in committed:
            out.append(f"{key}: missing from the file (recorded: {len(recorded[key])} entries)")
            continue
        if key not in recorded:
            out.append(f"{key}: in the file but no longer recorded")
            continue
        new, old = recorded[key], committed[key]
        if not (isinstance(new, list) and isinstance(old, list)):
            if new != old:
                out.append(f"{key}: recorded {new!r}, file has {old!r}")
            continue
        for i in range(max(len(new), len(old))):
            if i >= len(old):
                out.append(f"{key}[{i}] ({describe(new[i])}): recorded, missing from the file")
            elif i >= len(new):
                out.append(f"{key}[{i}] ({describe(old[i])}): in the file, no longer recorded")
            elif new[i] != old[i]:
                fields = sorted(
                    f
                    for f in set(new[i]) | set(old[i])
                    if new[i].get(f, "<missing>") != old[i].get(f, "<missing>")
                ) if isinstance(new[i], dict) and isinstance(old[i], dict) else ["(entry)"]
                out.append(
                    f"{key}[{i}] ({describe(new[i])}): differs in {', '.join(fields)}"
                )
    return out


def compare(recorded_bytes, path):
    """0 when the file at ``path`` holds exactly ``recorded_bytes``; else 1,
    after naming on standard error every vector that differs."""
    with open(path, "rb") as f:
        committed_bytes = f.read()
    if recorded_bytes == committed_bytes:
        print(f"{path}: up to date ({GENERATOR})")
        return 0
    recorded = json.loads(recorded_bytes)
    try:
        committed = json.loads(committed_bytes)
    except ValueError as e:
        print(f"{path}: not JSON ({e}); re-record it", file=sys.stderr)
        return 1
    lines = differences(recorded, committed)
    if not lines:
        lines = ["the same vectors, but the file's formatting differs from the recorder's"]
    print(f"{path} differs from what Twisted records now:", file=sys.stderr)
    for line in lines:
        print(f"  {line}", file=sys.stderr)
    print(
        f"if Twisted's behaviour is what changed, re-record: "
        f"python interop/record_vectors.py {path}",
        file=sys.stderr,
    )
    return 1


USAGE = """usage: record_vectors.py OUT.json                write the vectors
       record_vectors.py --check FILE             record, compare with FILE
       record_vectors.py --compare RECORDED FILE  compare two vector files"""


def main(argv):
    args = argv[1:]
    if len(args) == 1 and not args[0].startswith("-"):
        data = dumps(record())
        with open(args[0], "wb") as f:
            f.write(data)
        print(f"wrote {args[0]} ({len(data)} bytes)")
        return 0
    if len(args) == 2 and args[0] == "--check":
        return compare(dumps(record()), args[1])
    if len(args) == 3 and args[0] == "--compare":
        with open(args[1], "rb") as f:
            return compare(f.read(), args[2])
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
