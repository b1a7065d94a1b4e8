"""
Twisted AMP server of the RPC benchmark: answers Sum.

    python bench/twisted_server.py [--addr 127.0.0.1:0] [--max-seconds 600]

Prints ``LISTENING <port>`` once bound, then runs until killed or until
``--max-seconds`` have passed.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from twisted.internet import reactor  # noqa: E402
from twisted.internet.protocol import Factory  # noqa: E402

from twisted_sum import SumProtocol, parse_address, parse_options  # noqa: E402


def main(argv):
    opts = parse_options(argv, {"addr": "127.0.0.1:0", "max-seconds": 600.0})
    host, port = parse_address(opts["addr"])
    listening = reactor.listenTCP(
        port, Factory.forProtocol(SumProtocol), backlog=1024, interface=host
    )
    print(f"LISTENING {listening.getHost().port}", flush=True)
    reactor.callLater(opts["max-seconds"], reactor.stop)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1:])
