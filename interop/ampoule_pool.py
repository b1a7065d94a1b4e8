"""
A real ampoule (24.10) process pool whose workers are a program that is not
Python: the Rust ``ampserver stdio`` (or anything serving AMP on its standard
input and output).

    python interop/ampoule_pool.py WORKER [ARGS ...]

How ampoule starts a worker, and what this script changes: ampoule's
ProcessStarter always runs ``sys.executable -c BOOTSTRAP ARGS...`` with the
child's descriptors 0 to 4 all pipes, and speaks AMP on descriptors 3 (to the
child) and 4 (from the child); its own BOOTSTRAP serves a Python AMPChild on
those with StandardIO(proto, 3, 4). Nothing in ampoule spawns another
executable, so the pool is given a bootstrap of its own (ProcessStarter's
``bootstrap`` argument, made for this): a few lines of Python that move
descriptors 3 and 4 onto 0 and 1 and exec WORKER with ARGS, which then
serves AMP on its standard input and output. ampoule's pool, its AMPConnector
and everything on the parent's side are ampoule's, unchanged.

It checks, printing one line each on standard output:

    PASS <name>  /  FAIL <name>: <reason>

- ``work``: the pool's doWork runs Sum and Divide on the workers (two of
  them), 50 calls at once, with Divide's declared ZERO_DIVISION coming back
  as ZeroDivisionError;
- ``shutdown``: ampoule's Shutdown command to one worker gets its empty
  answer, after which that worker exits 0 by itself (ProcessDone);
- ``stop``: the pool's stop() (Shutdown to every worker) ends every worker
  with status 0, within 10 seconds.

The last line is ``N passed, M failed``; the exit status is 0 when M is 0.
The whole run is bounded (50 s).
"""

import os
import sys

from twisted.internet import defer, error, reactor
from twisted.protocols import amp

from peer import check, run_checks

from ampoule import child, commands, main as ampoule_main, pool

# Runs as the worker's first process: ampoule's AMP pipes (3 to the child, 4
# from it) become standard input and output, and the worker replaces this
# Python. sys.argv is ["-c", WORKER, ARGS..., childReactor, ampChildPath]: the
# last two are ampoule's, for its own bootstrap.
BOOTSTRAP = """\
import os, sys
worker = sys.argv[1:-2]
os.dup2(3, 0)
os.dup2(4, 1)
os.close(3)
os.close(4)
os.execv(worker[0], worker)
"""


# How each worker ended: its AMP protocol (the pool's "child") to the reason
# processEnded got, recorded by the connector below.
ENDED = {}


class RecordingConnector(ampoule_main.AMPConnector):
    """ampoule's AMPConnector, noting how its process ended."""

    def processEnded(self, status):
        ENDED[self.amp] = status
        super().processEnded(status)


class Starter(ampoule_main.ProcessStarter):
    """ampoule's ProcessStarter, with the recording connector."""

    connectorFactory = RecordingConnector


def exited_zero(worker):
    status = ENDED.get(worker)
    if status is None:
        return "it has not ended"
    if not status.check(error.ProcessDone):
        return f"it did not exit 0: {status.value}"
    return None


class Sum(amp.Command):
    arguments = [(b"a", amp.Integer()), (b"b", amp.Integer())]
    response = [(b"total", amp.Integer())]


class Divide(amp.Command):
    arguments = [(b"numerator", amp.Integer()), (b"denominator", amp.Integer())]
    response = [(b"result", amp.Float())]
    errors = {ZeroDivisionError: b"ZERO_DIVISION"}


async def within(deferred, seconds, what):
    timer = reactor.callLater(seconds, deferred.cancel)
    try:
        return await deferred
    except defer.CancelledError:
        raise AssertionError(f"{what} took longer than {seconds} s") from None
    finally:
        if timer.active():
            timer.cancel()


async def run(worker):
    starter = Starter(
        bootstrap=BOOTSTRAP, args=tuple(worker), env=dict(os.environ)
    )
    # The default AMPChild is named as ampoule's bootstrap would load it;
    # the Rust worker takes its place.
    processes = pool.ProcessPool(child.AMPChild, min=2, max=2, starter=starter, maxIdle=60)
    await processes.start()
    results = []

    async def work():
        calls = [processes.doWork(Sum, a=i, b=1000) for i in range(50)]
        answers = await within(defer.gatherResults(calls), 20, "50 Sums")
        assert [a["total"] for a in answers] == [i + 1000 for i in range(50)], answers
        answer = await processes.doWork(Divide, numerator=1234, denominator=4)
        assert answer["result"] == 308.5, answer
        try:
            await processes.doWork(Divide, numerator=1234, denominator=0)
        except ZeroDivisionError:
            pass
        else:
            raise AssertionError("Divide(1234, 0) did not fail with ZERO_DIVISION")
        assert len(processes.processes) == 2, processes.processes

    async def shutdown():
        one = next(iter(processes.ready))
        finished = processes._finishCallbacks[one]
        answer = await within(one.callRemote(commands.Shutdown), 10, "Shutdown's answer")
        assert answer == {}, answer
        await within(_settled(finished), 10, "the worker's exit after Shutdown")
        problem = exited_zero(one)
        assert problem is None, f"after Shutdown, the worker: {problem}"
        assert one not in processes.processes

    async def stop():
        # Back to two workers, then stop them all.
        processes.startAWorker()
        workers = list(processes.processes)
        assert len(workers) == 2, workers
        await within(processes.stop(), 10, "the pool's stop")
        for worker in workers:
            problem = exited_zero(worker)
            assert problem is None, f"after the pool's stop, a worker: {problem}"

    await check(results, "work", work)
    await check(results, "shutdown", shutdown)
    await check(results, "stop", stop)
    return results


def _settled(deferred):
    """A deferred that fires once `deferred` has, whatever its result."""
    settled = defer.Deferred()

    def done(result):
        if not settled.called:
            settled.callback(None)
        return result

    deferred.addBoth(done)
    return settled


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    return run_checks("pool", run(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
