"""A flood of distinct alerting articles through a dispatcher whose bounds are set small: every
structure it keeps fills to its bound and stays there (the oldest evicted, and counted), the
gauges on /metrics never report more than the bound, /healthz answers and alerts keep coming.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.hostile.test_hostile_service import Hostile
from tests.support.processes import eventually, service_rig
from tests.support.servers import rss

MAX_ARTICLES = 40  # stories.max_articles: the pairs' bound is 4x, the aliases' 2x
WAVES, PER_WAVE = 6, 100  # 600 distinct articles, each met by two watches: 1,200 alerts
FILLED = ("story_members", "story_tallies", "matched_pairs", "story_reasons", "recent_alerts")
SAMPLE = re.compile(r'^monitor_dispatcher_(entries|bound)\{structure="(\w+)"\} (\S+)$', re.M)


def title(i: int) -> str:
    """A zeppelin title with words of its own (titles sharing words could fold together)."""
    words = [hashlib.sha256(f"{i}-{n}".encode()).hexdigest()[:7] for n in range(6)]
    return f"zeppelin {' '.join(words)}"


@pytest.fixture
async def flooded(tmp_path: Path) -> AsyncIterator[Hostile]:
    watches = (
        "rules:\n  - {id: z1, match: {any: [zeppelin]}}\n  - {id: z2, match: {any: [zeppelin]}}\n"
        "  - {id: word, match: {any: [alpha]}}\n"
    )
    async with service_rig(tmp_path, {"good": rss(), "flood": rss()}, watches, Hostile) as rig:
        with (tmp_path / "monitor.yaml").open("a") as config:
            config.write(f"stories: {{window: 48h, max_articles: {MAX_ARTICLES}}}\n")
        yield rig


async def gauges(rig: Hostile) -> dict[str, dict[str, float]]:
    """entries and bound by structure, from /metrics."""
    _, text = await rig.monitor.get("/metrics")
    found: dict[str, dict[str, float]] = {"entries": {}, "bound": {}}
    for kind, structure, value in SAMPLE.findall(text):
        found[kind][structure] = float(value)
    return found


async def test_every_structure_fills_to_its_bound_and_no_further(flooded: Hostile) -> None:
    """600 distinct articles, two watches each, with the window bounded at 40 articles: the
    gauges, read every 0.2 s throughout, never exceed their bounds; at the end the members,
    tallies, pairs and recent alerts are full and evicted; every article alerted for both
    watches; another feed's alert still arrives; healthy."""
    await flooded.monitor.start()
    await flooded.until_ready()
    seen: list[dict[str, dict[str, float]]] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            seen.append(await gauges(flooded))
            await asyncio.sleep(0.2)

    watcher = asyncio.create_task(watch())
    try:
        for wave in range(WAVES):
            flooded.feeds.feeds["flood"] = rss(
                *(title(i) for i in range(wave * PER_WAVE, (wave + 1) * PER_WAVE))
            )
            wanted = 2 * (wave + 1) * PER_WAVE
            await eventually(
                lambda w=wanted: len(flooded.alerted()) >= w,  # type: ignore[misc]
                20,
                describe=lambda: (
                    f"{len(flooded.alerted())} alerts; {flooded.monitor.stderr()[-2000:]}"
                ),
            )
            await flooded.assert_healthy()
    finally:
        done.set()
        await watcher
    final = await gauges(flooded)
    bounds = final["bound"]
    assert {
        "story_members": MAX_ARTICLES,
        "story_tallies": MAX_ARTICLES,
        "matched_pairs": 4 * MAX_ARTICLES,
        "story_reasons": MAX_ARTICLES,
        "story_aliases": 2 * MAX_ARTICLES,
        "recent_alerts": 50,
    } == bounds
    assert len(seen) > 5
    for sample in [*seen, final]:
        for structure, entries in sample["entries"].items():
            assert entries <= bounds[structure], f"{structure}: {entries} > {bounds[structure]}"
    for structure in FILLED:
        assert bounds[structure] == final["entries"][structure], structure
        evicted = await flooded.monitor.metric(
            "monitor_dispatcher_evicted_total", {"structure": structure}
        )
        assert evicted > 0, structure
    zeppelins = [t for r, t in flooded.alerted() if r in ("z1", "z2")]
    assert 2 * WAVES * PER_WAVE == len(zeppelins) == 2 * len(set(zeppelins))
    flooded.feeds.feeds["good"] = rss("alpha after the flood")
    await flooded.until_alerted("word", "alpha after the flood")
    await flooded.assert_healthy()
