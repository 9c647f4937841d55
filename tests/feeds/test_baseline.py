"""A new feed's first poll publishes only items newer than `max_age`; later polls publish all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import aiohttp
import pytest

from monitor.bus.base import ARTICLES
from monitor.bus.local import LocalBus
from monitor.feeds.baseline import split_by_age
from monitor.feeds.poller import Poller
from monitor.feeds.settings import PollerConfig
from monitor.feeds.spec import FeedSpec, parse_feed_file
from monitor.kernel.metrics import make_metrics
from monitor.kernel.models import Article, make_article
from monitor.kernel.yamlfile import read_yaml
from monitor.service.config import load_config
from monitor.store.state import FeedState, StateStore
from tests.support.servers import FeedServer, serve

NOW = datetime.now(UTC)


def dated_rss(*items: tuple[str, str | None]) -> bytes:
    """A feed of (title, pubDate or None) items; the title doubles as the GUID."""
    body = "".join(
        f"<item><title>{t}</title><guid>{t}</guid>"
        + (f"<pubDate>{d}</pubDate>" if d is not None else "")
        + "</item>"
        for t, d in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'.encode()


def ago(**delta: float) -> str:
    return format_datetime(NOW - timedelta(**delta), usegmt=True)


@dataclass
class Rig:
    server: FeedServer
    poller: Poller
    bus: LocalBus

    def feed(self, max_age_s: float | None = None) -> FeedSpec:
        url = self.server.url("/feeds/new")
        return FeedSpec(id="new", path="feeds.yaml", line=1, url=url, max_age_s=max_age_s)

    async def titles(self) -> set[str]:
        records = await self.bus.consumer(ARTICLES, "test").fetch(1000, 0.05)
        return {Article.from_bytes(r.value).title for r in records}

    def too_old(self) -> float:
        registry = self.poller.metrics.registry
        found = registry.get_sample_value("monitor_articles_too_old_total", {"feed": "new"})
        return found or 0.0


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    server = FeedServer(feeds={})
    async with (
        serve(server.app()) as base,
        LocalBus(tmp_path / "bus.db") as bus,
        StateStore(tmp_path) as state,
        aiohttp.ClientSession() as session,
    ):
        server.base = base
        config = PollerConfig(timeout_s=2.0, host_delay_s=0.0)  # max_age: the default, 2 days
        poller = Poller(
            config=config, session=session, state=state, bus=bus, metrics=make_metrics()
        )
        yield Rig(server, poller, bus)


async def test_a_first_poll_alerts_only_on_items_newer_than_max_age(rig: Rig) -> None:
    """On a new feed's first poll a year-old and a 3-day-old item are recorded, not published
    (the year-old one alerted before); an hour-old and an undated item are published. A later
    poll publishes a new item whatever its date: only the first poll is a baseline."""
    rig.server.feeds["new"] = dated_rss(
        ("hour old", ago(hours=1)),
        ("three days old", ago(days=3)),
        ("year old", ago(days=365)),
        ("undated", None),
    )
    first = await rig.poller.poll(rig.feed())
    assert ("ok", 2) == (first.result, first.new)
    assert {"hour old", "undated"} == await rig.titles()
    assert 2.0 == rig.too_old()
    rig.server.feeds["new"] = dated_rss(("an old item added later", ago(days=400)))
    second = await rig.poller.poll(rig.feed())
    assert ("ok", 1) == (second.result, second.new)
    assert "an old item added later" in await rig.titles()


async def test_a_feed_s_own_max_age_wins(rig: Rig) -> None:
    """A feed's `max_age: 7d` publishes its 3-day-old item on the first poll."""
    rig.server.feeds["new"] = dated_rss(("three days old", ago(days=3)), ("old", ago(days=30)))
    result = await rig.poller.poll(rig.feed(max_age_s=7 * 86400))
    assert 1 == result.new
    assert {"three days old"} == await rig.titles()


def test_max_age_is_read_from_monitor_yaml_and_feeds_yaml(tmp_path: Path) -> None:
    """`poller: max_age:` and a feed's `max_age:` are durations; a bad one is a problem."""
    config = tmp_path / "monitor.yaml"
    config.write_text("rules_dir: rules\nstate_dir: state\n")
    assert 2 * 86400 == load_config({}, config).poller.max_age_s
    config.write_text("rules_dir: rules\nstate_dir: state\npoller: {max_age: 1h}\n")
    assert 3600 == load_config({}, config).poller.max_age_s
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "feeds:\n  - {id: a, url: 'https://a.example/f', max_age: 7d}\n"
        "  - {id: b, url: 'https://b.example/f'}\n"
        "  - {id: c, url: 'https://c.example/f', max_age: soon}\n"
    )
    data, _ = read_yaml(path)
    feeds, problems = parse_feed_file("feeds.yaml", data)
    assert [7 * 86400, None] == [f.max_age_s for f in feeds]
    assert ["feeds.yaml:4"] == [f"{p.path}:{p.line}" for p in problems]
    assert "feed `max_age`" in problems[0].message


@pytest.mark.parametrize(
    ("published", "old"),
    [
        (None, False),
        (NOW - timedelta(days=2, seconds=1), True),
        (NOW - timedelta(days=1), False),
        (NOW + timedelta(days=1), False),  # in the future: nothing says it is old
        ((NOW - timedelta(days=3)).replace(tzinfo=None), True),  # naive: read as UTC
    ],
)
def test_split_by_age(published: datetime | None, old: bool) -> None:
    """Undated and future items are new; an item past max_age is old."""
    article = make_article(id="a", title="t", published=published)
    fresh, too_old = split_by_age([article], NOW, 2 * 86400)
    assert ([article] if old else []) == too_old
    assert ([] if old else [article]) == fresh


async def test_a_feed_back_after_the_items_were_forgotten_is_not_new(
    rig: Rig, tmp_path: Path
) -> None:
    """A feed down for 40 days: its items are forgotten (kept 30 days), but its state says it
    was read before, so the 5-day-old item published during the outage alerts on its return
    (it was taken for a new feed's baseline and recorded without alerting)."""
    rig.server.feeds["new"] = dated_rss(("hour old", ago(hours=1)))
    assert 1 == (await rig.poller.poll(rig.feed())).new
    forty_days_ago = int((NOW - timedelta(days=40)).timestamp() * 1000)
    await rig.poller.state.file.write(
        lambda db: db.execute("UPDATE seen SET last_seen_ms = ?", (forty_days_ago,))
    )
    async with StateStore(tmp_path):  # a restart: items unseen for 30 days are forgotten
        pass
    assert [] == await rig.poller.state.file.run(
        lambda: rig.poller.state.file.conn().execute("SELECT * FROM seen").fetchall()
    )
    rig.server.feeds["new"] = dated_rss(("during the outage", ago(days=5)))
    back = await rig.poller.poll(rig.feed())
    assert ("ok", 1) == (back.result, back.new)
    assert "during the outage" in await rig.titles()


async def test_a_state_from_before_the_mark_keeps_its_feeds_read(tmp_path: Path) -> None:
    """A state.db without `baselined_ms`: a feed whose items it remembers is marked as read when
    it is opened; a feed that only failed so far is still new."""
    async with StateStore(tmp_path) as state:
        await state.save_feed_state(FeedState(feed_id="read"))
        await state.save_feed_state(FeedState(feed_id="failed", failures=3))
        await state.mark_seen("read", ["a1"])
        await state.mark_seen("rowless", ["b1"])  # a crash before its row was written
        await state.file.write(lambda db: db.execute("ALTER TABLE feed_state DROP baselined_ms"))
    async with StateStore(tmp_path) as state:
        assert (await state.feed_state("read")).baselined_ms is not None
        assert (await state.feed_state("rowless")).baselined_ms is not None
        assert (await state.feed_state("failed")).baselined_ms is None
