"""Full text: the poller reads item pages from a real site on 127.0.0.1, politely."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from monitor.bus.base import ARTICLES
from monitor.bus.local import LocalBus
from monitor.feeds.extract import extract_page
from monitor.feeds.poller import Poller
from monitor.feeds.robots import Robots
from monitor.feeds.settings import PollerConfig
from monitor.feeds.spec import FeedSpec
from monitor.kernel.metrics import Metrics, make_metrics
from monitor.kernel.models import Article, make_article
from monitor.store.state import StateStore
from tests.support.servers import serve
from tests.support.site import Site, article_page, feed

BODY = [
    "Defence ministers of the Commonwealth met in Minsk on Tuesday to review air defence.",
    "General Aidarbek Zhumabekov, who leads the joint staff, said the unified system would"
    " be extended to the southern members by the end of next year.",
    "The ministers also agreed on a calendar of exercises and on training for officers.",
]
TEASER = "Defence ministers met in Minsk."


@dataclass
class Rig:
    site: Site
    poller: Poller
    bus: LocalBus
    metrics: Metrics

    def feed(self, name: str, fulltext: str = "true", **more: object) -> FeedSpec:
        return FeedSpec(
            id=name,
            path="feeds.yaml",
            line=1,
            url=self.site.url(f"/feeds/{name}"),
            fulltext=fulltext,  # type: ignore[arg-type]
            **more,  # type: ignore[arg-type]
        )

    async def articles(self) -> dict[str, Article]:
        consumer = self.bus.consumer(ARTICLES, "test")
        found = [Article.from_bytes(r.value) for r in await consumer.fetch(1000, 0.05)]
        return {a.title: a for a in found}

    def results(self) -> dict[str, float]:
        found = {}
        for metric in self.metrics.registry.collect():
            if metric.name == "monitor_fulltext":
                for sample in metric.samples:
                    if sample.name.endswith("_total"):
                        found[sample.labels["result"]] = sample.value
        return found


async def make_rig(tmp_path: Path, config: PollerConfig) -> AsyncIterator[Rig]:
    site = Site()
    async with (
        serve(site.app()) as base,
        LocalBus(tmp_path / "bus.db") as bus,
        StateStore(tmp_path) as state,
        aiohttp.ClientSession() as session,
    ):
        site.base = base
        metrics = make_metrics()
        poller = Poller(config=config, session=session, state=state, bus=bus, metrics=metrics)
        # Extraction workers take a second or two to start: not within a test poll's timeout.
        await poller.fulltext.sandbox.run(extract_page, b"<p>warm</p>", "", None)
        try:
            yield Rig(site, poller, bus, metrics)
        finally:
            poller.fulltext.close()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    config = PollerConfig(timeout_s=2.0, max_body_bytes=1024 * 1024, host_delay_s=0.0)
    async for r in make_rig(tmp_path, config):
        yield r


def one_item(rig: Rig, name: str, path: str, title: str = "Ministers meet") -> None:
    rig.site.pages.setdefault(name, article_page(title, BODY))
    rig.site.feeds[name] = feed([(title, rig.site.url(path), TEASER)])


async def test_the_page_text_becomes_the_content(rig: Rig) -> None:
    """With `fulltext: true` the page's main text (not its menus or footer) is the content and
    the feed's teaser stays the summary."""
    one_item(rig, "a", "/news/a")
    result = await rig.poller.poll(rig.feed("a"))
    assert ("ok", 1) == (result.result, result.new)
    (article,) = (await rig.articles()).values()
    assert TEASER == article.summary
    assert "Aidarbek Zhumabekov" in article.content
    assert "Subscribe" not in article.content
    assert "Copyright" not in article.content
    assert {"fetched": 1.0} == rig.results()


async def test_the_feeds_own_content_is_kept_in_the_summary(rig: Rig) -> None:
    """An item with both a description and content keeps both, as the summary, when its page's
    text becomes the content."""
    rig.site.pages["a"] = article_page("x", BODY)
    rig.site.feeds["a"] = (
        feed([("Both", rig.site.url("/news/a"), TEASER)])
        .replace(
            b"</description>",
            b"</description><content:encoded>Feed body text.</content:encoded>",
        )
        .replace(
            b'<rss version="2.0">',
            b'<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">',
        )
    )
    await rig.poller.poll(rig.feed("a"))
    article = (await rig.articles())["Both"]
    assert f"{TEASER} Feed body text." == article.summary
    assert "Aidarbek Zhumabekov" in article.content


async def test_a_poll_cancelled_leaves_no_page_being_read(rig: Rig) -> None:
    """Stopping the service mid-poll cancels the page reads with it."""
    rig.site.pages["s"] = article_page("x", BODY)
    rig.site.feeds["f"] = feed([("Slow one", rig.site.url("/slow/s"), TEASER)])
    poll = asyncio.create_task(rig.poller.poll(rig.feed("f")))
    await asyncio.sleep(0.5)
    poll.cancel()
    with pytest.raises(asyncio.CancelledError):
        await poll
    pending = [
        t
        for t in asyncio.all_tasks()
        if getattr(t.get_coro(), "__qualname__", "") == "FullText._read"
    ]
    assert [] == pending


async def test_without_fulltext_no_page_is_read(rig: Rig) -> None:
    """The default, `fulltext: false`, never requests the page."""
    one_item(rig, "a", "/news/a")
    await rig.poller.poll(rig.feed("a", fulltext="false"))
    (article,) = (await rig.articles()).values()
    assert "" == article.content
    assert 0 == rig.site.count("/news/a")
    assert 0 == rig.site.count("/robots.txt")


async def test_auto_reads_only_short_items(rig: Rig) -> None:
    """`auto` reads the page of an item with under 500 characters of text, not of a long one."""
    rig.site.pages["short"] = rig.site.pages["long"] = article_page("x", BODY)
    rig.site.feeds["mixed"] = feed(
        [
            ("Short item", rig.site.url("/news/short"), TEASER),
            ("Long item", rig.site.url("/news/long"), " ".join(BODY * 3)),
        ]
    )
    await rig.poller.poll(rig.feed("mixed", fulltext="auto"))
    articles = await rig.articles()
    assert "Aidarbek Zhumabekov" in articles["Short item"].content
    assert "" == articles["Long item"].content
    assert (1, 0) == (rig.site.count("/news/short"), rig.site.count("/news/long"))


async def test_robots_txt_is_honoured_unless_the_feed_says_otherwise(rig: Rig) -> None:
    """A page robots.txt disallows is not fetched (the article goes on with the feed's text);
    `fulltext_ignore_robots` fetches it; robots.txt is read once for the origin."""
    one_item(rig, "p", "/private/p", "Private item")
    await rig.poller.poll(rig.feed("p"))
    assert "" == (await rig.articles())["Private item"].content
    assert 0 == rig.site.count("/private/p")
    assert {"robots": 1.0} == rig.results()

    rig.site.pages["q"] = rig.site.pages["p"]
    rig.site.feeds["q"] = feed([("Other item", rig.site.url("/private/q"), TEASER)])
    await rig.poller.poll(rig.feed("q", fulltext_ignore_robots=True))
    assert "Aidarbek Zhumabekov" in (await rig.articles())["Other item"].content
    assert 1 == rig.site.count("/robots.txt")


@pytest.mark.parametrize(
    ("robots", "fetched"),
    [(None, True), (403, True), (503, False), ("User-agent: monitor\nDisallow: /\n", False)],
)
async def test_robots_txt_answers(rig: Rig, robots: str | int | None, fetched: bool) -> None:
    """A missing or forbidden robots.txt allows every page; an unreachable one (5xx) allows
    none (RFC 9309); a group naming monitor applies to it."""
    rig.site.robots = robots
    one_item(rig, "a", "/news/a")
    await rig.poller.poll(rig.feed("a"))
    assert fetched == bool(rig.site.count("/news/a"))


async def test_a_slow_page_costs_at_most_the_timeout_and_loses_nothing(rig: Rig) -> None:
    """A page slower than the poller's timeout is given up: its article and the feed's other
    items are published with the feed's text within about the timeout."""
    rig.site.slow_s = 120.0  # far past the timeout: the poll ends while the page still waits
    rig.site.pages["s"] = rig.site.pages["ok"] = article_page("x", BODY)
    rig.site.feeds["f"] = feed(
        [
            ("Slow one", rig.site.url("/slow/s"), TEASER),
            ("Quick one", rig.site.url("/news/ok"), TEASER),
        ]
    )
    result = await rig.poller.poll(rig.feed("f"))
    unanswered = rig.site.count("/slow/s") == 0
    rig.site.released.set()
    articles = await rig.articles()
    assert unanswered  # the poll did not wait for the slow page
    assert ("ok", 2) == (result.result, result.new)
    assert TEASER == articles["Slow one"].summary
    assert "" == articles["Slow one"].content
    assert "Aidarbek Zhumabekov" in articles["Quick one"].content
    assert {"fetched": 1.0, "timeout": 1.0} == rig.results()


@pytest.mark.parametrize(
    ("path", "result"),
    [("/huge", "too_large"), ("/report.pdf", "not_html"), ("/news/missing", "failed")],
)
async def test_pages_that_cannot_be_read_leave_the_feed_text(
    rig: Rig, path: str, result: str
) -> None:
    """A page over the body limit, a PDF or a 404 is counted; the article keeps the feed text."""
    rig.site.feeds["f"] = feed([("Item", rig.site.url(path), TEASER)])
    await rig.poller.poll(rig.feed("f"))
    article = (await rig.articles())["Item"]
    assert (TEASER, "") == (article.summary, article.content)
    assert {result: 1.0} == rig.results()


async def test_a_redirected_page_is_followed(rig: Rig) -> None:
    """A 301 to the article is followed as for feeds."""
    rig.site.pages["a"] = article_page("x", BODY)
    rig.site.feeds["f"] = feed([("Item", rig.site.url("/moved/a"), TEASER)])
    await rig.poller.poll(rig.feed("f"))
    assert "Aidarbek Zhumabekov" in (await rig.articles())["Item"].content
    assert 1 == rig.site.count("/news/a")


async def test_a_page_is_read_once_for_every_copy(rig: Rig) -> None:
    """Two feeds carrying the same story (one with tracking parameters) read its page once."""
    rig.site.pages["a"] = article_page("x", BODY)
    rig.site.feeds["one"] = feed([("Copy one", rig.site.url("/news/a"), TEASER)])
    rig.site.feeds["two"] = feed(
        [("Copy two", rig.site.url("/news/a?utm_source=rss"), TEASER)], guid_prefix="agency:"
    )
    await rig.poller.poll(rig.feed("one"))
    await rig.poller.poll(rig.feed("two"))
    articles = await rig.articles()
    assert articles["Copy one"].content == articles["Copy two"].content != ""
    assert 1 == rig.site.count("/news/a")
    assert {"fetched": 1.0, "cached": 1.0} == rig.results()


async def test_a_css_selector_picks_the_text(rig: Rig) -> None:
    """`fulltext_selector` takes the text of the elements it selects instead."""
    one_item(rig, "a", "/news/a")
    await rig.poller.poll(rig.feed("a", fulltext_selector="div.byline"))
    (article,) = (await rig.articles()).values()
    assert "By A. Reporter" == article.content


async def test_politeness_per_host(tmp_path: Path) -> None:
    """Eight pages of one host: the site never sees more than `per_host` requests at once, and
    their starts are at least `host_delay` apart (the feed's own request included)."""
    config = PollerConfig(timeout_s=10.0, per_host=2, host_delay_s=0.2)
    async for rig in make_rig(tmp_path, config):
        rig.site.slow_s = 0.5  # long enough for requests to overlap if allowed to
        items = []
        for i in range(8):
            rig.site.pages[f"p{i}"] = article_page(f"Item {i}", BODY)
            items.append((f"Item {i}", rig.site.url(f"/slow/p{i}"), TEASER))
        rig.site.feeds["f"] = feed(items)
        result = await rig.poller.poll(rig.feed("f"))
        assert ("ok", 8) == (result.result, result.new)
        assert all("Aidarbek" in a.content for a in (await rig.articles()).values())
        assert 2 == rig.site.most_active
        starts = sorted(started for _, started, _ in rig.site.log)
        assert 10 == len(starts)  # the feed, robots.txt and eight pages
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        # Seen by the server: a request held up on its way (a loaded machine) arrives closer to
        # the next than it was sent; a poller without the delay sends them all at once (gaps ~0).
        assert min(gaps) >= 0.2 - 0.05, gaps


async def test_a_public_only_feed_reads_no_internal_page_nor_its_robots(rig: Rig) -> None:
    """`public_only: true` (a feed the console added): its items' pages and their robots.txt
    on 127.0.0.1 are refused before anything is asked, though a feed on 127.0.0.1 may read
    them without the key."""
    one_item(rig, "a", "/news/a")
    item = make_article(id="i1", feed="a", url=rig.site.url("/news/a"), title="Ministers meet")
    refused = await rig.poller.fulltext.complete(rig.feed("a", public_only=True), [item])
    assert [item] == refused
    assert {"refused": 1.0} == rig.results()
    robots = Robots(rig.poller.client, "monitor-test")
    page, home = rig.site.url("/news/a"), rig.site.url("/feeds/a")
    assert not await robots.allowed(page, home, untrusted=True)
    assert [] == rig.site.log  # nothing was asked of the internal address
    (read,) = await rig.poller.fulltext.complete(rig.feed("a"), [item])
    assert "Aidarbek Zhumabekov" in read.content
    assert await robots.allowed(page, home)
