"""One story of thousands of copies: a feed whose items all link to its home page, every item
meeting a watch. Folding each copy into the story must cost the same whatever its size (it
rebuilt the whole member list per copy: quadratic), so that another rule's alert, from
another feed, still arrives promptly while the copies pour in, and the service stays healthy.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.hostile.test_hostile_service import Hostile
from tests.support.processes import eventually, service_rig
from tests.support.servers import rss

COPIES = 4000
PROMPT_S = 20.0  # the fixed code folds the copies in a few seconds; the old code took minutes


def home_page_feed(count: int) -> bytes:
    """`count` items, each its own title and guid, all linking to the site's home page."""
    items = "".join(
        f"<item><title>Flood bulletin {i} for the river towns</title><guid>bulletin-{i}</guid>"
        f"<link>https://home.example/</link><description>Flood bulletin number {i}, issued "
        f"for the river towns {i}.</description></item>"
        for i in range(count)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>home</title>'
        f"{items}</channel></rss>"
    ).encode()


@pytest.fixture
async def flooded(tmp_path: Path) -> AsyncIterator[Hostile]:
    watches = (
        "rules:\n  - {id: floods, match: {any: [flood]}}\n  - {id: word, match: {any: [alpha]}}\n"
    )
    async with service_rig(tmp_path, {"good": rss(), "home": rss()}, watches, Hostile) as rig:
        yield rig


async def test_a_story_of_thousands_of_copies_does_not_hold_back_other_alerts(
    flooded: Hostile,
) -> None:
    """4,000 copies of one story arrive; an alert of another rule posted right after them
    arrives within PROMPT_S; the story's one alert counts its copies in its body; healthy."""
    await flooded.monitor.start()
    await flooded.until_ready()
    flooded.feeds.feeds["home"] = home_page_feed(COPIES)

    async def joined(at_least: int) -> bool:
        found = await flooded.monitor.metric_sum('monitor_story_articles_total{outcome="joined"')
        return found >= at_least

    await eventually(lambda: joined(1), 30, describe=lambda: flooded.monitor.stderr()[-2000:])
    flooded.feeds.feeds["good"] = rss("alpha after the storm")
    posted = time.monotonic()
    await flooded.until_alerted("word", "alpha after the storm", timeout_s=60)
    waited = time.monotonic() - posted
    await flooded.assert_healthy()
    assert waited < PROMPT_S, f"the other rule's alert waited {waited:.1f}s behind the story"

    await eventually(
        lambda: joined(COPIES - 1), 30, describe=lambda: flooded.monitor.stderr()[-2000:]
    )
    floods = [
        json.loads(body)
        for _, body in flooded.receiver.received
        if json.loads(body)["rule"]["id"] == "floods"
    ]
    assert 1 == len(floods)  # one story, one alert
    await flooded.assert_healthy()
