"""
AMP client of the txampext interoperability tests: calls a server of the
txampext_commands.py catalogue (the Rust one, in the tests) with real
Twisted and the Python 3 port of txampext, and checks every answer.

    python interop/txampext_client.py HOST:PORT
    python interop/txampext_client.py --codes NAME...

The first form prints ``OK <scenario>`` for each scenario that behaved,
``FAIL <scenario>: <why>`` for each that did not, and exits 0 only when all
passed. The second prints, one per line, the error code txampext's
Error.asAMP() makes of each class name (no connection).
"""

import sys

from twisted.internet import defer, protocol, task
from twisted.protocols import amp

from peer import parse_address
from txampext.errors import Error
from txampext_commands import (
    Connect,
    ConnectionRefused,
    Move,
    MoveMany,
    NoSuchFactory,
    Paint,
    PaintUnchecked,
)


class Client(amp.AMP):
    def connectionMade(self):
        super().connectionMade()
        self.lost = defer.Deferred()

    def connectionLost(self, reason):
        super().connectionLost(reason)
        self.lost.callback(None)


@defer.inlineCallbacks
def connect(reactor, host, port):
    creator = protocol.ClientCreator(reactor, Client)
    proto = yield creator.connectTCP(host, port)
    return proto


@defer.inlineCallbacks
def expect_unknown_then_close(reactor, proto, command, **kw):
    """The call fails with UNKNOWN / Unknown Error and the server closes."""
    try:
        yield proto.callRemote(command, **kw)
    except amp.UnknownRemoteError as e:
        if "Unknown Error" not in str(e):
            raise AssertionError(f"unexpected description: {e}")
    else:
        raise AssertionError("the call succeeded")
    timeout = task.deferLater(reactor, 10, lambda: "timeout")
    result, _ = yield defer.DeferredList([proto.lost, timeout], fireOnOneCallback=True)
    timeout.addErrback(lambda _: None)
    timeout.cancel()
    if result == "timeout":
        raise AssertionError("the server did not close the connection")


@defer.inlineCallbacks
def scenarios(reactor, host, port):
    failures = 0

    @defer.inlineCallbacks
    def run(name, body):
        nonlocal failures
        try:
            yield body()
            print(f"OK {name}")
        except BaseException as e:  # noqa: BLE001 (every failure is reported)
            failures += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")

    proto = yield connect(reactor, host, port)

    @defer.inlineCallbacks
    def paint_ok():
        answer = yield proto.callRemote(Paint, colour="green", coats=2, painter="ann")
        assert answer == {"receipt": "2 coats of green by ann"}, answer

    @defer.inlineCallbacks
    def paint_refused_locally():
        for kw in (
            dict(colour="mauve", coats=2, painter="ann"),
            dict(colour="red", coats=3, painter="ann"),
            dict(colour="red", coats=2, painter="root"),
        ):
            try:
                proto.callRemote(Paint, **kw)
            except ValueError:
                pass
            else:
                raise AssertionError(f"{kw} was sent")
        # Nothing went out: the connection still answers.
        answer = yield proto.callRemote(Paint, colour="red", coats=4, painter="bo")
        assert answer == {"receipt": "4 coats of red by bo"}, answer

    @defer.inlineCallbacks
    def move_nested():
        answer = yield proto.callRemote(Move, to={"x": 1, "y": -2, "label": "é"})
        assert answer == {"landed": {"x": 2, "y": -1, "label": "é!"}}, answer

    @defer.inlineCallbacks
    def connect_errors():
        for factory, error in (("nope", NoSuchFactory), ("refuse", ConnectionRefused)):
            try:
                yield proto.callRemote(Connect, factory=factory)
            except error:
                pass
            else:
                raise AssertionError(f"{factory} did not fail with {error.__name__}")
        answer = yield proto.callRemote(Connect, factory="echo")
        assert answer == {"connection": "echo-1"}, answer

    yield run("paint", paint_ok)
    yield run("paint-refused-locally", paint_refused_locally)
    yield run("move-nested", move_nested)
    yield run("connect-errors", connect_errors)
    proto.transport.loseConnection()

    @defer.inlineCallbacks
    def paint_refused_remotely():
        for kw in (
            dict(colour="mauve", coats=2, painter="ann"),
            dict(colour="red", coats=0, painter="ann"),
            dict(colour="red", coats=2, painter="root"),
        ):
            fresh = yield connect(reactor, host, port)
            yield expect_unknown_then_close(reactor, fresh, PaintUnchecked, **kw)

    @defer.inlineCallbacks
    def move_two_boxes():
        fresh = yield connect(reactor, host, port)
        point = {"x": 1, "y": 2, "label": "a"}
        yield expect_unknown_then_close(reactor, fresh, MoveMany, to=[point, point])

    yield run("paint-refused-remotely", paint_refused_remotely)
    yield run("move-two-boxes-refused", move_two_boxes)
    return failures


def main(argv):
    if len(argv) > 1 and argv[1] == "--codes":
        for name in argv[2:]:
            print(type(name, (Error,), {}).asAMP()[1].decode("ascii"))
        return
    host, port = parse_address(argv[1] if len(argv) > 1 else None)

    def go(reactor):
        def finish(failures):
            if failures:
                raise AssertionError(f"{failures} scenario(s) failed")

        return scenarios(reactor, host, port).addCallback(finish)

    # Exits 0 once every scenario passed, 1 otherwise.
    task.react(go)


if __name__ == "__main__":
    main(sys.argv)
