"""A bounded pool of worker processes for CPU-heavy work on untrusted input (article pages).

Such work can run away: a page crafted or merely large can take minutes and gigabytes in the
extractor, and a thread cannot be stopped. Here each job runs in a worker process of its own
pool, never in the event loop's default executor, so parsing, matching and DNS keep their
threads. A job has a hard wall-clock limit and a memory limit:

- past `timeout_s` the worker is killed (SIGKILL) and a new one started for the next job;
- the worker's data segment is limited (RLIMIT_DATA) to what it holds after start plus
  `memory_bytes`: a job that wants more fails with MemoryError, and the worker is replaced;
- when the awaiting task is cancelled (a poll's deadline), its worker is killed at once, so no
  CPU is spent on a result nobody waits for.

At most `workers` jobs run at once and at most `queue` wait; a job beyond that fails at once
with result `busy` rather than queueing without bound. Workers start when the first job comes
(a service with no full-text feed starts none), from the `forkserver` context: forking the
threaded asyncio process itself is not safe.

Failures raise `SandboxError`, whose `result` is `timeout`, `too_large`, `failed` or `busy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib
import multiprocessing
import os
import re
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Final, TypeVar

import structlog

log = structlog.get_logger("monitor.sandbox")

T = TypeVar("T")
START_TIMEOUT_S: Final = 60.0  # a worker importing its modules on a busy machine
_READY: Final = "ready"


class SandboxError(Exception):
    """A job that gave no result: `result` says why (timeout, too_large, failed, busy)."""

    def __init__(self, result: str, reason: str) -> None:
        super().__init__(reason)
        self.result = result


@dataclass(frozen=True, slots=True)
class PoolState:
    """What the pool is doing now."""

    workers: int  # the most jobs at once
    queue: int  # the most jobs waiting
    busy: int
    waiting: int
    started: int  # worker processes alive

    @property
    def saturated(self) -> bool:
        """Whether a new job would be refused (`busy`)."""
        return self.busy >= self.workers and self.waiting >= self.queue

    def describe(self) -> str:
        """One line for /readyz: e.g. `saturated (2/2 busy, 8 waiting)`."""
        counts = f"{self.busy}/{self.workers} busy, {self.waiting} waiting"
        if self.started == 0 and self.busy == 0:
            return "not started"
        return f"saturated ({counts})" if self.saturated else f"ok ({counts})"


@dataclass(frozen=True, slots=True)
class _LoopParts:
    slots: asyncio.Semaphore  # a job holds one while it waits for a worker and runs
    changed: asyncio.Condition  # a worker is ready, or failed to start
    threads: ThreadPoolExecutor


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self.process.kill()

    def reap(self) -> None:
        """Close the pipe and collect the process (blocking: run it in a thread)."""
        self.conn.close()
        if self.process.pid is None:  # its start was cancelled before it began
            return
        self.process.join(5.0)
        if self.process.exitcode is None:  # should not happen after kill; do not leak it
            self.kill()
            self.process.join(5.0)


class Sandbox:
    """Runs module-level functions in a bounded pool of limited worker processes."""

    def __init__(
        self,
        name: str,
        *,
        workers: int,
        queue: int,
        timeout_s: float,
        memory_bytes: int,
        preload: Sequence[str] = (),
    ) -> None:
        """`preload`: modules each worker imports before it is ready (not in a job's time)."""
        self.name = name
        self.workers = workers
        self.queue = queue
        self.timeout_s = timeout_s
        self.memory_bytes = memory_bytes
        self.preload = tuple(preload)
        self._idle: list[_Worker] = []
        self._alive: set[_Worker] = set()
        self._starting: set[asyncio.Task[None]] = set()
        self._in_use = 0  # workers running a job
        self._start_error: str | None = None
        self._busy = 0
        self._waiting = 0
        self._loop: _LoopParts | None = None  # made in the event loop, at the first use
        self._closed = False
        self._closing: asyncio.Task[None] | None = None  # wakes jobs waiting when closed

    def state(self) -> PoolState:
        """How many jobs run and wait now."""
        return PoolState(
            workers=self.workers,
            queue=self.queue,
            busy=self._busy,
            waiting=self._waiting,
            started=len(self._alive),
        )

    def warm(self) -> None:
        """Start workers, in the background, until there are `workers` of them (called when
        work is coming, and after a worker was killed, so that a job does not wait on one)."""
        if self._closed:
            return
        self._parts()
        missing = self.workers - len(self._idle) - len(self._starting) - self._in_use
        for _ in range(missing):
            task = asyncio.get_running_loop().create_task(self._spawn())
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker (`fn` a module-level function, `args` picklable); raises
        SandboxError when it fails, runs past the time or memory limit, or the pool is full."""
        if self._closed:
            raise SandboxError("failed", f"the {self.name} pool is closed")
        if self.state().saturated:
            raise SandboxError(
                "busy", f"all {self.workers} {self.name} workers busy, {self._waiting} waiting"
            )
        self.warm()
        slots = self._parts().slots
        self._waiting += 1
        try:
            await slots.acquire()
        finally:
            self._waiting -= 1
        self._busy += 1
        try:
            worker = await self._take()
            self._in_use += 1
            try:
                return await self._exchange(worker, fn, args)
            finally:
                self._in_use -= 1
                self.warm()  # in place of a worker killed
        finally:
            self._busy -= 1
            slots.release()

    async def _take(self) -> _Worker:
        """An idle worker, waiting for one to start if none is."""
        changed = self._parts().changed
        async with changed:
            while self._idle and not self._idle[-1].process.is_alive():  # killed while idle
                self._discard(self._idle.pop(), None)
            while not self._idle:
                if self._closed:
                    raise SandboxError("failed", f"the {self.name} pool is closed")
                self._start_error = None
                self.warm()
                await changed.wait()
                if not self._idle and self._start_error is not None:
                    raise SandboxError("failed", self._start_error)
            return self._idle.pop()

    async def _spawn(self) -> None:
        try:
            worker = await self._start()
        except SandboxError as exc:
            log.warning("sandbox_worker_failed", pool=self.name, reason=str(exc))
            self._start_error = str(exc)
        except asyncio.CancelledError:  # closed while starting: a job waiting must hear it
            await self._notify_all()
            raise
        else:
            if self._closed:
                self._discard(worker, None)
            else:
                self._idle.append(worker)
        await self._notify_all()

    async def _notify_all(self) -> None:
        changed = self._parts().changed
        async with changed:
            changed.notify_all()

    def _parts(self) -> _LoopParts:
        if self._loop is None:
            self._loop = _LoopParts(
                slots=asyncio.Semaphore(self.workers),
                changed=asyncio.Condition(),
                # Threads wait on workers' pipes: a job's, a start's and a reaping for each.
                threads=ThreadPoolExecutor(2 * self.workers + 2, thread_name_prefix=self.name),
            )
        return self._loop

    async def _exchange(self, worker: _Worker, fn: Callable[..., T], args: Any) -> T:
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(
            self._parts().threads, _send_and_receive, worker.conn, (fn, args)
        )
        try:
            outcome, value = await asyncio.wait_for(asyncio.shield(job), self.timeout_s)
        except TimeoutError:
            self._discard(worker, job)
            raise SandboxError(
                "timeout", f"not done in {self.timeout_s:g}s: the worker was killed"
            ) from None
        except asyncio.CancelledError:  # the caller's deadline: no CPU after it
            self._discard(worker, job)
            raise
        except (EOFError, OSError) as exc:  # the worker died under the job
            try:
                why = await _death(worker)
            finally:  # reaped even when the caller is cancelled meanwhile
                self._discard(worker, job)
            raise SandboxError("failed", why) from exc
        if outcome == "ok":
            self._idle.append(worker)
            changed = self._parts().changed
            async with changed:
                changed.notify()
            return value  # type: ignore[no-any-return]
        # A worker that ran out of memory or raised may be left in any state: replace it.
        self._discard(worker, job)
        raise SandboxError(str(outcome), str(value))

    async def _start(self) -> _Worker:
        context = multiprocessing.get_context("forkserver")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(theirs, self.memory_bytes, self.preload),
            name=f"monitor-{self.name}",
            daemon=True,
        )
        loop = asyncio.get_running_loop()
        worker = _Worker(process, ours)
        self._alive.add(worker)
        job: asyncio.Future[Any] | None = None
        starting = self._parts().threads.submit(process.start)
        try:
            await asyncio.wrap_future(starting)
            theirs.close()
            job = loop.run_in_executor(self._parts().threads, ours.recv)
            ready = await asyncio.wait_for(asyncio.shield(job), START_TIMEOUT_S)
        except BaseException as exc:
            if starting.done():
                theirs.close()  # cancelled before the start's own close: no descriptor left
            else:  # cancelled while the start runs in its thread: undo it once it is done
                starting.add_done_callback(lambda _: _undo_start(worker, theirs))
            self._discard(worker, job)
            if isinstance(exc, EOFError | OSError | TimeoutError):
                why = "in time" if isinstance(exc, TimeoutError) else f"({exc!r})"
                raise SandboxError("failed", f"the {self.name} worker did not start {why}") from exc
            raise
        if ready != _READY:
            self._discard(worker, None)
            raise SandboxError("failed", f"the {self.name} worker did not start: {ready}")
        return worker

    def _discard(self, worker: _Worker, job: asyncio.Future[Any] | None) -> None:
        """Kill the worker now; its pipe is closed once the thread reading it has let go. A
        new worker starts in its place."""
        self._alive.discard(worker)
        worker.kill()
        threads = self._loop.threads if self._loop is not None else None

        def reap(done: asyncio.Future[Any] | None = None) -> None:
            if done is not None and not done.cancelled():
                done.exception()  # the killed worker's EOF: expected, and not to be logged
            if threads is not None:
                with contextlib.suppress(RuntimeError):  # the pool closed: reap here
                    threads.submit(worker.reap)
                    return
            worker.reap()

        if job is None or job.done():
            reap(job)
        else:
            job.add_done_callback(reap)

    def close(self) -> None:
        """Kill every worker; a job still running fails."""
        self._closed = True
        for task in list(self._starting):
            task.cancel()
        for worker in list(self._alive):
            self._alive.discard(worker)
            worker.kill()
        self._idle.clear()
        if self._loop is not None:
            self._loop.threads.shutdown(wait=False, cancel_futures=True)
            with contextlib.suppress(RuntimeError):  # no loop running: no job can be waiting
                self._closing = asyncio.get_running_loop().create_task(self._notify_all())


def _send_and_receive(conn: Connection, job: tuple[Callable[..., Any], Any]) -> tuple[str, Any]:
    conn.send(job)
    outcome: tuple[str, Any] = conn.recv()
    return outcome


def _undo_start(worker: _Worker, theirs: Connection) -> None:
    """After a start that was given up while it ran: close the child's end, end the child."""
    theirs.close()
    worker.kill()
    worker.reap()


async def _death(worker: _Worker) -> str:
    """How the worker died, waiting up to a second for its exit code without blocking."""
    for _ in range(20):
        if worker.process.exitcode is not None:  # a non-blocking waitpid
            break
        await asyncio.sleep(0.05)
    code = worker.process.exitcode
    if code is not None and code < 0:
        return f"the worker died ({signal.Signals(-code).name})"
    return f"the worker died (exit {code})"


def _serve(conn: Connection, memory_bytes: int, preload: tuple[str, ...]) -> None:
    """A worker's loop: run each job received, send back ("ok", value) or (result, reason)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the service stops its workers itself
    _die_with_parent()
    try:
        for module in preload:
            importlib.import_module(module)
        _limit_memory(memory_bytes)
    except Exception as exc:  # noqa: BLE001 - told to the parent, which raises it
        conn.send(f"{type(exc).__name__}: {exc}")
        return
    try:
        conn.send(_READY)
    except OSError:  # the pool closed while this worker started
        return
    while True:
        try:
            fn, args = conn.recv()
        except EOFError:  # the parent is gone
            return
        try:
            outcome: tuple[str, Any] = ("ok", fn(*args))
        except MemoryError:
            outcome = ("too_large", f"over the memory limit ({memory_bytes} bytes)")
        except Exception as exc:  # noqa: BLE001 - the job's failure, raised in the parent
            outcome = ("failed", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(outcome)
        except MemoryError:  # the result itself does not fit
            conn.send(("too_large", f"over the memory limit ({memory_bytes} bytes)"))
        if outcome[0] != "ok":
            return


def _die_with_parent() -> None:
    """On Linux, be killed when the forkserver (which ends with the service) ends: a service
    killed with SIGKILL must not leave a worker extracting a page for nobody."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the worker ends at its next job's EOF
        return


_PR_SET_PDEATHSIG: Final = 1
_VMDATA_RE = re.compile(rb"^VmData:\s+(\d+) kB", re.MULTILINE)


def _limit_memory(memory_bytes: int) -> None:
    """Limit this process's data segment to what it holds now plus `memory_bytes`."""
    import resource

    try:
        with open(f"/proc/{os.getpid()}/status", "rb") as status:
            found = _VMDATA_RE.search(status.read())
    except OSError:
        found = None
    now = int(found.group(1)) * 1024 if found else 0
    limit = now + memory_bytes
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
