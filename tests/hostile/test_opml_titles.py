"""What a feed says of itself (its title, its home page) reaches `monitor feeds export --opml`
when feeds.yaml names neither: a hostile feed's control characters, 100 KB title, XML-breaking
text or `javascript:` home page must give one clean outline, one line, bounded, and no htmlUrl
that is not an absolute http(s) URL."""

from __future__ import annotations

import asyncio
import functools
import html
import io
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import lxml.etree
import pytest
from aiohttp import web

from monitor.bus.local import LocalBus
from monitor.commands.feeds import feeds_command
from monitor.feeds.guard import guarded_session
from monitor.feeds.opml import TITLE_MAX, read_opml, write_opml
from monitor.feeds.poller import Poller
from monitor.feeds.settings import PollerConfig
from monitor.feeds.spec import FeedSpec
from monitor.kernel.metrics import make_metrics
from monitor.matching.loader import read_rules_dir
from monitor.store.state import StateStore
from tests.support.servers import serve

BREAKING = '</title></outline><outline xmlUrl="http://evil.example/x" text="evil"/><!--'
TITLES = [
    "Wire\x1b[31m red\x07\r\nSecond: line\x00\x85\u2028end",
    "W" * 100_000,
    BREAKING,
    "\ufffe\uffff\ud800 lone \u202e reversed \ue000 private",
    "]]><![CDATA[",
]
SITES = [
    "javascript:alert(1)",
    "//evil.example/",
    "/relative",
    "http://exa mple.org/",
    "https://example.org/\x1b[0m",
    "https://example.org/" + "p" * 5000,
    "data:text/html,<script>",
]


def _clean(title: str) -> None:
    assert title.isprintable()
    assert len(title) <= TITLE_MAX
    assert title == " ".join(title.split())


@pytest.mark.parametrize("title", TITLES)
@pytest.mark.parametrize("site", SITES)
def test_a_hostile_polled_title_and_site_give_one_clean_outline(title: str, site: str) -> None:
    feed = FeedSpec(id="w", url="https://example.org/rss", path="feeds.yaml", line=2)
    text = write_opml([feed], title="t", now=datetime.now(UTC), polled={"w": (title, site)})
    lxml.etree.fromstring(text.encode())  # well-formed
    ((found),) = read_opml(text.encode(), "out.opml")
    assert found.url == "https://example.org/rss"
    assert found.site == ""
    _clean(found.title)
    assert found.title  # something of it, or the id


def hostile_feed(title: str, link: str) -> web.Application:
    """An RSS feed whose channel title and link are given, escaped as XML requires (control
    characters left raw: a broken feed, read by the lenient parsers)."""
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{html.escape(title)}</title><link>{html.escape(link)}</link>"
        "<item><title>A story</title><guid>g1</guid></item></channel></rss>"
    ).encode()

    async def feed(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/feed", feed)
    return app


XML_SAFE = ["Wire\x1b[31m red\x07\r\nSecond\tline", "W" * 100_000, BREAKING]


@pytest.mark.parametrize("title", XML_SAFE)
async def test_a_hostile_feeds_title_polled_then_exported(tmp_path: Path, title: str) -> None:
    """Polled for real (its title and link kept in state.db), then exported."""
    rules = tmp_path / "rules"
    (rules / "entities").mkdir(parents=True)
    (rules / "watches.yaml").write_text("rules:\n  - {id: w, match: {any: [flood]}}\n")
    config = tmp_path / "monitor.yaml"
    config.write_text("rules_dir: rules\nstate_dir: state\n")
    async with serve(hostile_feed(title, "javascript:alert(1)")) as base:
        (rules / "feeds.yaml").write_text(
            textwrap.dedent(f"""\
            feeds:
              - {{id: hostile, url: "{base}/feed"}}
            """)
        )
        rule_set, problems = read_rules_dir(rules)
        assert problems == []
        async with (
            LocalBus(tmp_path / "state" / "bus.db") as bus,
            StateStore(tmp_path / "state") as state,
            guarded_session() as session,
        ):
            poller = Poller(
                config=PollerConfig(timeout_s=5.0, host_delay_s=0.0),
                session=session,
                state=state,
                bus=bus,
                metrics=make_metrics(),
            )
            assert (await poller.poll(rule_set.feeds[0])).result == "ok"
            poller.fulltext.close()
    out, err = io.StringIO(), io.StringIO()
    run = functools.partial(
        feeds_command, "export", config_path=config, opml=True, out=out, err=err
    )
    assert await asyncio.to_thread(run) == 0, err.getvalue()
    ((found),) = read_opml(out.getvalue().encode(), "out.opml")
    assert (found.url, found.site) == (f"{base}/feed", "")
    _clean(found.title)
    assert found.title[:4] in {"Wire", "WWWW", "</ti"}
