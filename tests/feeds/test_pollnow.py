"""Poll now: a feed polled at once through the poller's usual path, against a real server."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from monitor.bus.local import LocalBus
from monitor.feeds.poller import Poller
from monitor.feeds.pollnow import PollNows
from monitor.feeds.settings import PollerConfig
from monitor.feeds.spec import FeedSpec
from monitor.kernel.console import ActionRefused
from monitor.kernel.metrics import make_metrics
from monitor.store.state import FeedState, StateStore
from tests.support.servers import FeedServer, serve

CONFIG = PollerConfig(
    timeout_s=1.0, max_body_bytes=1024 * 1024, host_delay_s=0.0, max_age_s=3650 * 86400.0
)
HOUR_S = 3600.0


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[FeedServer, Poller, StateStore]]:
    server = FeedServer()
    async with (
        serve(server.app()) as base,
        LocalBus(tmp_path / "bus.db") as bus,
        StateStore(tmp_path) as state,
        aiohttp.ClientSession() as session,
    ):
        server.base = base
        poller = Poller(
            config=CONFIG, session=session, state=state, bus=bus, metrics=make_metrics()
        )
        yield server, poller, state


def spec(server: FeedServer, feed_id: str, path: str, *, enabled: bool = True) -> FeedSpec:
    return FeedSpec(
        id=feed_id,
        path="feeds.yaml",
        line=1,
        url=server.url(path),
        interval_s=HOUR_S,
        enabled=enabled,
    )


async def test_poll_now_polls_once_and_ends_the_backoff(
    rig: tuple[FeedServer, Poller, StateStore],
) -> None:
    """A failing feed backed off is polled at once: two asks at once make one request, both
    get its answer, its failures are reset and its next poll is an interval away."""
    server, poller, state = rig
    feed = spec(server, "world", "/feeds/world")
    await state.save_feed_state(FeedState(feed_id="world", failures=6))
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run([feed], stop))
    await asyncio.sleep(0)
    try:
        first, second = await asyncio.gather(poller.poll_now("world"), poller.poll_now("world"))
    finally:
        stop.set()
        await task
    assert first == second
    assert ("world", "ok", 5, None) == (
        first["feed"],
        first["result"],
        first["new"],
        first["error"],
    )
    assert 1 == server.count("/feeds/world")
    assert 0 == (await state.feed_state("world")).failures
    in_s = first["next_poll_ms"] / 1000 - time.time()
    assert HOUR_S * 0.8 < in_s < HOUR_S * 1.2  # the interval (jittered), not a 6-failure backoff


class _NoJitter(random.Random):
    def random(self) -> float:
        return 0.0  # the loop's first poll at once


async def test_poll_now_during_the_scheduled_poll_shares_it(
    rig: tuple[FeedServer, Poller, StateStore],
) -> None:
    """A poll-now while the feed's loop polls it (the server holding that request open) asks
    the server nothing more: it is given that poll's result, and the feed's state and health
    are written by one poll."""
    server, poller, state = rig
    feed = spec(server, "held", "/held")
    poller._rng = _NoJitter()
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run([feed], stop))
    try:
        for _ in range(200):  # the loop's poll reaches the server
            if server.in_flight:
                break
            await asyncio.sleep(0.01)
        assert 1 == server.in_flight
        asked = asyncio.create_task(poller.poll_now("held"))
        await asyncio.sleep(0.2)
        assert not asked.done()  # waits for the scheduled poll, asking nothing itself
        server.release.set()
        answer = await asyncio.wait_for(asked, 5)
    finally:
        stop.set()
        await task
    assert ("ok", 5) == (answer["result"], answer["new"])
    assert (1, 1) == (server.count("/held"), server.most_in_flight)
    assert 0 == (await state.feed_state("held")).failures


async def test_poll_now_says_a_failure(rig: tuple[FeedServer, Poller, StateStore]) -> None:
    """A poll-now of a feed answering 500 gives the failure and the backoff's next poll."""
    server, poller, _ = rig
    poller.set_feeds([spec(server, "bad", "/status/500")])
    answer = await poller.poll_now("bad")
    assert "http_error" == answer["result"]
    assert "500" in answer["error"]
    assert answer["next_poll_ms"] > time.time() * 1000


async def test_poll_now_refuses_unknown_and_paused_feeds(
    rig: tuple[FeedServer, Poller, StateStore],
) -> None:
    """Unknown: 404; paused (enabled: false): 409; neither is fetched."""
    server, poller, _ = rig
    poller.set_feeds([spec(server, "quiet", "/feeds/world", enabled=False)])
    with pytest.raises(ActionRefused) as unknown:
        await poller.poll_now("nope")
    with pytest.raises(ActionRefused) as paused:
        await poller.poll_now("quiet")
    assert (404, 409) == (unknown.value.status, paused.value.status)
    assert [] == server.requests


async def test_a_loop_woken_sleeps_the_new_delay() -> None:
    """A feed's loop asleep for an hour wakes when a poll-now reschedules it, and sleeps the
    new delay instead; a stop ends the sleep at once."""
    nows = PollNows()
    stop = asyncio.Event()
    started = time.monotonic()
    sleeping = asyncio.create_task(nows.sleep("f", stop, HOUR_S))
    await asyncio.sleep(0.01)
    nows.reschedule("f", 0.05)
    assert await sleeping is False
    assert time.monotonic() - started < 5
    sleeping = asyncio.create_task(nows.sleep("f", stop, HOUR_S))
    await asyncio.sleep(0.01)
    stop.set()
    assert await sleeping is True


async def test_poll_now_says_what_a_first_read_kept_back(
    rig: tuple[FeedServer, Poller, StateStore],
) -> None:
    """A new feed's items older than max_age are recorded, not published: poll now says how
    many and the max_age, so a newcomer seeing "0 new" does not have to guess why."""
    server, poller, _ = rig
    poller.config = PollerConfig(
        timeout_s=1.0, max_body_bytes=1024 * 1024, host_delay_s=0.0, max_age_s=2 * 86400.0
    )
    old = "Mon, 06 Jan 2025 10:00:00 GMT"
    server.feeds["old"] = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>a</title><guid>a</guid><pubDate>{old}</pubDate></item>"
        f"<item><title>b</title><guid>b</guid><pubDate>{old}</pubDate></item>"
        "</channel></rss>"
    ).encode()
    feed = spec(server, "old", "/feeds/old")
    poller.set_feeds([feed])
    answer = await poller.poll_now("old")
    assert (answer["new"], answer["too_old"], answer["max_age_s"]) == (0, 2, 2 * 86400.0)
    assert answer["items"] == 2
