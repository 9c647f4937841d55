"""Source kinds: a feed's `kind:` picks how its URL's answer is read; a new kind is one module
and one line in `SOURCES` (shown here with a kind written in the test, polled for real)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from monitor.bus.base import ARTICLES
from monitor.bus.local import LocalBus
from monitor.feeds.parse import ParsedFeed, article_id
from monitor.feeds.poller import Poller
from monitor.feeds.settings import PollerConfig
from monitor.feeds.sources import SOURCES
from monitor.feeds.sources.base import Source
from monitor.feeds.spec import parse_feed_file
from monitor.kernel.metrics import make_metrics
from monitor.kernel.models import Article, make_article
from monitor.kernel.yamlfile import parse_yaml
from monitor.store.state import StateStore
from tests.support.servers import serve


def _lines(
    body: bytes,
    *,
    feed_id: str | None,
    url: str = "",
    content_type: str = "",
    fetched_at: datetime | None = None,
) -> ParsedFeed:
    """A toy kind: each line of a text/plain body is one article's title."""
    titles = [t.strip() for t in body.decode().splitlines() if t.strip()]
    return ParsedFeed(
        articles=tuple(
            make_article(
                id=article_id(feed_id, title=t), feed=feed_id, title=t, fetched_at=fetched_at
            )
            for t in titles
        ),
        parser="lines",
    )


LINES = Source(name="lines", accept="text/plain", parse=_lines)


def _feeds(text: str) -> tuple[list[object], list[str]]:
    data, problems = parse_yaml(text, "feeds.yaml")
    assert not problems
    feeds, found = parse_feed_file("feeds.yaml", data)
    return list(feeds), [str(p) for p in found]


def test_kind_defaults_to_feed() -> None:
    feeds, problems = _feeds("feeds:\n  - id: a\n    url: https://example.org/rss\n")
    assert [] == problems
    assert ["feed"] == [f.kind for f in feeds]  # type: ignore[attr-defined]


def test_an_unknown_kind_is_a_problem_on_its_line() -> None:
    feeds, problems = _feeds(
        "feeds:\n  - id: a\n    url: https://example.org/rss\n    kind: sitemap\n"
    )
    assert [] == feeds
    assert ["feeds.yaml:4: feed `kind` must be one of feed, not 'sitemap'"] == problems


async def test_a_new_kind_is_one_module_and_one_registry_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry line; then feeds.yaml may name the kind, and the poller reads it with the
    kind's Accept header and parser."""
    monkeypatch.setitem(SOURCES, "lines", LINES)
    seen: list[str] = []

    async def page(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Accept", ""))
        return web.Response(text="First title\nSecond title\n", content_type="text/plain")

    app = web.Application()
    app.router.add_get("/list.txt", page)
    async with (
        serve(app) as base,
        LocalBus(tmp_path / "bus.db") as bus,
        StateStore(tmp_path) as state,
        aiohttp.ClientSession() as session,
    ):
        (feed,), problems = _feeds(
            f"feeds:\n  - id: t\n    url: {base}/list.txt\n    kind: lines\n"
        )
        assert [] == problems
        config = PollerConfig(timeout_s=2.0, host_delay_s=0.0, allow_private=True)
        poller = Poller(
            config=config, session=session, state=state, bus=bus, metrics=make_metrics()
        )
        result = await poller.poll(feed)  # type: ignore[arg-type]
        records = await bus.consumer(ARTICLES, "test").fetch(100, 0.05)
    assert ("ok", 2) == (result.result, result.new)
    assert ["text/plain"] == seen
    titles = sorted(Article.from_bytes(r.value).title for r in records)
    assert ["First title", "Second title"] == titles
