"""The first poll of many feeds at once, none declaring a language: every worker thread asks for
the language model in the same moment. The service loads it once (115 MB at its height), not
once per thread: its peak memory stays low, it answers /healthz and alerts from every feed.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.hostile.test_hostile_service import Hostile
from tests.support.processes import eventually, service_rig
from tests.support.servers import rss

FEEDS, ITEMS = 30, 10
# One model load peaks near 180 MB in all (the service starts near 70 MB); six threads loading
# it together took the service to 460-600 MB.
MAX_PEAK_MB = 320


def titles(feed: int) -> list[str]:
    """Undeclared headlines, long enough to be detected, with words of their own (headlines
    sharing runs of words would fold into one story and alert once)."""
    return [title(feed * ITEMS + item) for item in range(ITEMS)]


def title(i: int) -> str:
    words = [hashlib.sha256(f"{i}-{n}".encode()).hexdigest()[:7] for n in range(6)]
    return f"alpha sighting {' '.join(words)}"


@pytest.fixture
async def burst(tmp_path: Path) -> AsyncIterator[Hostile]:
    feeds = {f"f{n}": rss(*titles(n)) for n in range(FEEDS)}
    watches = "rules:\n  - {id: word, match: {any: [alpha]}}\n"
    async with service_rig(tmp_path, feeds, watches, Hostile) as rig:
        config = tmp_path / "monitor.yaml"
        # Feeds on many hosts are polled many at once; these are all on one local server.
        text = config.read_text().replace("{host_delay: 0s,", "{host_delay: 0s, per_host: 16,")
        config.write_text(text)
        yield rig


def peak_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def test_a_first_poll_of_many_feeds_loads_the_language_model_once(burst: Hostile) -> None:
    """30 feeds of 10 undeclared headlines, polled together on start: every headline alerts,
    the service stays healthy, and its peak memory stays under 320 MB."""
    await burst.monitor.start()
    await burst.until_ready()
    expected = {("word", t) for n in range(FEEDS) for t in titles(n)}
    await eventually(
        lambda: expected <= set(burst.alerted()),
        60,
        describe=lambda: f"{len(set(burst.alerted()))} of {len(expected)} alerted",
    )
    await burst.assert_healthy()
    assert burst.monitor.proc is not None
    peak = peak_mb(burst.monitor.proc.pid)
    assert peak < MAX_PEAK_MB, f"peak {peak:.0f} MB"
