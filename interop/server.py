"""
AMP server of the interoperability suite: answers the whole command catalogue
(commands.py, documented in COMMANDS.md) with real Twisted.

    python interop/server.py [HOST:PORT]      (default 127.0.0.1:1234; port 0
                                               picks a free port)

Once listening it prints exactly one line on standard output,
``LISTENING <port>``, and nothing else there. It runs until it is killed
(SIGTERM/SIGINT stop it cleanly) or, when standard input is a pipe, until that
pipe reaches end of file. Diagnostics (warnings, tracebacks) go to standard
error; AMP_INTEROP_VERBOSE=1 logs every connection too.
"""

import sys

from twisted.internet import reactor
from twisted.internet.protocol import Factory

from peer import (
    InteropProtocol,
    line_buffered_stdout,
    log_to_stderr,
    parse_address,
    stop_when_stdin_closes,
)


def main(argv):
    host, port = parse_address(argv[1] if len(argv) > 1 else None)
    line_buffered_stdout()
    log_to_stderr()
    # A new InteropProtocol for each connection.
    listening = reactor.listenTCP(port, Factory.forProtocol(InteropProtocol), interface=host)
    print(f"LISTENING {listening.getHost().port}")
    stop_when_stdin_closes()
    reactor.run()


if __name__ == "__main__":
    main(sys.argv)
