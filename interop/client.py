"""
AMP client of the interoperability suite: runs scenarios, written with real
Twisted, against any server that implements the command catalogue
(commands.py, documented in COMMANDS.md).

    python interop/client.py HOST:PORT [SCENARIO ...]
    python interop/client.py unix:PATH [SCENARIO ...]
    python interop/client.py --list

With no scenario named, every scenario runs, in the order of --list. Each
scenario opens its own connection(s), so they are independent. Output, on
standard output, one line per scenario:

    PASS <name>
    FAIL <name>: <reason on one line>

then a last line, exactly ``N passed, M failed``. The exit status is 0 when
M is 0, 1 when a scenario failed, 2 for a usage error. Every scenario has a
time limit (--scenario-timeout, 20 s) and the whole run another (--timeout,
120 s), so the client never hangs.

The client answers the whole catalogue too (it is an InteropProtocol), which
the Storm scenario relies on: the server calls Sum back on it.
"""

import argparse
import datetime
import decimal
import json
import math
import os
import signal
import sys
import time

from twisted.internet import defer, reactor
from twisted.internet.endpoints import HostnameEndpoint, UNIXClientEndpoint, connectProtocol
from twisted.internet.error import ConnectionClosed
from twisted.protocols import amp
from twisted.python.filepath import FilePath

from commands import (
    LONG_KEY,
    Boom,
    Die,
    Divide,
    EchoAmpList,
    EchoBoolean,
    EchoDateTime,
    EchoDecimal,
    EchoFloat,
    EchoInteger,
    EchoListOfBoolean,
    EchoListOfInteger,
    EchoListOfString,
    EchoListOfUnicode,
    EchoLong,
    EchoOptional,
    EchoPath,
    EchoString,
    EchoUnicode,
    Fatal,
    GetNotified,
    Hang,
    Notify,
    NotifyFail,
    Storm,
    Sum,
    echo_repr,
)
from peer import InteropProtocol, line_buffered_stdout, log_to_stderr, parse_address

# How long a peer may take to close a connection it should close, and to
# fail calls pending on a connection that died.
CLOSE_WITHIN = 5.0


class Failed(Exception):
    """A scenario's check did not hold; the message is the FAIL reason."""


def check(condition, message):
    if not condition:
        raise Failed(message)


def short(value, limit=120):
    """repr of a value, cut to ``limit`` characters for a one-line reason."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def timezone(hours, minutes=0):
    """A fixed UTC offset (negative hours give a negative offset)."""
    sign = -1 if hours < 0 else 1
    return datetime.timezone(sign * datetime.timedelta(hours=abs(hours), minutes=minutes))


# -- Value tables for the echo commands ----------------------------------------
#
# Each entry is a value to send; the server must answer the same value (same
# type, same value, compared by same() below) and the repr text
# commands.echo_repr gives for it. Where the decoded value differs from what
# was sent, the entry is a pair (sent, expected) wrapped in Decoded.


class Decoded:
    """A table entry whose decoded form differs from the value sent."""

    def __init__(self, sent, expected):
        self.sent = sent
        self.expected = expected


ECHO_TABLES = {
    EchoInteger: [0, 1, -1, 94, 2**63 - 1, -(2**63), 2**64, -(10**30), 10**30],
    EchoString: [b"", b"hello", b"\x00", b"a\x00b", b"\xff", b"\x00\xff\x80\x7f", bytes(range(256))],
    EchoUnicode: [
        "",
        "hello",
        "caf\u00e9",
        "\u65e5\u672c\u8a9e",
        "astral \U0001f600 \U00010348",
        "nul\x00inside",
        "quote ' and \" and \\",
        "line\nbreak\ttab",
    ],
    EchoBoolean: [True, False],
    EchoFloat: [
        0.0,
        1.0,
        0.1,
        -0.0,
        2.5,
        1e16,
        1e-07,
        5e-324,
        1.7976931348623157e308,
        float("inf"),
        float("-inf"),
        float("nan"),
    ],
    EchoDecimal: [
        decimal.Decimal(text)
        for text in [
            "0",
            "-0",
            "1E+2",
            "1.5E+2",
            "0.1",
            "-3.14159",
            "Infinity",
            "-Infinity",
            "NaN",
            "-NaN",
            "sNaN",
            "-sNaN",
            "12345678901234567890.123456789",
        ]
    ],
    EchoDateTime: [
        datetime.datetime(2012, 1, 23, 12, 34, 56, 54321, tzinfo=datetime.timezone.utc),
        datetime.datetime(2020, 2, 29, 23, 59, 59, 999999, tzinfo=timezone(5, 30)),
        datetime.datetime(1999, 12, 31, 16, 0, 0, 1, tzinfo=timezone(-8)),
        datetime.datetime(1, 1, 1, 0, 0, 0, 0, tzinfo=datetime.timezone.utc),
        datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=datetime.timezone.utc),
        # Local fields are kept as written, even where the UTC instant would
        # fall outside years 1 to 9999.
        datetime.datetime(1, 1, 1, 0, 0, 0, 0, tzinfo=timezone(5, 30)),
        datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(-8)),
        datetime.datetime(2000, 6, 15, 12, 0, 0, 0, tzinfo=timezone(-3, 30)),
    ],
    EchoListOfInteger: [[], [0], [1, -2, 3], [2**64, -(10**30), 10**30]],
    EchoListOfUnicode: [[], [""], ["a", "b\x00c", "\U0001f600"], ["", ""]],
    EchoListOfString: [[], [b""], [b"a", b"\x00\xff", b""], [bytes(range(256))]],
    EchoListOfBoolean: [[], [True], [False, True, False]],
    EchoAmpList: [
        [],
        # The optional note present.
        [{"name": "one", "items": [{"n": 1}, {"n": 2}], "note": "with note"}],
        # The optional note absent: it decodes as None.
        Decoded(
            [{"name": "two", "items": []}, {"name": "th\u00e9ree", "items": [{"n": 10**30}]}],
            [
                {"name": "two", "items": [], "note": None},
                {"name": "th\u00e9ree", "items": [{"n": 10**30}], "note": None},
            ],
        ),
        [{"name": "", "items": [{"n": -1}], "note": ""}],
    ],
    # Absolute, normalised paths: Twisted's Path makes a path absolute
    # against its own working directory.
    EchoPath: [FilePath("/tmp/amp-interop/some file \u00e9.txt"), FilePath("/")],
}


def same(a, b):
    """
    Whether ``a`` and ``b`` are the same value of the same type, exactly:
    NaN equals NaN, -0.0 differs from 0.0, Decimals compare by their text,
    datetimes by their fields and their UTC offset, FilePaths by their path.
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, decimal.Decimal):
        return str(a) == str(b)
    if isinstance(a, datetime.datetime):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None) and a.utcoffset() == b.utcoffset()
    if isinstance(a, FilePath):
        return a.path == b.path
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


# -- Scenario machinery -----------------------------------------------------------


class Session:
    """The connections one scenario opened; all are closed after it."""

    def __init__(self, host, port):
        self.host = host
        self.port = port
        self.protocols = []

    async def connect(self):
        if self.host is None:
            # unix:PATH: the port is the socket's path.
            endpoint = UNIXClientEndpoint(reactor, self.port, timeout=CLOSE_WITHIN)
        else:
            endpoint = HostnameEndpoint(reactor, self.host, self.port, timeout=CLOSE_WITHIN)
        protocol = await connectProtocol(endpoint, InteropProtocol())
        self.protocols.append(protocol)
        return protocol

    async def close(self):
        for protocol in self.protocols:
            if not protocol.lost.called:
                protocol.transport.loseConnection()
                await within(protocol.lost, CLOSE_WITHIN, "closing the connection")


async def within(deferred, seconds, what):
    """Await ``deferred``, failing the scenario if it takes over ``seconds``."""
    try:
        return await deferred.addTimeout(seconds, reactor)
    except defer.TimeoutError:
        raise Failed(f"{what} took over {seconds} s")


async def expect_error(deferred, error_type, what):
    """Await a call that must fail with ``error_type``; return the exception."""
    try:
        result = await deferred
    except error_type as error:
        return error
    except Exception as error:
        raise Failed(f"{what}: expected {error_type.__name__}, got {type(error).__name__}: {error}")
    raise Failed(f"{what}: expected {error_type.__name__}, got the answer {short(result)}")


async def expect_closed(protocol, what):
    """The peer must close the connection within CLOSE_WITHIN seconds."""
    await within(protocol.lost, CLOSE_WITHIN, f"the server closing the connection after {what}")


SCENARIOS = {}


def scenario(name):
    """Register an async function taking a Session as the scenario ``name``."""

    def register(function):
        SCENARIOS[name] = function
        return function

    return register


# -- Scenarios: echo ------------------------------------------------------------------


def echo_scenario(name, command):
    @scenario(name)
    async def run(session):
        protocol = await session.connect()
        for entry in ECHO_TABLES[command]:
            sent, expected = (entry.sent, entry.expected) if isinstance(entry, Decoded) else (entry, entry)
            answer = await protocol.callRemote(command, value=sent)
            check(
                same(answer["value"], expected),
                f"sent {short(sent)}, echoed {short(answer['value'])}",
            )
            want = echo_repr(command, expected)
            check(answer["repr"] == want, f"sent {short(sent)}: repr {short(answer['repr'])}, expected {short(want)}")


for _name, _command in [
    ("echo-integer", EchoInteger),
    ("echo-string", EchoString),
    ("echo-unicode", EchoUnicode),
    ("echo-boolean", EchoBoolean),
    ("echo-float", EchoFloat),
    ("echo-decimal", EchoDecimal),
    ("echo-datetime", EchoDateTime),
    ("echo-list-of-integer", EchoListOfInteger),
    ("echo-list-of-unicode", EchoListOfUnicode),
    ("echo-list-of-string", EchoListOfString),
    ("echo-list-of-boolean", EchoListOfBoolean),
    ("echo-amp-list", EchoAmpList),
    ("echo-path", EchoPath),
]:
    echo_scenario(_name, _command)


# Values EchoOptional is called with (besides no value at all).
OPTIONAL_TEXTS = ["", "present", "\U0001f600"]


@scenario("echo-optional")
async def echo_optional(session):
    protocol = await session.connect()
    # Absent: no ``value`` key in the request, none in the answer.
    answer = await protocol.callRemote(EchoOptional)
    check(answer["present"] is False, f"absent value reported present: {short(answer)}")
    check(answer["value"] is None, f"absent value echoed as {short(answer['value'])}")
    check(answer["repr"] == "None", f"absent value: repr {short(answer['repr'])}, expected 'None'")
    # Present, the empty text included.
    for text in OPTIONAL_TEXTS:
        answer = await protocol.callRemote(EchoOptional, value=text)
        check(answer["present"] is True, f"value {short(text)} reported absent")
        check(same(answer["value"], text), f"sent {short(text)}, echoed {short(answer['value'])}")
        want = echo_repr(EchoOptional, text)
        check(answer["repr"] == want, f"sent {short(text)}: repr {short(answer['repr'])}, expected {short(want)}")


@scenario("echo-long")
async def echo_long(session):
    protocol = await session.connect()
    key = LONG_KEY.decode("ascii")
    keyed = b"under the longest key"
    big = bytes(i % 256 for i in range(65535))  # the longest value
    answer = await protocol.callRemote(EchoLong, **{key: keyed, "big": big})
    check(answer[key] == keyed, f"the 255-byte key echoed {short(answer[key])}")
    check(answer["big"] == big, f"the 65535-byte value came back as {len(answer['big'])} other bytes")


# -- Scenarios: arithmetic and errors ---------------------------------------------------


@scenario("sum")
async def sum_(session):
    protocol = await session.connect()
    for a, b in [(13, 81), (0, 0), (-5, 3), (2**64, 10**30), (-(10**30), 1)]:
        answer = await protocol.callRemote(Sum, a=a, b=b)
        check(same(answer["total"], a + b), f"Sum({a}, {b}) = {short(answer['total'])}")


@scenario("divide")
async def divide(session):
    protocol = await session.connect()
    answer = await protocol.callRemote(Divide, numerator=1234, denominator=4)
    check(same(answer["result"], 308.5), f"Divide(1234, 4) = {short(answer['result'])}")
    answer = await protocol.callRemote(Divide, numerator=1, denominator=3)
    check(same(answer["result"], 1 / 3), f"Divide(1, 3) = {short(answer['result'])}")


@scenario("divide-by-zero")
async def divide_by_zero(session):
    protocol = await session.connect()
    error = await expect_error(
        protocol.callRemote(Divide, numerator=1234, denominator=0), ZeroDivisionError, "Divide(1234, 0)"
    )
    check(
        str(error) == "float division by zero",
        f"ZERO_DIVISION description {short(str(error))}, expected 'float division by zero'",
    )
    # A declared, non-fatal error leaves the connection usable.
    answer = await protocol.callRemote(Sum, a=1, b=2)
    check(answer["total"] == 3, f"Sum after ZERO_DIVISION = {short(answer['total'])}")


@scenario("unknown-command")
async def unknown_command(session):
    protocol = await session.connect()
    error = await expect_error(
        protocol.callRemoteString(b"NoSuchCommand"), amp.UnhandledCommand, "the unknown command NoSuchCommand"
    )
    code, description = error.args
    check(code == b"UNHANDLED", f"error code {short(code)}, expected b'UNHANDLED'")
    want = "Unhandled Command: b'NoSuchCommand'"
    check(description == want, f"description {short(description)}, expected {short(want)}")
    # UNHANDLED is not fatal.
    answer = await protocol.callRemote(Sum, a=40, b=2)
    check(answer["total"] == 42, f"Sum after UNHANDLED = {short(answer['total'])}")
    check(not protocol.lost.called, "the connection closed after UNHANDLED")


@scenario("fatal")
async def fatal(session):
    protocol = await session.connect()
    error = await expect_error(protocol.callRemote(Fatal), KeyError, "Fatal")
    check(error.args == ("'x'",), f"FATAL_KEY description {short(error.args)}, expected (\"'x'\",)")
    await expect_closed(protocol, "FATAL_KEY")


@scenario("boom")
async def boom(session):
    protocol = await session.connect()
    error = await expect_error(protocol.callRemote(Boom), amp.UnknownRemoteError, "Boom")
    check(error.errorCode == b"UNKNOWN", f"error code {short(error.errorCode)}, expected b'UNKNOWN'")
    check(
        error.description == "Unknown Error",
        f"description {short(error.description)}, expected 'Unknown Error'",
    )
    await expect_closed(protocol, "UNKNOWN")


# -- Scenarios: commands without an answer ------------------------------------------------


@scenario("notify")
async def notify(session):
    protocol = await session.connect()
    texts = ["first", "zweite \u00fc", "third \U0001f389"]
    for text in texts:
        result = protocol.callRemote(Notify, text=text)
        check(result is None, "callRemote(Notify) returned a Deferred")
    answer = await protocol.callRemote(GetNotified)
    check(answer["texts"] == texts, f"GetNotified = {short(answer['texts'])}, expected {short(texts)}")
    # A fresh connection has its own, empty log.
    other = await session.connect()
    answer = await other.callRemote(GetNotified)
    check(answer["texts"] == [], f"GetNotified on a fresh connection = {short(answer['texts'])}")


@scenario("notify-fail")
async def notify_fail(session):
    protocol = await session.connect()
    protocol.callRemote(NotifyFail, text="fail")
    # Twisted drops a connection whose unanswered command failed.
    await expect_closed(protocol, "NotifyFail")


# -- Scenarios: concurrency and connection loss ----------------------------------------------


@scenario("storm")
async def storm(session):
    protocol = await session.connect()
    count = 200
    # 200 Sum calls and a Storm(200) in flight at once: while they are
    # pending, the server calls Sum back on us 200 times.
    sums = [protocol.callRemote(Sum, a=i, b=10**20 + i) for i in range(count)]
    stormed = protocol.callRemote(Storm, count=count)
    answers = await within(
        defer.gatherResults(sums + [stormed], consumeErrors=True), 15.0, "200 Sum calls and Storm(200)"
    )
    for i, answer in enumerate(answers[:count]):
        check(answer["total"] == 10**20 + 2 * i, f"Sum({i}, {10**20 + i}) = {short(answer['total'])}")
    want = count * (count + 1) // 2
    check(answers[count]["total"] == want, f"Storm({count}) = {short(answers[count]['total'])}, expected {want}")
    check(
        protocol.sums_answered == count,
        f"the server called Sum back {protocol.sums_answered} times, expected {count}",
    )


@scenario("hang-die")
async def hang_die(session):
    protocol = await session.connect()
    pending = [protocol.callRemote(Hang) for _ in range(5)]
    pending.append(protocol.callRemote(Die))
    names = [f"Hang #{n}" for n in range(1, 6)] + ["Die"]
    # Every pending call must fail, promptly, with a connection-lost error
    # (ConnectionDone, ConnectionLost: both are ConnectionClosed).
    outcomes = await within(
        defer.DeferredList(pending, consumeErrors=True), CLOSE_WITHIN, "the pending calls failing after Die"
    )
    for name, (succeeded, result) in zip(names, outcomes):
        check(not succeeded, f"{name}: expected a connection-lost error, got the answer {short(result)}")
        check(
            result.check(ConnectionClosed),
            f"{name}: expected a connection-lost error, got {result.type.__name__}: {result.getErrorMessage()}",
        )
    await within(protocol.lost, CLOSE_WITHIN, "the connection closing after Die")


# -- The echo tables as data ------------------------------------------------------------------


def echo_cases():
    """
    Every echo case of the tables above as plain data, for peers that are not
    written in Python (interop/echo_cases.json is this, written by
    ``client.py --dump-cases``): the command, Python's repr of the value sent,
    the value's wire bytes as sent and as they must be echoed (Twisted's
    encoding of the decoded value, in hex), and the expected ``repr`` answer.
    """
    proto = amp.AMP()
    cases = []
    for command, table in ECHO_TABLES.items():
        argument = dict(command.arguments)[b"value"]
        for entry in table:
            sent, expected = (entry.sent, entry.expected) if isinstance(entry, Decoded) else (entry, entry)
            cases.append(
                {
                    "command": command.commandName.decode("ascii"),
                    "value": repr(sent),
                    "sent_hex": argument.toStringProto(sent, proto).hex(),
                    "echoed_hex": argument.toStringProto(expected, proto).hex(),
                    "repr": echo_repr(command, expected),
                }
            )
    # EchoOptional: absent, then present values (see the echo-optional scenario).
    cases.append({"command": "EchoOptional", "value": "None", "sent_hex": None, "echoed_hex": None, "repr": "None"})
    for text in OPTIONAL_TEXTS:
        wire = text.encode("utf-8").hex()
        cases.append(
            {
                "command": "EchoOptional",
                "value": repr(text),
                "sent_hex": wire,
                "echoed_hex": wire,
                "repr": echo_repr(EchoOptional, text),
            }
        )
    return cases


# -- Running ---------------------------------------------------------------------------------------


def one_line(error):
    """A FAIL reason on one line."""
    if isinstance(error, defer.FirstError):
        # A gathered call failed: report that call's error.
        error = error.subFailure.value
    if isinstance(error, Failed):
        text = str(error)
    else:
        text = f"{type(error).__name__}: {error}"
    return " ".join(text.split()) or type(error).__name__


async def run(host, port, names, scenario_timeout, overall_timeout):
    """Run the named scenarios in turn, print their lines; return the failures."""
    deadline = time.monotonic() + overall_timeout
    passed = failed = 0
    for name in names:
        left = deadline - time.monotonic()
        session = Session(host, port)
        try:
            if left <= 0:
                raise Failed(f"not run: the whole run's {overall_timeout} s were used up")
            limit = min(scenario_timeout, left)
            await within(defer.ensureDeferred(SCENARIOS[name](session)), limit, "the scenario")
            await session.close()
        except Exception as error:
            failed += 1
            print(f"FAIL {name}: {one_line(error)}")
            # Best effort: drop whatever the scenario left open.
            for protocol in session.protocols:
                if protocol.transport is not None:
                    protocol.transport.abortConnection()
        else:
            passed += 1
            print(f"PASS {name}")
    print(f"{passed} passed, {failed} failed")
    return failed


def main(argv):
    parser = argparse.ArgumentParser(
        description="Run AMP interoperability scenarios against a server of the catalogue."
    )
    parser.add_argument(
        "address", nargs="?", help="HOST:PORT or unix:PATH of the server (default 127.0.0.1:1234)"
    )
    parser.add_argument("scenarios", nargs="*", help="scenarios to run (default: all)")
    parser.add_argument("--list", action="store_true", help="print the scenario names and exit")
    parser.add_argument(
        "--dump-cases", action="store_true", help="print the echo cases as JSON (echo_cases.json) and exit"
    )
    parser.add_argument("--scenario-timeout", type=float, default=20.0, help="seconds per scenario (20)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for the whole run (120)")
    args = parser.parse_args(argv[1:])

    line_buffered_stdout()
    if args.list:
        print("\n".join(SCENARIOS))
        return 0
    if args.dump_cases:
        print(json.dumps(echo_cases(), indent=1, ensure_ascii=True))
        return 0
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; --list shows them")
    if args.address and args.address.startswith("unix:"):
        host, port = None, args.address[len("unix:"):]
    else:
        host, port = parse_address(args.address)
    names = args.scenarios or list(SCENARIOS)
    log_to_stderr()

    # Last resort, should the reactor itself get stuck.
    def hard_timeout(signum, frame):
        print(f"FAIL client: hard timeout after {args.timeout + 15:.0f} s")
        print(f"0 passed, {len(names)} failed")
        sys.stdout.flush()
        os._exit(1)

    signal.signal(signal.SIGALRM, hard_timeout)
    signal.alarm(int(args.timeout) + 15)

    outcome = {}

    def finished(result):
        outcome["result"] = result
        reactor.stop()

    reactor.callWhenRunning(
        lambda: defer.ensureDeferred(run(host, port, names, args.scenario_timeout, args.timeout)).addBoth(finished)
    )
    reactor.run()
    result = outcome.get("result")
    if isinstance(result, int):
        return 0 if result == 0 else 1
    print(f"FAIL client: {result}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
