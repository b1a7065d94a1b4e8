"""
AMP server of the interoperability suite: answers the whole command catalogue
(commands.py, documented in COMMANDS.md) with real Twisted.

    python interop/server.py [HOST:PORT]      (default 127.0.0.1:1234; port 0
                                               picks a free port)
    python interop/server.py unix:PATH        (a new UNIX socket at PATH)
    python interop/server.py stdio            (one connection, on standard
                                               input and output)

Once listening it prints exactly one line on standard output,
``LISTENING <port>`` (``LISTENING unix:PATH``), and nothing else there. With
``stdio`` it serves the one connection its parent speaks on its standard input
and output (Twisted's StandardIO), prints nothing on standard output but AMP,
and exits 0 once that connection is lost. It runs until it is killed
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
    listen,
    log_to_stderr,
    serve_stdio,
    stop_when_stdin_closes,
)


def main(argv):
    address = argv[1] if len(argv) > 1 else None
    log_to_stderr()
    if address == "stdio":
        serve_stdio(InteropProtocol())
        reactor.run()
        return
    line_buffered_stdout()
    # A new InteropProtocol for each connection.
    where = listen(address, Factory.forProtocol(InteropProtocol))
    print(f"LISTENING {where}")
    stop_when_stdin_closes()
    reactor.run()


if __name__ == "__main__":
    main(sys.argv)
