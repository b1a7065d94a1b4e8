"""
Twisted's side of descriptor passing as caller, for the descriptor
interoperability tests: connects to a server of the catalogue on a UNIX
socket and checks WriteTo (Twisted sends the write end of a pipe; the server
writes into it and closes it) and OpenGreeting (the server sends the read
end of a pipe holding its greeting), then three WriteTo calls made in one
reactor turn (Twisted writes the three boxes in one go, and sends every
descriptor with one of the first bytes of that write: the server must give
each box the descriptor its value names), then prints PASS or FAIL per check
and ``N passed, M failed``.

    python interop/fd_client.py unix:PATH IMPLEMENTATION

IMPLEMENTATION is the name the server's greeting gives (``amp-rs``,
``Twisted``). Exits 0 when every check passed.
"""

import os
import sys

from twisted.internet import reactor
from twisted.internet.endpoints import UNIXClientEndpoint, connectProtocol

from commands import OpenGreeting, WriteTo, greeting
from peer import InteropProtocol, check, log_to_stderr, run_checks

TEXT = "descripteur écrit par le serveur ✓\n"


def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


async def checks(path, implementation):
    proto = await connectProtocol(UNIXClientEndpoint(reactor, path), InteropProtocol())
    results = []

    def start_write_to(text):
        # The call goes out (with its descriptor) on the reactor's next
        # write, with whatever else was queued in this turn.
        read_end, write_end = os.pipe()
        return read_end, write_end, proto.callRemote(WriteTo, fd=write_end, text=text)

    async def finish_write_to(text, read_end, write_end, answered):
        try:
            try:
                answer = await answered
            finally:
                # Sent with the request by now: our copy goes.
                os.close(write_end)
            got = read_all(read_end)
        finally:
            os.close(read_end)
        want = text.encode("utf-8")
        if answer["written"] != len(want) or got != want:
            raise AssertionError(f"written {answer['written']}, read {got!r}")

    async def write_to():
        await finish_write_to(TEXT, *start_write_to(TEXT))

    async def three_at_once():
        texts = [f"{i}: {TEXT}" for i in range(3)]
        started = [start_write_to(text) for text in texts]
        for text, call in zip(texts, started):
            await finish_write_to(text, *call)

    async def open_greeting():
        answer = await proto.callRemote(OpenGreeting)
        fd = answer["fd"]
        try:
            got = read_all(fd)
        finally:
            os.close(fd)
        if got != greeting(implementation):
            raise AssertionError(f"read {got!r}")

    async def twice_more():
        # Numbering goes on: a second round of each, both ways.
        await write_to()
        await open_greeting()

    await check(results, "WriteTo", write_to)
    await check(results, "OpenGreeting", open_greeting)
    await check(results, "WriteTo and OpenGreeting again", twice_more)
    await check(results, "three WriteTo in one write", three_at_once)
    proto.transport.loseConnection()
    return results


def main(argv):
    if len(argv) != 3 or not argv[1].startswith("unix:"):
        print(__doc__, file=sys.stderr)
        return 2
    log_to_stderr()
    return run_checks("descriptors", checks(argv[1][len("unix:"):], argv[2]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
