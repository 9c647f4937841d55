"""Storage faults, against the service as a subprocess and real file systems: files it cannot
use stop the start with one line naming the file and what to do (exit 2); a full disk pauses
the service, which resumes by itself with nothing lost and nothing sent twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.processes import MonitorProcess, ServiceRig, eventually, service_rig
from tests.support.servers import FeedServer, Receiver, rss


@contextlib.contextmanager
def mounted(path: Path, *options: str) -> Iterator[Path]:
    """A tmpfs at `path` (root can mount one; elsewhere the test cannot run, and says so)."""
    path.mkdir(parents=True, exist_ok=True)
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if mount is None or umount is None:
        pytest.skip("no mount command on this machine")
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run([umount, "-l", str(path)], check=False)


async def start_failure(monitor: MonitorProcess) -> tuple[int, str]:
    """Start the service and wait for it to exit: (exit code, stderr)."""
    proc = await monitor.start()
    code = await asyncio.wait_for(proc.wait(), timeout=30)
    return code, monitor.stderr()


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[FeedServer, Receiver, MonitorProcess]]:
    watches = "rules:\n  - {id: word, match: {any: [alpha]}}\n"
    async with service_rig(tmp_path, {"news": rss()}, watches, ServiceRig) as rig:
        yield rig.feeds, rig.receiver, rig.monitor


def one_line(stderr: str) -> dict[str, str]:
    """The single startup_failed line (JSON) the service printed."""
    lines: list[dict[str, str]] = [
        json.loads(line) for line in stderr.splitlines() if line.startswith("{")
    ]
    failed = [line for line in lines if line["event"] == "startup_failed"]
    assert 1 == len(failed), stderr
    assert "Traceback" not in stderr
    return failed[0]


@pytest.mark.parametrize("name", ["state.db", "bus.db"])
async def test_a_corrupted_database_stops_the_start_naming_it(
    setup: tuple[FeedServer, Receiver, MonitorProcess], tmp_path: Path, name: str
) -> None:
    """A state file that is not a database: exit 2, the path, and what to do."""
    *_, monitor = setup
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / name).write_bytes(b"this is not an SQLite database at all. " * 40)
    code, stderr = await start_failure(monitor)
    assert 2 == code
    reason = one_line(stderr)["reason"]
    assert str(tmp_path / "state" / name) in reason
    assert "corrupted" in reason
    assert "backup" in reason


async def test_another_programs_database_is_refused(
    setup: tuple[FeedServer, Receiver, MonitorProcess], tmp_path: Path
) -> None:
    """A real SQLite file of someone else's is not written into."""
    *_, monitor = setup
    (tmp_path / "state").mkdir()
    other = sqlite3.connect(tmp_path / "state" / "state.db")
    other.execute("CREATE TABLE users (name TEXT)")
    other.commit()
    other.close()
    code, stderr = await start_failure(monitor)
    assert 2 == code
    assert "another program's SQLite database" in one_line(stderr)["reason"]
    tables = sqlite3.connect(tmp_path / "state" / "state.db").execute(
        "SELECT name FROM sqlite_master WHERE type='table'"
    )
    assert [("users",)] == tables.fetchall()


async def test_a_read_only_state_directory_stops_the_start(
    setup: tuple[FeedServer, Receiver, MonitorProcess], tmp_path: Path
) -> None:
    """A state directory on a read-only file system: exit 2, naming it (as root, too)."""
    *_, monitor = setup
    with mounted(tmp_path / "state", "ro", "size=1m"):
        code, stderr = await start_failure(monitor)
    assert 2 == code
    reason = one_line(stderr)["reason"]
    assert str(tmp_path / "state") in reason
    assert "writable" in reason


async def test_a_state_directory_that_cannot_be_made_stops_the_start(
    setup: tuple[FeedServer, Receiver, MonitorProcess], tmp_path: Path
) -> None:
    """state_dir under a plain file: exit 2, naming the directory."""
    *_, monitor = setup
    (tmp_path / "state").write_text("a file where the directory should be")
    code, stderr = await start_failure(monitor)
    assert 2 == code
    assert "cannot create the state directory" in one_line(stderr)["reason"]


async def test_a_state_store_that_lost_its_history_does_not_resend(
    setup: tuple[FeedServer, Receiver, MonitorProcess], tmp_path: Path
) -> None:
    """state.db truncated to 0 bytes while bus.db holds the articles: the service refuses
    to start (it would alert every old article again), and nothing is sent."""
    feeds, receiver, monitor = setup
    feeds.feeds["news"] = rss(*(f"alpha {i}" for i in range(20)))
    await monitor.start()
    await eventually(lambda: len(receiver.received) == 20, 30)
    assert 0 == await monitor.stop()
    (tmp_path / "state" / "state.db").write_bytes(b"")
    for extra in ("state.db-wal", "state.db-shm"):
        (tmp_path / "state" / extra).unlink(missing_ok=True)
    code, stderr = await start_failure(monitor)
    assert 2 == code
    reason = one_line(stderr)["reason"]
    assert "would alert old articles again" in reason
    assert 20 == len(receiver.received)


async def test_a_full_disk_pauses_and_resumes_with_nothing_lost_or_sent_twice(
    setup: tuple[FeedServer, Receiver, MonitorProcess], tmp_path: Path
) -> None:
    """State on a small disk, filled up while the service runs: it stays up, /readyz says
    503 and why, monitor_storage_full is 1; once space returns every article is alerted,
    each once."""
    feeds, receiver, monitor = setup
    with mounted(tmp_path / "state", "size=6m") as state:
        await monitor.start()
        feeds.feeds["news"] = rss("alpha first")
        await eventually(lambda: len(receiver.received) == 1, 30)
        filler = state / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as f:
            while True:
                f.write(b"\0" * 65536)
        feeds.feeds["news"] = rss("alpha first", *(f"alpha {i} " + "x" * 2000 for i in range(40)))

        async def paused() -> bool:
            status, body = await monitor.get("/readyz")
            return status == 503 and "disk full" in body

        await eventually(paused, 30, describe=lambda: monitor.stderr()[-3000:])
        assert 1.0 == await monitor.metric("monitor_storage_full")
        assert monitor.proc is not None
        assert monitor.proc.returncode is None
        assert (await monitor.get("/healthz"))[0] == 200
        filler.unlink()
        await eventually(
            lambda: len(receiver.received) == 41, 60, describe=lambda: monitor.stderr()[-3000:]
        )
        assert 0.0 == await monitor.metric("monitor_storage_full")
        assert 200 == (await monitor.get("/readyz"))[0]
        await asyncio.sleep(3)  # anything sent twice would arrive by now
        titles = [json.loads(body)["article"]["title"] for _, body in receiver.received]
        assert len(titles) == len(set(titles)) == 41
        await monitor.stop()
