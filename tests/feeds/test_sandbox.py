"""The worker pool for work that can run away: real worker processes, killed when a job runs
past its time, its memory or its caller's deadline, and refusing work when full."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.feeds.sandbox import Sandbox, SandboxError
from tests.support import sandbox_jobs as jobs


def alive(pid: int) -> bool:
    """Whether a process with this id runs (and is not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


async def gone(pid: int, within_s: float = 5.0) -> bool:
    """Whether the process ends within `within_s`."""
    deadline = time.monotonic() + within_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def told(path: Path) -> str:
    """What a job wrote to `path` so far."""
    return path.read_text() if path.exists() else ""


async def pid_in(path: Path, within_s: float = 30.0) -> int:
    """The process id a job wrote to `path`."""
    deadline = time.monotonic() + within_s
    while not told(path):
        assert time.monotonic() < deadline, "the job never started"
        await asyncio.sleep(0.05)
    return int(told(path))


@pytest.fixture
async def pool() -> AsyncIterator[Sandbox]:
    sandbox = Sandbox("test", workers=2, queue=1, timeout_s=2.0, memory_bytes=64 * 1024 * 1024)
    try:
        yield sandbox
    finally:
        sandbox.close()


async def test_a_job_runs_in_a_worker_process_that_is_kept(pool: Sandbox) -> None:
    """A job's value comes back; the next job reuses the worker."""
    assert {"a": [1, 2]} == await pool.run(jobs.echo, {"a": [1, 2]})
    first = await pool.run(jobs.pid)
    assert first != os.getpid()
    assert first == await pool.run(jobs.pid)


async def test_a_job_past_its_time_is_killed_and_its_worker_replaced(pool: Sandbox) -> None:
    """A runaway job fails `timeout` at the limit, its worker is killed (not left spinning)
    and the next job runs in a new one."""
    before = await pool.run(jobs.pid)
    started = time.monotonic()
    with pytest.raises(SandboxError) as failed:
        await pool.run(jobs.spin, 60.0)
    assert "timeout" == failed.value.result
    assert time.monotonic() - started < 10.0
    assert await gone(before)
    after = await pool.run(jobs.pid)
    assert after != before
    assert alive(after)


async def test_a_job_past_its_memory_fails_cleanly(pool: Sandbox) -> None:
    """A job wanting more than the memory limit fails `too_large`; the pool goes on."""
    with pytest.raises(SandboxError) as failed:
        await pool.run(jobs.hog, 512)
    assert "too_large" == failed.value.result
    assert 16 * 1024 * 1024 == await pool.run(jobs.hog, 16)


async def test_a_cancelled_job_kills_its_worker(pool: Sandbox, tmp_path: Path) -> None:
    """Cancelling the awaiting task (a poll's deadline) kills the job's worker at once."""
    where = tmp_path / "pid"
    job = asyncio.create_task(pool.run(jobs.spin_telling, str(where), 60.0))
    pid = await pid_in(where)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert await gone(pid, within_s=1.0)
    assert 0 == pool.state().busy


async def test_a_full_pool_refuses_at_once(tmp_path: Path) -> None:
    """With every worker busy and the queue full, a job fails `busy` without waiting, and the
    state says so."""
    sandbox = Sandbox("full", workers=1, queue=1, timeout_s=30.0, memory_bytes=64 * 1024 * 1024)
    try:
        where = tmp_path / "pid"
        running = asyncio.create_task(sandbox.run(jobs.spin_telling, str(where), 30.0))
        await pid_in(where)
        waiting = asyncio.create_task(sandbox.run(jobs.echo, 1))
        await asyncio.sleep(0.1)
        assert "saturated (1/1 busy, 1 waiting)" == sandbox.state().describe()
        started = time.monotonic()
        with pytest.raises(SandboxError) as refused:
            await sandbox.run(jobs.echo, 2)
        assert "busy" == refused.value.result
        assert time.monotonic() - started < 0.5
        running.cancel()
        assert 1 == await waiting  # the waiting job runs once a worker is free
        assert "ok (0/1 busy, 0 waiting)" == sandbox.state().describe()
    finally:
        sandbox.close()


async def test_a_failing_or_dying_job_fails_and_the_pool_goes_on(pool: Sandbox) -> None:
    """An exception in the job, or the worker's death, fails that job only."""
    with pytest.raises(SandboxError) as raised:
        await pool.run(jobs.fail, "extractor bug")
    assert ("failed", "ValueError: extractor bug") == (raised.value.result, str(raised.value))
    with pytest.raises(SandboxError) as died:
        await pool.run(jobs.die)
    assert ("failed", "the worker died (exit 3)") == (died.value.result, str(died.value))
    assert 3 == await pool.run(jobs.echo, 3)


async def test_no_worker_starts_before_the_first_job_and_close_ends_them() -> None:
    """Workers start with the first job (or `warm`), and `close` kills them."""
    sandbox = Sandbox("lazy", workers=2, queue=0, timeout_s=5.0, memory_bytes=64 * 1024 * 1024)
    assert "not started" == sandbox.state().describe()
    pid = await sandbox.run(jobs.pid)
    sandbox.close()
    assert await gone(pid)
    with pytest.raises(SandboxError):
        await sandbox.run(jobs.pid)


async def test_a_worker_killed_while_idle_is_replaced() -> None:
    """A worker that died between jobs (the OOM killer, an operator) is not handed a job."""
    sandbox = Sandbox("one", workers=1, queue=0, timeout_s=5.0, memory_bytes=64 * 1024 * 1024)
    try:
        pid = await sandbox.run(jobs.pid)
        os.kill(pid, signal.SIGKILL)
        assert await gone(pid)
        after = await sandbox.run(jobs.pid)
        assert after != pid
    finally:
        sandbox.close()


async def test_a_job_waiting_for_a_worker_fails_when_the_pool_closes() -> None:
    """Closed while its worker is still starting, a waiting job fails at once instead of
    waiting for a worker that will never come."""
    sandbox = Sandbox("closing", workers=1, queue=1, timeout_s=30.0, memory_bytes=64 * 1024 * 1024)
    waiting = asyncio.create_task(sandbox.run(jobs.echo, 1))
    await asyncio.sleep(0.05)  # the job waits on the worker's start
    sandbox.close()
    with pytest.raises(SandboxError, match="closed"):
        await asyncio.wait_for(waiting, 5.0)
