"""The console's backtest, stored list and proposal over articles really stored on the local
bus (as the service stores them), and the page reader of the URL test on a local server."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from aiohttp import web

from monitor.bus.base import ARTICLES
from monitor.bus.local import LocalBus
from monitor.feeds.settings import FulltextConfig, PollerConfig
from monitor.kernel.console import Trial
from monitor.kernel.models import Article, make_article
from monitor.status.desks import make_watch_desk
from monitor.stories.settings import StoriesConfig
from tests.status.test_watchdesk import WATCHES, _Place
from tests.support.servers import serve

DAY_MS = 86_400_000
CHILE = make_article(
    id="chile",
    feed="wire-a",
    url="https://wire-a.example/chile",
    title="Earthquake of magnitude 7 strikes the coast of Chile near Valparaiso harbour",
    content="A strong earthquake shook central Chile; the Valparaiso harbour cranes stopped.",
)
CHILE_COPY = make_article(
    id="chile-copy", feed="wire-b", url="https://wire-b.example/chile", title=CHILE.title,
    content=CHILE.content,
)  # fmt: skip
JAPAN = make_article(
    id="japan",
    feed="wire-b",
    url="https://wire-b.example/japan",
    title="Earthquake damages bridges in northern Japan",
    content="Rail lines in Hokkaido stopped after the earthquake damaged two bridges.",
)
FIRE = make_article(id="fire", feed="wire-a", title="Wildfire spreads in the hills", content="")


def _stored(state: Path, yesterday: list[Article], today: list[Article]) -> None:
    async def publish() -> None:
        async with LocalBus(state / "bus.db") as bus:
            await bus.publish(ARTICLES, [(a.id, a.to_bytes()) for a in yesterday])
            await bus.publish(ARTICLES, [(a.id, a.to_bytes()) for a in today])

    state.mkdir()
    asyncio.run(publish())
    with sqlite3.connect(state / "bus.db") as db:
        for a in yesterday:
            db.execute("UPDATE records SET ts_ms = ts_ms - ? WHERE key = ?", (DAY_MS, a.id))


def _day(ms: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))


def test_backtest_stored_and_propose_on_stored_articles(tmp_path: Path) -> None:
    """Counts per day with copies folded into one would-be alert, the stored list newest first,
    and a proposed watch that names the article's entities, saves (passes check) and matches
    the article it came from."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "watches.yaml").write_text(WATCHES)
    _stored(tmp_path / "state", [JAPAN], [CHILE, CHILE_COPY, FIRE])
    desks = make_watch_desk(
        rules, _Place(tmp_path / "state"), poller=PollerConfig(), fulltext=FulltextConfig(),
        stories=StoriesConfig(), environ={},
    )  # fmt: skip
    desk = desks.watches
    now_ms = time.time() * 1000
    found = asyncio.run(desk.backtest("quakes", None, 7))
    assert found["articles"] == 4
    assert found["days"] == [
        {"day": _day(now_ms - DAY_MS), "matches": 1, "alerts": 1},
        {"day": _day(now_ms), "matches": 2, "alerts": 1},  # the copy folded into the story
    ]
    assert sorted(a["url"] for a in found["alerts"]) == [CHILE.url, JAPAN.url]
    edited = asyncio.run(desk.backtest("quakes", "id: quakes\nmatch: {any: [wildfire]}\n", 7))
    assert [a["title"] for a in edited["alerts"]] == [FIRE.title]
    assert asyncio.run(desk.backtest("quakes", None, 1))["days"][0]["matches"] == 2

    listed = asyncio.run(desk.stored(10))
    assert [a["id"] for a in listed] == ["fire", "chile-copy", "chile", "japan"]
    assert listed[2] == {"id": "chile", "title": CHILE.title, "feed": "wire-a", "url": CHILE.url}

    proposed = asyncio.run(desk.propose("chile"))
    assert "chile" in proposed["entities"]
    assert any("valparaiso" in t for t in proposed["terms"])
    assert not any("earthquake" == t for t in proposed["terms"])  # in every quake article
    lines = proposed["yaml"].splitlines()
    item = "".join(("  - " if n == 0 else "    ") + line + "\n" for n, line in enumerate(lines))
    assert desk.files.problems(rules / "watches.yaml", WATCHES + item) == []  # monitor check's
    assert f"id: {proposed['id']}" in proposed["yaml"]
    tried = asyncio.run(desk.test("quakes", Trial(article_ids=("chile",), yaml=proposed["yaml"])))
    assert tried["results"][0]["matched"], proposed["yaml"]
    assert not asyncio.run(
        desk.test("quakes", Trial(article_ids=("fire",), yaml=proposed["yaml"]))
    )["results"][0]["matched"]


def test_url_test_reads_a_local_page_when_private_addresses_are_allowed(tmp_path: Path) -> None:
    """With `poller.allow_private`, a page on 127.0.0.1 is fetched and its main text matched."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "watches.yaml").write_text(WATCHES)
    body = (
        "<html lang='en'><head><title>Coast shaken</title></head><body><nav>Home | World</nav>"
        "<article><h1>Coast shaken</h1><p>A strong earthquake shook the coast on Monday "
        "morning, and the harbour authority closed the port for inspections of the quays."
        "</p><p>Engineers said the breakwater held and ships would sail again by the evening "
        "once divers had checked the moorings.</p></article></body></html>"
    )

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=body, content_type="text/html")

    async def robots(_: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nAllow: /\n")

    app = web.Application()
    app.router.add_get("/news/coast", page)
    app.router.add_get("/robots.txt", robots)

    async def run() -> dict[str, object]:
        desks = make_watch_desk(
            rules, _Place(tmp_path / "state"), poller=PollerConfig(allow_private=True),
            fulltext=FulltextConfig(workers=1), stories=StoriesConfig(), environ={},
        )  # fmt: skip
        try:
            async with serve(app) as base:
                answer = await desks.watches.test("quakes", Trial(url=f"{base}/news/coast"))
        finally:
            desks.close()
        result: dict[str, object] = answer["results"][0]
        return result

    result = asyncio.run(run())
    assert result["matched"]
    assert result["title"] == "Coast shaken"
    field, start, end = result["marks"][0]  # type: ignore[index]
    assert result["text"][field][start:end].lower() == "earthquake"  # type: ignore[index]
    assert "Home | World" not in str(result["text"])
