"""The poller against a real HTTP server on 127.0.0.1 that misbehaves on purpose."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import pytest

from monitor.bus.base import ARTICLES
from monitor.bus.local import LocalBus
from monitor.feeds.addresses import addresses, refusal
from monitor.feeds.poller import Poller
from monitor.feeds.rounds import RoundSummary
from monitor.feeds.settings import PollerConfig
from monitor.feeds.spec import FeedSpec
from monitor.kernel.errors import BusError
from monitor.kernel.metrics import Metrics, make_metrics
from monitor.kernel.models import Article
from monitor.store.state import StateStore
from tests.support.servers import FeedServer, serve


@dataclass
class Rig:
    server: FeedServer
    poller: Poller
    bus: LocalBus
    state: StateStore
    metrics: Metrics
    session: aiohttp.ClientSession

    def feed(self, path: str, feed_id: str = "f") -> FeedSpec:
        return FeedSpec(id=feed_id, path="feeds.yaml", line=1, url=self.server.url(path))

    async def articles(self) -> list[Article]:
        consumer = self.bus.consumer(ARTICLES, "test")
        return [Article.from_bytes(r.value) for r in await consumer.fetch(1000, 0.05)]

    def polls(self, feed: str, result: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "monitor_polls_total", {"feed": feed, "result": result}
        )
        return value or 0.0


# The seed feed's items are from 2025: a max_age of ten years lets a first poll publish them.
CONFIG = PollerConfig(
    timeout_s=1.0,
    max_body_bytes=1024 * 1024,
    max_redirects=3,
    host_delay_s=0.0,
    max_age_s=3650 * 86400.0,
)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    server = FeedServer()
    async with (
        serve(server.app()) as base,
        LocalBus(tmp_path / "bus.db") as bus,
        StateStore(tmp_path) as state,
        aiohttp.ClientSession() as session,
    ):
        server.base = base
        metrics = make_metrics()
        poller = Poller(config=CONFIG, session=session, state=state, bus=bus, metrics=metrics)
        yield Rig(server, poller, bus, state, metrics, session)


async def test_new_items_are_published_once(rig: Rig) -> None:
    """Five items are published on the first poll; a second poll (a 304) publishes none."""
    feed = rig.feed("/feeds/world")
    first = await rig.poller.poll(feed)
    second = await rig.poller.poll(feed)
    assert ("ok", 5) == (first.result, first.new)
    assert ("not_modified", 0) == (second.result, second.new)
    articles = await rig.articles()
    assert 5 == len(articles)
    assert {"f"} == {a.feed for a in articles}
    assert all(a.fetched_at is not None for a in articles)
    _, headers = rig.server.requests[-1]
    assert headers["If-None-Match"].startswith('"')
    assert headers["User-Agent"].startswith("monitor/")
    assert 1.0 == rig.polls("f", "not_modified")
    # The world feed is plain RSS 2.0: the fast parser read it, and the metric says so.
    parses = rig.metrics.registry.get_sample_value("monitor_feed_parses_total", {"parser": "lxml"})
    assert 1.0 == parses


async def test_changed_feed_publishes_only_new_items(rig: Rig) -> None:
    """When the document changes, only the items never seen before are published."""
    feed = rig.feed("/feeds/world")
    await rig.poller.poll(feed)
    body = rig.server.feeds["world"].decode()
    extra = body.replace(
        "<item>", "<item><title>Brand new</title><guid>new-1</guid></item><item>", 1
    )
    rig.server.feeds["world"] = extra.encode()
    result = await rig.poller.poll(feed)
    assert ("ok", 1) == (result.result, result.new)
    titles = [a.title for a in await rig.articles()]
    assert 6 == len(titles)
    assert "Brand new" == titles[-1]


async def test_seen_items_survive_a_restart(rig: Rig, tmp_path: Path) -> None:
    """A new poller on the same state directory publishes nothing already seen."""
    await rig.poller.poll(rig.feed("/feeds/world"))
    rig.server.feeds["world"] += b"\n"  # a changed body: no 304, but the same items
    async with StateStore(tmp_path) as state:
        again = Poller(
            config=CONFIG, session=rig.session, state=state, bus=rig.bus, metrics=make_metrics()
        )
        result = await again.poll(rig.feed("/feeds/world"))
    assert ("ok", 0) == (result.result, result.new)
    assert 5 == len(await rig.articles())


async def test_gzip_bodies_are_read(rig: Rig) -> None:
    """A gzip-encoded feed is decoded."""
    result = await rig.poller.poll(rig.feed("/gzip/world"))
    assert ("ok", 5) == (result.result, result.new)


@pytest.mark.parametrize(
    ("path", "result"),
    [
        ("/status/500", "http_error"),
        ("/status/404", "http_error"),
        ("/slow", "network_error"),
        ("/truncated", "parse_error"),
        ("/invalid", "parse_error"),
        ("/huge", "too_large"),
        ("/loop", "network_error"),
    ],
)
async def test_failures_are_counted_and_backed_off(rig: Rig, path: str, result: str) -> None:
    """Each kind of failure is named, counted, and raises the feed's failure count."""
    rig.server.slow_s = 3.0
    polled = await rig.poller.poll(rig.feed(path))
    assert result == polled.result
    assert 1.0 == rig.polls("f", result)
    assert 1 == (await rig.state.feed_state("f")).failures
    assert 1.0 == rig.metrics.registry.get_sample_value("monitor_feeds_failing")
    assert [] == await rig.articles()


async def test_redirect_loop_is_bounded(rig: Rig) -> None:
    """A redirect loop stops after at most max_redirects + 1 requests."""
    await rig.poller.poll(rig.feed("/loop"))
    assert 2 <= rig.server.count("/loop") <= CONFIG.max_redirects + 1


async def test_retry_after_is_honoured(rig: Rig) -> None:
    """429 with Retry-After sets when to poll next."""
    rig.server.retry_after = "42"
    polled = await rig.poller.poll(rig.feed("/status/429"))
    assert ("http_error", 42.0) == (polled.result, polled.retry_in_s)


async def test_gone_disables_the_feed(rig: Rig) -> None:
    """410 Gone disables the feed; it is not fetched again, even by a new poller."""
    feed = rig.feed("/status/410")
    first = await rig.poller.poll(feed)
    second = await rig.poller.poll(feed)
    assert ("gone", "disabled") == (first.result, second.result)
    assert 1 == rig.server.count("/status/410")
    state = await rig.state.feed_state("f")
    assert state.disabled_reason is not None
    assert "410" in state.disabled_reason


async def test_a_failing_feed_does_not_stop_the_others(rig: Rig) -> None:
    """Polling all feeds at once: the good one publishes while the bad ones fail."""
    feeds = [
        rig.feed("/status/500", "bad"),
        rig.feed("/feeds/world", "good"),
        rig.feed("/invalid", "worse"),
    ]
    results = await rig.poller.poll_all_once(feeds)
    assert ["http_error", "ok", "parse_error"] == [r.result for r in results]
    assert 5 == len(await rig.articles())
    assert 2.0 == rig.metrics.registry.get_sample_value("monitor_feeds_failing")


async def test_recovery_resets_failures(rig: Rig) -> None:
    """A success after failures resets the failure count."""
    rig.server.feeds["flaky"] = b"not a feed"
    await rig.poller.poll(rig.feed("/feeds/flaky"))
    rig.server.feeds["flaky"] = rig.server.feeds["world"]
    result = await rig.poller.poll(rig.feed("/feeds/flaky"))
    assert "ok" == result.result
    assert 0 == (await rig.state.feed_state("f")).failures


class _BrokenBus(LocalBus):
    """A local bus whose next publishes fail, as Kafka's do while the broker is away."""

    failures = 1

    async def publish(self, topic: str, items: Sequence[tuple[str, bytes]]) -> None:
        if self.failures:
            self.failures -= 1
            raise BusError("publishing failed: KafkaTimeoutError")
        await super().publish(topic, items)


async def test_a_bus_failure_loses_no_article(rig: Rig, tmp_path: Path) -> None:
    """When publishing fails, nothing is marked seen: the next poll publishes every item."""
    async with _BrokenBus(tmp_path / "broken.db") as bus:
        poller = Poller(
            config=CONFIG, session=rig.session, state=rig.state, bus=bus, metrics=rig.metrics
        )
        first = await poller.poll(rig.feed("/feeds/world"))
        rig.server.feeds["world"] += b"\n"  # no 304: the document is read again
        second = await poller.poll(rig.feed("/feeds/world"))
        consumer = bus.consumer(ARTICLES, "test")
        published = await consumer.fetch(100, 0.1)
    assert ("bus_error", 5.0) == (first.result, first.retry_in_s)
    assert ("ok", 5) == (second.result, second.new)
    assert 5 == len(published)
    assert 0 == (await rig.state.feed_state("f")).failures


async def test_a_redirect_to_cloud_metadata_is_refused(rig: Rig) -> None:
    """A feed that redirects to 169.254.169.254 fails as redirect_refused; the poller never
    asks the link-local address."""
    feed = rig.feed("/redirect?to=http://169.254.169.254/latest/meta-data/")
    result = await rig.poller.poll(feed)
    assert "redirect_refused" == result.result
    assert 1.0 == rig.polls("f", "redirect_refused")


async def test_a_redirect_on_the_same_host_is_followed(rig: Rig) -> None:
    """A redirect within loopback (an intranet feed moving) is followed as before."""
    target = rig.server.url("/feeds/world")
    result = await rig.poller.poll(rig.feed(f"/redirect?to={target}"))
    assert "ok" == result.result
    assert 1 == rig.server.count("/feeds/world")


@pytest.mark.parametrize(
    ("origin", "target", "allow", "refused"),
    [
        ("93.184.216.34", "169.254.169.254", False, "link-local"),
        ("127.0.0.1", "169.254.169.254", False, "link-local"),
        ("93.184.216.34", "fe80::1", False, "link-local"),
        ("127.0.0.1", "::ffff:169.254.169.254", False, "link-local"),
        ("93.184.216.34", "127.0.0.1", False, "internal"),
        ("93.184.216.34", "10.0.0.5", False, "internal"),
        ("93.184.216.34", "192.168.1.1", False, "internal"),
        ("2606:2800:220:1::1", "::1", False, "internal"),
        ("93.184.216.34", "151.101.1.69", False, None),
        ("10.0.0.5", "10.0.0.6", False, None),
        ("127.0.0.1", "127.0.0.1", False, None),
        ("93.184.216.34", "169.254.169.254", True, "link-local"),
        ("10.0.0.5", "fd00:ec2::254", True, "metadata"),
        ("93.184.216.34", "100.100.100.200", False, "metadata"),
        ("93.184.216.34", "::ffff:127.0.0.1", False, "internal"),
        ("93.184.216.34", "64:ff9b::7f00:1", False, "internal"),
        ("93.184.216.34", "0.0.0.0", False, "internal"),  # noqa: S104 - an address, not a bind
        ("93.184.216.34", "fd12:3456::1", False, "internal"),
        ("93.184.216.34", "100.64.0.1", False, "internal"),
        ("93.184.216.34", "10.0.0.5", True, None),
        ("::1", "127.0.0.1", False, None),
    ],
)
def test_redirect_policy(origin: str, target: str, allow: bool, refused: str | None) -> None:
    """Link-local and metadata addresses are refused from anywhere, whatever the config says;
    internal addresses from a public origin only, unless `allow_private`."""
    reason = refusal(addresses([origin]), addresses([target]), allow_private=allow)
    assert (reason is None) == (refused is None)
    if refused is not None:
        assert reason is not None
        assert refused in reason


async def test_a_gone_feed_does_not_hold_later_rounds(rig: Rig) -> None:
    """A feed that answered 410 Gone is not polled again, so no round waits for it: each poll
    of the good feed closes a round (they all waited for the 60 s timer before)."""
    told: list[RoundSummary] = []
    rig.poller.rounds.report = told.append
    feeds = [
        replace(rig.feed("/status/410", "gone"), interval_s=0.3),
        replace(rig.feed("/feeds/world", "good"), interval_s=0.3),
    ]
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(rig.poller.run(feeds, stop))
        await asyncio.sleep(2.5)
        stop.set()
    assert 1 == rig.server.count("/status/410")
    assert len(told) >= 4, told
    assert all(r.feeds == 1 for r in told[1:]), told


async def test_a_once_pass_round_is_told_by_its_caller_not_by_the_round_timer(rig: Rig) -> None:
    """`run --once` keeps the pass's round open until its articles were matched and delivered
    (`poll_all_once`, then `rounds.close()`), so that its line counts their alerts. The round
    opens when the polls are told, and its ROUND_MAX_S timer (60 s) still runs: a pass whose
    matching and delivery take longer (a webhook timing out, retried) is told by the timer with
    the alerts so far (none), and the caller's close finds no round. `max_s` is shortened here
    to stand for a 60 s delivery."""
    told: list[RoundSummary] = []
    delivered = [0, 0]
    rig.poller.rounds.report = told.append
    rig.poller.rounds.totals = lambda: (delivered[0], delivered[1])
    rig.poller.rounds.max_s = 0.2
    await rig.poller.poll_all_once([rig.feed("/feeds/world")])
    await asyncio.sleep(0.5)  # matching and delivery outlast the round timer
    delivered[:] = [1, 1]  # the pass's article matched and alerted
    rig.poller.rounds.close()  # what Service.run_once does once delivery is done
    assert [(1, 1)] == [(r.matched, r.alerts) for r in told], told


async def test_a_cancelled_poller_still_tells_its_open_round(rig: Rig) -> None:
    """A forced stop cancels the poller: the round it had open is told all the same."""
    told: list[RoundSummary] = []
    rig.poller.rounds.report = told.append
    task = asyncio.create_task(rig.poller.run([], asyncio.Event()))
    await asyncio.sleep(0.05)
    rig.poller.rounds.polled("a", new=3, failing=None, expected=["a", "b"])  # open, waiting
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert [3] == [r.new for r in told]


async def test_a_poller_holding_some_feeds_says_when_its_own_cannot_be_reached(rig: Rig) -> None:
    """With the feeds split between pollers (leases on Kafka), the offline hint is about the
    feeds this poller polls: it waited for the first polls of feeds another poller holds,
    which never come here, and so was never given."""
    from structlog.testing import capture_logs

    from tests.support.servers import free_port

    class Mine:
        def owns(self, feed_id: str) -> bool:
            return feed_id == "mine"

    rig.poller.leases = Mine()
    dead = f"http://127.0.0.1:{free_port()}/feed.xml"  # nothing listens there
    feeds = [
        replace(rig.feed("/x", "mine"), url=dead, interval_s=10.0),
        replace(rig.feed("/x", "theirs"), url=dead, interval_s=10.0),
    ]
    stop = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(rig.poller.run(feeds, stop))
        for _ in range(100):  # its first poll comes within a second
            if any(e["event"] == "feeds_unreachable" for e in logs):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task
    hints = [e for e in logs if e["event"] == "feeds_unreachable"]
    assert [1] == [e["feeds"] for e in hints], [e["event"] for e in logs]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_public_only_feed_on_an_internal_address_is_refused(
    rig: Rig, tmp_path: Path, host: str
) -> None:
    """A feed with `public_only: true` (added from the console, its name since pointed at
    127.0.0.1: DNS rebinding) is refused at poll time before anything is asked, and retried
    later (not disabled); without the key it is polled as before, and with
    `poller.allow_private` too."""
    url = rig.server.url("/feeds/world").replace("127.0.0.1", host)
    feed = replace(rig.feed("/feeds/world"), url=url, public_only=True)
    refused = await rig.poller.poll(feed)
    assert "address_refused" == refused.result
    assert "allow_private" in (refused.reason or "")
    assert [] == rig.server.requests
    assert [] == await rig.articles()
    assert (await rig.state.feed_state("f")).disabled_reason is None
    plain = await rig.poller.poll(replace(feed, public_only=False))
    assert ("ok", 5) == (plain.result, plain.new)
    allowed = Poller(
        config=replace(CONFIG, allow_private=True),
        session=rig.session,
        state=rig.state,
        bus=rig.bus,
        metrics=make_metrics(),
    )
    assert "not_modified" == (await allowed.poll(feed)).result  # asked, and answered
    assert 2 == rig.server.count("/feeds/world")
