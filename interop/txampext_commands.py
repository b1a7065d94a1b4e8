"""
The commands the txampext interoperability tests share with the Rust side
(amp-tokio/tests/txampext.rs declares the same ones): txampext's
constrained arguments, nested boxes and error codes made from exception
names, on real Twisted through the Python 3 port in txampext/.

    Paint(colour: Unicode in {red, green, blue}, coats: Integer > 0 and even,
          painter: Unicode not in {root}) -> (receipt: Unicode)
        receipt: "<coats> coats of <colour> by <painter>"
    Move(to: NestedAMPBox(x: Integer, y: Integer, label: Unicode))
        -> (landed: NestedAMPBox(same))
        landed: x + 1, y + 1, label + "!"
    Connect(factory: Unicode) -> (connection: Unicode)
        errors NoSuchFactory.asAMP() (NO_SUCH_FACTORY) when factory is
        "nope", ConnectionRefused.asAMP() (CONNECTION_REFUSED) when it is
        "refuse"; otherwise connection: "<factory>-1"

PaintUnchecked and MoveMany are the same commands without txampext's
checks: what a peer that does not check sends (a colour outside the set,
an AmpList of two boxes), to see the other side refuse it.
"""

from twisted.protocols import amp

from txampext.constraints import ConstrainedArgument, inSet, notInSet
from txampext.errors import Error
from txampext.nested import NestedAMPBox

COLOURS = {"red", "green", "blue"}


def positive(n):
    return n > 0


def even(n):
    return n % 2 == 0


class Paint(amp.Command):
    commandName = b"Paint"
    arguments = [
        (b"colour", ConstrainedArgument(amp.Unicode(), inSet(COLOURS))),
        (b"coats", ConstrainedArgument(amp.Integer(), positive, even)),
        (b"painter", ConstrainedArgument(amp.Unicode(), notInSet({"root"}))),
    ]
    response = [(b"receipt", amp.Unicode())]


class PaintUnchecked(amp.Command):
    commandName = b"Paint"
    arguments = [
        (b"colour", amp.Unicode()),
        (b"coats", amp.Integer()),
        (b"painter", amp.Unicode()),
    ]
    response = [(b"receipt", amp.Unicode())]


POINT = [(b"x", amp.Integer()), (b"y", amp.Integer()), (b"label", amp.Unicode())]


class Move(amp.Command):
    commandName = b"Move"
    arguments = [(b"to", NestedAMPBox(POINT))]
    response = [(b"landed", NestedAMPBox(POINT))]


class MoveMany(amp.Command):
    commandName = b"Move"
    arguments = [(b"to", amp.AmpList(POINT))]
    response = [(b"landed", amp.AmpList(POINT))]


class NoSuchFactory(Error):
    pass


class ConnectionRefused(Error):
    pass


class Connect(amp.Command):
    commandName = b"Connect"
    arguments = [(b"factory", amp.Unicode())]
    response = [(b"connection", amp.Unicode())]
    errors = dict([NoSuchFactory.asAMP(), ConnectionRefused.asAMP()])


class TxampextProtocol(amp.AMP):
    """The server side of the catalogue above."""

    @Paint.responder
    def paint(self, colour, coats, painter):
        return {"receipt": f"{coats} coats of {colour} by {painter}"}

    @Move.responder
    def move(self, to):
        return {"landed": {"x": to["x"] + 1, "y": to["y"] + 1, "label": to["label"] + "!"}}

    @Connect.responder
    def connect(self, factory):
        if factory == "nope":
            raise NoSuchFactory(f"no factory {factory}")
        if factory == "refuse":
            raise ConnectionRefused("refused")
        return {"connection": f"{factory}-1"}
