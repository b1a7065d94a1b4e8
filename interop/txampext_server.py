"""
AMP server of the txampext interoperability tests: answers Paint, Move and
Connect (txampext_commands.py) with real Twisted and the Python 3 port of
txampext's constraints, nested and errors modules.

    python interop/txampext_server.py [HOST:PORT]

Prints ``LISTENING <port>`` once listening, and runs until killed or until
standard input (when a pipe) reaches end of file, as server.py does.
"""

import sys

from twisted.internet import reactor
from twisted.internet.protocol import Factory

from peer import line_buffered_stdout, log_to_stderr, parse_address, stop_when_stdin_closes
from txampext_commands import TxampextProtocol


def main(argv):
    host, port = parse_address(argv[1] if len(argv) > 1 else None)
    line_buffered_stdout()
    log_to_stderr()
    listening = reactor.listenTCP(port, Factory.forProtocol(TxampextProtocol), interface=host)
    print(f"LISTENING {listening.getHost().port}")
    stop_when_stdin_closes()
    reactor.run()


if __name__ == "__main__":
    main(sys.argv)
