"""
What the Twisted peers of the interoperability suite share: the protocol that
answers the whole command catalogue (commands.py), and small helpers for
addresses, output, logging and shutting down when the parent process goes.
"""

import os
import stat
import sys
import threading

from twisted.internet import defer, reactor
from twisted.internet.error import ReactorNotRunning
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)
from twisted.protocols import amp
from twisted.protocols.wire import Echo

from commands import (
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
    OpenGreeting,
    Storm,
    Sum,
    SwitchToEcho,
    WriteTo,
    echo_repr,
    greeting,
)


class InteropProtocol(amp.AMP):
    """
    One AMP connection that answers every command of the catalogue.

    A new instance serves each connection, so the Notify log is per
    connection. Both the server and the client of the suite use it: a server
    may call commands back on its client (Storm does), and a Rust peer may
    call anything on a Twisted peer.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Texts delivered by Notify, in arrival order.
        self.notified = []
        # How many Sum calls this side has answered (the client checks that a
        # Storm really called it back).
        self.sums_answered = 0
        # Fires with the exception that ended the connection (for example
        # ConnectionDone) when the connection is lost.
        self.lost = defer.Deferred()

    def connectionLost(self, reason):
        super().connectionLost(reason)
        if not self.lost.called:
            self.lost.callback(reason.value)

    # -- Arithmetic --------------------------------------------------------

    @Sum.responder
    def sum(self, a, b):
        self.sums_answered += 1
        return {"total": a + b}

    @Divide.responder
    def divide(self, numerator, denominator):
        # float / 0 raises ZeroDivisionError('float division by zero'), the
        # declared ZERO_DIVISION.
        return {"result": float(numerator) / denominator}

    # -- Echo --------------------------------------------------------------

    def _echo(command):
        """A responder answering ``value`` back with its ``repr`` text."""

        def echo(self, value):
            return {"value": value, "repr": echo_repr(command, value)}

        echo.__name__ = f"echo_{command.__name__}"
        return echo

    for _command in (
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
    ):
        # Command.responder registers with the class being defined, as the
        # decorator form does.
        _command.responder(_echo(_command))
    del _command, _echo

    @EchoOptional.responder
    def echo_optional(self, value):
        # An absent optional argument arrives as None; None is then left out
        # of the answer.
        return {
            "present": value is not None,
            "value": value,
            "repr": echo_repr(EchoOptional, value),
        }

    @EchoLong.responder
    def echo_long(self, **arguments):
        # The 255-byte key is not a usable parameter name; take both
        # arguments as keywords and answer them under the same names.
        return arguments

    # -- Errors ------------------------------------------------------------

    @Fatal.responder
    def fatal(self):
        raise KeyError("x")

    @Boom.responder
    def boom(self):
        raise RuntimeError("boom")

    # -- Commands without an answer ----------------------------------------

    @Notify.responder
    def notify(self, text):
        self.notified.append(text)
        return {}

    @GetNotified.responder
    def get_notified(self):
        return {"texts": list(self.notified)}

    @NotifyFail.responder
    def notify_fail(self, text):
        raise ValueError("notify failed")

    # -- Concurrency and connection loss -----------------------------------

    @Storm.responder
    def storm(self, count):
        # Every call is sent before any answer is awaited.
        calls = [self.callRemote(Sum, a=i, b=1) for i in range(count)]
        gathered = defer.gatherResults(calls, consumeErrors=True)
        gathered.addCallback(lambda answers: {"total": sum(a["total"] for a in answers)})
        return gathered

    @Hang.responder
    def hang(self):
        return defer.Deferred()

    @Die.responder
    def die(self):
        # Standard input and output (StandardIO) cannot be aborted, only lost.
        getattr(self.transport, "abortConnection", self.transport.loseConnection)()
        return defer.Deferred()

    # -- Protocol switching ------------------------------------------------

    @WriteTo.responder
    def write_to(self, fd, text):
        data = text.encode("utf-8")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        return {"written": len(data)}

    @OpenGreeting.responder
    def open_greeting(self):
        read_end, write_end = os.pipe()
        try:
            os.write(write_end, greeting("Twisted"))
        finally:
            os.close(write_end)
        # Twisted's transport sends the descriptor when it next writes, so
        # the read end stays open until then (a second is plenty).
        reactor.callLater(1.0, _close_quietly, read_end)
        return {"fd": read_end}

    @SwitchToEcho.responder
    def switch_to_echo(self):
        # The protocol switched to: ProtocolSwitchCommand's responder
        # returns it, and Twisted hands it the transport (and the bytes
        # already received after the request) once the answer is written.
        return Echo()


# -- Helpers -------------------------------------------------------------------


def _close_quietly(fd):
    try:
        os.close(fd)
    except OSError:
        pass


def parse_address(text, default="127.0.0.1:1234"):
    """
    Split ``host:port`` (or ``[v6-host]:port``) into (host, port).

    Raises SystemExit with a usage message when the text is malformed.
    """
    text = text or default
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise SystemExit(f"bad address {text!r}: expected host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def listen(text, factory):
    """
    Listen with ``factory`` on ``host:port`` (TCP, port 0 picks a free one)
    or ``unix:PATH`` (a new UNIX socket). Returns what the ``LISTENING``
    line names: the port, or ``unix:PATH``.
    """
    if text and text.startswith("unix:"):
        path = text[len("unix:"):]
        if not path:
            raise SystemExit("bad address 'unix:': expected unix:PATH")
        reactor.listenUNIX(path, factory)
        return f"unix:{path}"
    host, port = parse_address(text)
    listening = reactor.listenTCP(port, factory, interface=host)
    return str(listening.getHost().port)


def serve_stdio(protocol):
    """
    Serve ``protocol`` on this process's standard input and output
    (Twisted's StandardIO), as the child of a process that spawned it: from
    now on print() writes to standard error, so that nothing but AMP goes
    to standard output, and the reactor stops when the connection is lost
    (standard input ended, or the protocol closed it).
    """
    from twisted.internet import stdio

    sys.stdout = sys.stderr
    lost = protocol.connectionLost

    def connection_lost(reason):
        lost(reason)
        stop_reactor()

    protocol.connectionLost = connection_lost
    stdio.StandardIO(protocol)


def line_buffered_stdout():
    """Make every printed line reach a pipe at once (a parent waits for it)."""
    sys.stdout.reconfigure(line_buffering=True)


def log_to_stderr():
    """
    Send Twisted's log to standard error: warnings and worse (tracebacks of
    failed responders, dropped connections) by default, everything when
    AMP_INTEROP_VERBOSE is set. Kept short so that a parent that pipes
    standard error without reading it does not fill the pipe.
    """
    level = LogLevel.debug if os.environ.get("AMP_INTEROP_VERBOSE") else LogLevel.warn
    predicate = LogLevelFilterPredicate(defaultLogLevel=level)
    observer = FilteringLogObserver(textFileLogObserver(sys.stderr), [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def stop_reactor():
    """Stop the reactor unless it is already stopping."""
    try:
        reactor.stop()
    except ReactorNotRunning:
        pass


def stop_when_stdin_closes():
    """
    Stop the reactor when standard input reaches end of file, so that a
    server whose parent (a test process) dies does not run on.

    Only a pipe, a socket or a terminal is watched: when standard input is
    /dev/null, a regular file or closed (as under CI), it would end at once,
    so it is ignored and the process runs until it is killed. A parent that
    wants the watch gives the child a pipe (e.g. Rust's Stdio::piped()) and
    simply keeps it open.
    """
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(0)):
        return

    def watch():
        try:
            while os.read(0, 65536):
                pass
        except OSError:
            pass
        reactor.callFromThread(stop_reactor)

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()


async def check(results, name, work):
    """Runs the async check `work`, appending (name, None) to `results`, or
    (name, what it raised)."""
    try:
        await work()
    except Exception as e:  # noqa: BLE001 (reported, not raised)
        results.append((name, f"{type(e).__name__}: {e}"))
    else:
        results.append((name, None))


def run_checks(label, checks, limit=50):
    """Runs the coroutine `checks` (which returns a list of (name, problem or
    None), as `check` makes it) on the reactor, for at most `limit` seconds;
    prints PASS or FAIL per check and `N passed, M failed`; returns the exit
    status: 0 when every check passed."""
    sys.stdout.reconfigure(line_buffering=True)
    outcome = {}

    def finished(result):
        outcome["result"] = result
        if reactor.running:
            reactor.stop()

    def give_up():
        outcome["result"] = RuntimeError(f"no result within {limit} s")
        reactor.stop()

    reactor.callLater(limit, give_up)
    reactor.callWhenRunning(lambda: defer.ensureDeferred(checks).addBoth(finished))
    reactor.run()
    result = outcome.get("result")
    if not isinstance(result, list):
        print(f"FAIL {label}: {getattr(result, 'value', result)!r}")
        print("0 passed, 1 failed")
        return 1
    failed = 0
    for name, problem in result:
        if problem is None:
            print(f"PASS {name}")
        else:
            failed += 1
            print(f"FAIL {name}: {problem}")
    print(f"{len(result) - failed} passed, {failed} failed")
    return 0 if failed == 0 else 1
