"""
AMP server of the multiplexing interoperability tests: txampext's
MultiplexingCommandLocator (the Python 3 port in txampext/) on real
Twisted, with the factories

    b"echo"    a stream protocol that writes back every byte it receives
    b"refuse"  a factory whose buildProtocol returns None (CONNECTION_REFUSED)

    python interop/txampext_mux_server.py [HOST:PORT]

Prints ``LISTENING <port>`` once listening, and runs until killed or until
standard input (when a pipe) reaches end of file, as server.py does.
"""

import sys

from twisted.internet import protocol, reactor
from twisted.protocols import amp

from peer import line_buffered_stdout, log_to_stderr, parse_address, stop_when_stdin_closes
from txampext.multiplexing import MultiplexingCommandLocator


class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


class Refuse(protocol.Factory):
    def buildProtocol(self, addr):
        return None


class MuxProtocol(amp.AMP, MultiplexingCommandLocator):
    """An AMP connection that is its own MultiplexingCommandLocator, as
    txampext's getProtocol assumes."""

    def __init__(self):
        amp.AMP.__init__(self)
        MultiplexingCommandLocator.__init__(self)
        self.addFactory(b"echo", protocol.Factory.forProtocol(Echo))
        self.addFactory(b"refuse", Refuse())


def main(argv):
    host, port = parse_address(argv[1] if len(argv) > 1 else None)
    line_buffered_stdout()
    log_to_stderr()
    listening = reactor.listenTCP(port, protocol.Factory.forProtocol(MuxProtocol), interface=host)
    print(f"LISTENING {listening.getHost().port}")
    stop_when_stdin_closes()
    reactor.run()


if __name__ == "__main__":
    main(sys.argv)
