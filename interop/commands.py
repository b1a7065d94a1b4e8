"""
The command catalogue of the AMP interoperability suite.

Every peer of the suite (the Twisted peers in this directory and the Rust
peers that mirror them) speaks exactly these commands; COMMANDS.md documents
them for the Rust side, key by key. This module only declares the commands and
the ``repr`` text that the echo responders send back; the responders
themselves live in peer.py.

Wire names: a Command's wire name is its class name (``Sum`` travels as
``_command: Sum``); argument and response keys are the byte strings below.
"""

from twisted.protocols import amp

__all__ = [
    "Sum",
    "Divide",
    "EchoInteger",
    "EchoString",
    "EchoUnicode",
    "EchoBoolean",
    "EchoFloat",
    "EchoDecimal",
    "EchoDateTime",
    "EchoListOfInteger",
    "EchoListOfUnicode",
    "EchoListOfString",
    "EchoListOfBoolean",
    "EchoAmpList",
    "EchoPath",
    "EchoOptional",
    "EchoLong",
    "LONG_KEY",
    "Fatal",
    "Boom",
    "Notify",
    "GetNotified",
    "NotifyFail",
    "Storm",
    "Hang",
    "Die",
    "ECHO_COMMANDS",
    "echo_repr",
]


# -- Arithmetic (the commands of Twisted's AMP examples) ---------------------


class Sum(amp.Command):
    """Add two integers of any size."""

    arguments = [(b"a", amp.Integer()), (b"b", amp.Integer())]
    response = [(b"total", amp.Integer())]


class Divide(amp.Command):
    """Divide as floats; a zero denominator is the declared ZERO_DIVISION."""

    arguments = [(b"numerator", amp.Integer()), (b"denominator", amp.Integer())]
    response = [(b"result", amp.Float())]
    errors = {ZeroDivisionError: b"ZERO_DIVISION"}


# -- Echo commands: one per argument type -------------------------------------
#
# Each takes ``value`` and answers ``value`` (the same type: the server
# re-encodes what it decoded) and ``repr`` (Unicode: a text form of the value
# the server decoded, produced by echo_repr below), so that a client checks
# the server's interpretation of the bytes, not just that they round-trip.


def _echo(name, argument_type):
    """Declare an echo command named ``name`` for ``argument_type``."""
    return type(
        name,
        (amp.Command,),
        {
            "__doc__": f"Echo one {type(argument_type).__name__} value.",
            "arguments": [(b"value", argument_type)],
            "response": [(b"value", argument_type), (b"repr", amp.Unicode())],
        },
    )


EchoInteger = _echo("EchoInteger", amp.Integer())
EchoString = _echo("EchoString", amp.String())
EchoUnicode = _echo("EchoUnicode", amp.Unicode())
EchoBoolean = _echo("EchoBoolean", amp.Boolean())
EchoFloat = _echo("EchoFloat", amp.Float())
EchoDecimal = _echo("EchoDecimal", amp.Decimal())
EchoDateTime = _echo("EchoDateTime", amp.DateTime())
EchoListOfInteger = _echo("EchoListOfInteger", amp.ListOf(amp.Integer()))
EchoListOfUnicode = _echo("EchoListOfUnicode", amp.ListOf(amp.Unicode()))
EchoListOfString = _echo("EchoListOfString", amp.ListOf(amp.String()))
EchoListOfBoolean = _echo("EchoListOfBoolean", amp.ListOf(amp.Boolean()))
EchoAmpList = _echo(
    "EchoAmpList",
    amp.AmpList(
        [
            (b"name", amp.Unicode()),
            (b"items", amp.AmpList([(b"n", amp.Integer())])),
            (b"note", amp.Unicode(optional=True)),
        ]
    ),
)
EchoPath = _echo("EchoPath", amp.Path())


class EchoOptional(amp.Command):
    """
    Echo an optional Unicode argument: ``present`` tells whether the request
    carried the key; ``value`` is sent back only when it did.
    """

    arguments = [(b"value", amp.Unicode(optional=True))]
    response = [
        (b"present", amp.Boolean()),
        (b"value", amp.Unicode(optional=True)),
        (b"repr", amp.Unicode()),
    ]


# Every echo command taking and answering ``value`` plus ``repr``.
ECHO_COMMANDS = [
    EchoInteger,
    EchoString,
    EchoUnicode,
    EchoBoolean,
    EchoFloat,
    EchoDecimal,
    EchoDateTime,
    EchoListOfInteger,
    EchoListOfUnicode,
    EchoListOfString,
    EchoListOfBoolean,
    EchoAmpList,
    EchoPath,
    EchoOptional,
]


def echo_repr(command, value):
    """
    The ``repr`` text an echo responder answers for the decoded ``value``.

    This is Python's ``repr(value)`` for every echo command except
    EchoDateTime, whose repr would show the address of a tzinfo object; it is
    ``value.isoformat(timespec="microseconds")`` instead, which is always
    ``YYYY-MM-DDTHH:MM:SS.ffffff+HH:MM`` (a zero offset reads ``+00:00``).
    """
    if command is EchoDateTime:
        return value.isoformat(timespec="microseconds")
    return repr(value)


# -- Limits -------------------------------------------------------------------

# The longest key AMP allows: 255 bytes.
LONG_KEY = b"k" * 255


class EchoLong(amp.Command):
    """
    Echo a String under a 255-byte key (the longest key AMP allows) and a
    String ``big`` (up to 65535 bytes, the longest value AMP allows), both
    answered under the same keys.
    """

    arguments = [(LONG_KEY, amp.String()), (b"big", amp.String())]
    response = [(LONG_KEY, amp.String()), (b"big", amp.String())]


# -- Errors -------------------------------------------------------------------


class Fatal(amp.Command):
    """
    The responder raises KeyError('x'), declared as the fatal error FATAL_KEY:
    the error box is written and then the connection is closed.
    """

    arguments = []
    response = []
    errors = {KeyError: b"FATAL_KEY"}
    fatalErrors = {KeyError: b"FATAL_KEY"}


class Boom(amp.Command):
    """
    The responder raises an exception that the command does not declare: the
    answer is the error UNKNOWN ("Unknown Error") and the connection closes.
    """

    arguments = []
    response = []


# -- Commands without an answer -----------------------------------------------


class Notify(amp.Command):
    """
    Deliver a text without asking for an answer (no ``_ask`` on the wire).
    The responder appends it to the connection's log, read by GetNotified.
    """

    arguments = [(b"text", amp.Unicode())]
    response = []
    requiresAnswer = False


class GetNotified(amp.Command):
    """Every text that Notify delivered on this connection, in order."""

    arguments = []
    response = [(b"texts", amp.ListOf(amp.Unicode()))]


class NotifyFail(amp.Command):
    """
    Like Notify, but the responder raises ValueError('notify failed'), which
    the command does not declare. Without ``_ask`` there is nobody to send an
    error to, and Twisted then drops the connection (it treats the failure as
    unhandled). With ``_ask`` the answer is UNKNOWN and the connection closes,
    as for Boom.
    """

    arguments = [(b"text", amp.Unicode())]
    response = []
    requiresAnswer = False


# -- Concurrency and connection loss ------------------------------------------


class Storm(amp.Command):
    """
    The responder calls Sum(a=i, b=1) back on the caller for i = 0..count-1,
    all in flight at once, waits for every answer and returns the sum of
    their totals: count * (count + 1) / 2 when the caller adds correctly.
    """

    arguments = [(b"count", amp.Integer())]
    response = [(b"total", amp.Integer())]


class Hang(amp.Command):
    """The responder never answers (its Deferred never fires)."""

    arguments = []
    response = []


class Die(amp.Command):
    """
    The responder answers nothing and aborts the connection at once
    (transport.abortConnection()), so that every call the caller still has
    pending on it fails with a connection-lost error.
    """

    arguments = []
    response = []


# -- Protocol switching --------------------------------------------------------


class SwitchToEcho(amp.ProtocolSwitchCommand):
    """
    After the answer the connection echoes every byte back (the responder
    returns twisted.protocols.wire.Echo as the protocol switched to).
    """

    arguments = []
    response = []


# -- Descriptor passing (UNIX sockets only) -------------------------------------


class WriteTo(amp.Command):
    """
    The responder writes `text`, as UTF-8, into the descriptor it received,
    closes it, and answers how many bytes it wrote.
    """

    arguments = [(b"fd", amp.Descriptor()), (b"text", amp.Unicode())]
    response = [(b"written", amp.Integer())]


class OpenGreeting(amp.Command):
    """
    The responder answers with the read end of a pipe holding
    ``hello from <implementation>\\n`` (``Twisted`` for these peers,
    ``amp-rs`` for the Rust ones), and closes its own ends.
    """

    arguments = []
    response = [(b"fd", amp.Descriptor())]


def greeting(implementation):
    """The bytes OpenGreeting's pipe holds."""
    return f"hello from {implementation}\n".encode("utf-8")
