"""
A Twisted parent speaking AMP with a child it spawns, over the child's
standard input and output: Twisted's spawnProcess with an AMP protocol, the
way a worker serving with StandardIO (Rust's ``ampserver stdio``) is driven.

    python interop/spawn_worker.py COMMAND [ARGS ...]

It spawns COMMAND (standard error inherited), and checks, printing one line
each on standard output:

    PASS <name>  /  FAIL <name>: <reason>

- ``sum``: Sum(13, 81) is 94, and Sum beyond 64 bits is exact;
- ``divide``: Divide(1234, 4) is 308.5, Divide(1234, 0) fails with the
  declared ZERO_DIVISION;
- ``many``: 200 Sums in flight at once all come back right;
- ``input-closed``: once the parent closes the child's standard input, the
  child ends the connection and exits with status 0 (Twisted's ProcessDone),
  within 10 seconds;
- ``quiet``: the child wrote nothing on standard output but AMP (every byte
  it sent parsed as AMP boxes: the protocol was never dropped for garbage).

The last line is ``N passed, M failed``; the exit status is 0 when M is 0.
The whole run is bounded (50 s).
"""

import sys

from twisted.internet import defer, error, protocol, reactor
from twisted.protocols import amp

from commands import Divide, Sum
from peer import check, run_checks


class Child(protocol.ProcessProtocol):
    """
    AMP over the child's pipes, to its fd 0 and from its fd 1; itself the AMP
    protocol's transport, as ampoule's AMPConnector is.
    """

    disconnecting = False

    def __init__(self):
        self.amp = amp.AMP()
        # Fires with [the Failure processEnded got].
        self.ended = defer.Deferred()
        # Whether AMP dropped the connection (on bytes that are not AMP).
        self.dropped = False

    def connectionMade(self):
        self.amp.makeConnection(self)

    # The transport AMP writes to.
    def write(self, data):
        self.transport.write(data)

    def writeSequence(self, data):
        self.transport.writeSequence(data)

    def loseConnection(self):
        self.dropped = True
        self.transport.closeStdin()

    def getPeer(self):
        return ("subprocess",)

    def getHost(self):
        return ("no host",)

    def outReceived(self, data):
        self.amp.dataReceived(data)

    def processEnded(self, reason):
        self.amp.connectionLost(reason)
        self.ended.callback([reason])


async def run(argv):
    child = Child()
    reactor.spawnProcess(child, argv[0], argv, env=None, childFDs={0: "w", 1: "r", 2: 2})
    results = []
    proto = child.amp

    async def sums():
        answer = await proto.callRemote(Sum, a=13, b=81)
        assert answer["total"] == 94, answer
        big = 2**64
        answer = await proto.callRemote(Sum, a=big, b=10**30)
        assert answer["total"] == big + 10**30, answer

    async def divides():
        answer = await proto.callRemote(Divide, numerator=1234, denominator=4)
        assert answer["result"] == 308.5, answer
        try:
            await proto.callRemote(Divide, numerator=1234, denominator=0)
        except ZeroDivisionError:
            pass
        else:
            raise AssertionError("Divide(1234, 0) did not fail with ZERO_DIVISION")

    async def many():
        calls = [proto.callRemote(Sum, a=i, b=i) for i in range(200)]
        answers = await defer.gatherResults(calls)
        assert [a["total"] for a in answers] == [2 * i for i in range(200)]

    async def input_closed():
        child.transport.closeStdin()
        def kill():
            try:
                child.transport.signalProcess("KILL")
            except error.ProcessExitedAlready:
                pass

        timer = reactor.callLater(10, kill)
        [reason] = await child.ended
        if timer.active():
            timer.cancel()
        if not reason.check(error.ProcessDone):
            raise AssertionError(f"the child did not exit 0: {reason.value}")

    async def quiet():
        # AMP drops the connection (and logs) on bytes that are not AMP; it
        # never did: the connection ended by the process ending.
        assert child.ended.called and not child.dropped

    await check(results, "sum", sums)
    await check(results, "divide", divides)
    await check(results, "many", many)
    await check(results, "input-closed", input_closed)
    await check(results, "quiet", quiet)
    return results


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    return run_checks("spawn", run(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
