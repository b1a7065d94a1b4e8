"""
txampext's local proxying (ProxyingFactory, the Python 3 port in
txampext/multiplexing.py) on real Twisted: connects to an AMP server that
has multiplexed factories, listens on a local TCP port, and forwards every
connection accepted there as a multiplexed stream to the server's factory.

    python interop/txampext_proxy.py AMP_HOST:PORT FACTORY [LISTEN_HOST:PORT]

Prints ``LISTENING <port>`` once both are up (the listening address
defaults to 127.0.0.1:0, a free port), and runs until killed, until
standard input (when a pipe) reaches end of file, or until the AMP
connection ends.
"""

import sys

from twisted.internet import protocol, reactor
from twisted.protocols import amp

from peer import line_buffered_stdout, log_to_stderr, parse_address, stop_when_stdin_closes
from txampext.multiplexing import ProxyingAMPLocator, ProxyingFactory


class ProxyAMP(amp.AMP, ProxyingAMPLocator):
    """The AMP connection to the server, and the locator of the streams'
    bytes coming back, as txampext's ProxyingFactory expects."""

    def __init__(self):
        amp.AMP.__init__(self)
        ProxyingAMPLocator.__init__(self)

    def connectionLost(self, reason):
        super().connectionLost(reason)
        if reactor.running:
            reactor.stop()


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    amp_host, amp_port = parse_address(argv[1])
    factory_name = argv[2].encode()
    host, port = parse_address(argv[3] if len(argv) > 3 else "127.0.0.1:0")
    line_buffered_stdout()
    log_to_stderr()

    def connected(remote):
        listening = reactor.listenTCP(port, ProxyingFactory(remote, factory_name), interface=host)
        print(f"LISTENING {listening.getHost().port}")

    def failed(reason):
        print(f"cannot connect to {argv[1]}: {reason.getErrorMessage()}", file=sys.stderr)
        reactor.stop()

    d = protocol.ClientCreator(reactor, ProxyAMP).connectTCP(amp_host, amp_port)
    d.addCallbacks(connected, failed)
    stop_when_stdin_closes()
    reactor.run()


if __name__ == "__main__":
    main(sys.argv)
