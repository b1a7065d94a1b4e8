"""
Twisted's StartTLS, both ways, for the TLS interoperability tests: a server
that answers StartTLS with its certificate (optionally asking the client for
one), and a client that calls StartTLS on a Rust server. Both speak the whole
command catalogue (peer.InteropProtocol) plus ``PeerName`` (what the other
side's verified certificate says, Twisted's ``peerCertificate``).

    python interop/tls_peer.py server CERT KEY CA [--require-client]
        Listens on 127.0.0.1 (a free port), prints ``LISTENING <port>``, and
        answers StartTLS with CERT/KEY; with --require-client it asks the
        client for a certificate signed by CA and refuses one without.
        Runs until standard input closes.

    python interop/tls_peer.py client HOST:PORT CA [CERT KEY]
        Calls Sum (plain), then StartTLS verifying the server against CA
        (showing CERT/KEY if given) with a Sum in flight across it and one
        right after, then PeerName; prints one JSON line of what it saw and
        exits 0 (1 on any failure, the reason on standard error).

    python interop/tls_peer.py ssl-server CERT KEY CA [--require-client]
        As ``server``, but TLS from the first byte (Twisted's ``ssl:``
        server endpoint, listenSSL).

    python interop/tls_peer.py ssl-client HOST:PORT CA [CERT KEY]
        Connects with TLS from the first byte (connectSSL, verifying the
        server against CA and the name ``localhost``, showing CERT/KEY if
        given), calls Sum and PeerName, prints one JSON line.

The certificates are PEM files a test made (never committed).
"""

import json
import sys

from twisted.internet import defer, reactor
from twisted.internet.protocol import ClientCreator, Factory
from twisted.internet.ssl import Certificate, PrivateCertificate, optionsForClientTLS
from twisted.protocols import amp

from commands import Sum
from peer import (
    InteropProtocol,
    line_buffered_stdout,
    log_to_stderr,
    parse_address,
    stop_when_stdin_closes,
)


class PeerName(amp.Command):
    """The common name of the peer's verified certificate ("" if none)."""

    arguments = []
    response = [(b"name", amp.Unicode())]


def read(path):
    with open(path, "rb") as f:
        return f.read()


class TlsProtocol(InteropProtocol):
    """The catalogue, PeerName, and StartTLS answered with a certificate."""

    certificate = None
    authorities = None

    @amp.StartTLS.responder
    def start_tls(self):
        answer = {"tls_localCertificate": self.certificate}
        if self.authorities is not None:
            answer["tls_verifyAuthorities"] = self.authorities
        return answer

    @PeerName.responder
    def peer_name(self):
        try:
            cert = self.peerCertificate
        except Exception:
            return {"name": ""}
        if cert is None:
            return {"name": ""}
        return {"name": cert.getSubject().commonName.decode("utf-8")}


def serve(argv, ssl=False):
    cert_path, key_path, ca_path = argv[:3]
    require_client = "--require-client" in argv[3:]
    line_buffered_stdout()
    log_to_stderr()
    TlsProtocol.certificate = PrivateCertificate.loadPEM(read(cert_path) + read(key_path))
    if require_client:
        TlsProtocol.authorities = [Certificate.loadPEM(read(ca_path))]
    factory = Factory.forProtocol(TlsProtocol)
    if ssl:
        options = TlsProtocol.certificate.options(*(TlsProtocol.authorities or []))
        listening = reactor.listenSSL(0, factory, options, interface="127.0.0.1")
    else:
        listening = reactor.listenTCP(0, factory, interface="127.0.0.1")
    print(f"LISTENING {listening.getHost().port}")
    stop_when_stdin_closes()
    reactor.run()


@defer.inlineCallbacks
def client(argv):
    host, port = parse_address(argv[0])
    ca = Certificate.loadPEM(read(argv[1]))
    mine = None
    if len(argv) >= 3:
        mine = PrivateCertificate.loadPEM(read(argv[2]) + read(argv[3]))
    proto = yield ClientCreator(reactor, TlsProtocol).connectTCP(host, port)
    seen = {}
    plain = yield proto.callRemote(Sum, a=1, b=2)
    seen["plain_sum"] = plain["total"]
    # A Sum in flight across the switch: sent before StartTLS, answered
    # whichever side of the switch the answer lands.
    across = proto.callRemote(Sum, a=10, b=20)
    tls_args = {"tls_verifyAuthorities": [ca]}
    if mine is not None:
        tls_args["tls_localCertificate"] = mine
    started = proto.callRemote(amp.StartTLS, **tls_args)
    # Sent after StartTLS: Twisted holds it until TLS is on.
    after = proto.callRemote(Sum, a=100, b=200)
    yield started
    seen["across_sum"] = (yield across)["total"]
    seen["after_sum"] = (yield after)["total"]
    seen["server_saw"] = (yield proto.callRemote(PeerName))["name"]
    seen["server_name"] = proto.peerCertificate.getSubject().commonName.decode("utf-8")
    print(json.dumps(seen))
    proto.transport.loseConnection()


@defer.inlineCallbacks
def ssl_client(argv):
    host, port = parse_address(argv[0])
    ca = Certificate.loadPEM(read(argv[1]))
    mine = None
    if len(argv) >= 3:
        mine = PrivateCertificate.loadPEM(read(argv[2]) + read(argv[3]))
    options = optionsForClientTLS("localhost", trustRoot=ca, clientCertificate=mine)
    proto = yield ClientCreator(reactor, TlsProtocol).connectSSL(host, port, options)
    seen = {"sum": (yield proto.callRemote(Sum, a=1, b=2))["total"]}
    seen["server_saw"] = (yield proto.callRemote(PeerName))["name"]
    seen["server_name"] = proto.peerCertificate.getSubject().commonName.decode("utf-8")
    print(json.dumps(seen))
    proto.transport.loseConnection()


def run_client(argv, client=client):
    line_buffered_stdout()
    log_to_stderr()
    outcome = {"code": 1}

    def done(_):
        outcome["code"] = 0
        reactor.callLater(0.05, reactor.stop)

    def failed(failure):
        sys.stderr.write(f"tls_peer client failed: {failure.getTraceback()}\n")
        reactor.callLater(0, reactor.stop)

    reactor.callWhenRunning(lambda: client(argv).addCallbacks(done, failed))
    reactor.callLater(30, reactor.stop)
    reactor.run()
    sys.exit(outcome["code"])


if __name__ == "__main__":
    modes = {
        "server": lambda argv: serve(argv),
        "ssl-server": lambda argv: serve(argv, ssl=True),
        "client": lambda argv: run_client(argv),
        "ssl-client": lambda argv: run_client(argv, ssl_client),
    }
    if len(sys.argv) < 2 or sys.argv[1] not in modes:
        sys.stderr.write(__doc__)
        sys.exit(2)
    modes[sys.argv[1]](sys.argv[2:])
