"""
Twisted's documented AMP example server (docs/core/examples/ampserver.py in
Twisted 26.10.0), made usable as a test peer.

    python interop/ampserver.py [HOST:PORT | unix:PATH | stdio]
                                                (default 127.0.0.1:1234; port 0
                                                 picks a free port)

The commands and responders are the documented ones, unchanged, and so is
what the responders print (``Did a sum: 13 + 81 = 94``, ``Divided: 1234 / 4 =
308.5``; a division by zero raises ZeroDivisionError before the print, so it
prints nothing and answers the declared error ZERO_DIVISION). What differs
from the documented script:

- the address comes from the first argument instead of the fixed port 1234:
  ``HOST:PORT``, ``unix:PATH`` (a UNIX socket), or ``stdio`` (one connection
  on standard input and output, as a spawned child: then what the responders
  print goes to standard error, and it exits once the connection is lost);
- once listening it prints ``LISTENING <port>`` instead of ``started``;
- standard output is line-buffered, so each line reaches a pipe at once;
- it stops when standard input, if it is a pipe, reaches end of file (as
  well as when it is killed).
"""

import sys

from twisted.protocols import amp

from peer import line_buffered_stdout, listen, serve_stdio, stop_when_stdin_closes


class Sum(amp.Command):
    arguments = [(b"a", amp.Integer()), (b"b", amp.Integer())]
    response = [(b"total", amp.Integer())]


class Divide(amp.Command):
    arguments = [(b"numerator", amp.Integer()), (b"denominator", amp.Integer())]
    response = [(b"result", amp.Float())]
    errors = {ZeroDivisionError: b"ZERO_DIVISION"}


class Math(amp.AMP):
    def sum(self, a, b):
        total = a + b
        print(f"Did a sum: {a} + {b} = {total}")
        return {"total": total}

    Sum.responder(sum)

    def divide(self, numerator, denominator):
        result = float(numerator) / denominator
        print(f"Divided: {numerator} / {denominator} = {result}")
        return {"result": result}

    Divide.responder(divide)


def main():
    from twisted.internet import reactor
    from twisted.internet.protocol import Factory

    address = sys.argv[1] if len(sys.argv) > 1 else None
    if address == "stdio":
        serve_stdio(Math())
        reactor.run()
        return
    line_buffered_stdout()
    pf = Factory()
    pf.protocol = Math
    print(f"LISTENING {listen(address, pf)}")
    stop_when_stdin_closes()
    reactor.run()


if __name__ == "__main__":
    main()
