"""The console in a real headless chromium, over fakes of its parts (one browser session): sign
in with the token, Mute a watch with a reason and see the silence listed, Save a mistake and see
its line marked with the file unchanged, Test pasted text and see the evidence marked, and a
form of another origin, submitted by its script, refused. With UPDATE_SCREENSHOT=1 it also
takes the console's pictures for docs/operations.md (`tests.status.screens`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import lxml.html
import pytest
from aiohttp import web

from monitor.feeds.board import FeedStatus
from monitor.matching.board import WatchActivity
from monitor.status.page import FeedRow, RulesState, StatusView, WatchRow
from tests.status.console_fakes import Fakes, console_app, console_of, with_status_page
from tests.status.screens import shoot
from tests.support.browser import Page, browser
from tests.support.servers import serve

TOKEN = "console-token-0123456789"  # noqa: S105 - a test's
NOW = 1_765_130_400_000


def status_view() -> StatusView:
    """A page with one feed and one watch (the rows the console's buttons are on)."""
    feed = FeedRow("world", "https://x.test/feed", 60, FeedStatus("world", NOW, "ok", items=5))
    watch = WatchRow("war", "live", "war news", WatchActivity((0, 1, 0, 2, 0, 0, 1), NOW))
    rules = RulesState(1, NOW, False, ())
    return StatusView("1", "all", NOW, NOW, rules, [feed], [watch], None, {"slack": 1})


def forging_page(target: str) -> web.Application:
    """Another origin's page whose script posts a form to the console at `target`."""
    page = (
        f'<!doctype html><form method="post" action="{target}/-/feeds/world/poll">'
        '<input type="hidden" name="csrf" value="guessed"></form>'
        "<script>document.forms[0].submit()</script>"
    )

    async def evil(_: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", evil)
    return app


async def act(page: Page, script: str, landing: str, shows: str) -> lxml.html.HtmlElement:
    """Run `script` (a click that posts a form) and read the page it lands on: at a URL with
    `landing` in it, showing an element `shows` (a CSS selector)."""
    await page.evaluate(script)
    ready = (
        f"document.readyState === 'complete' && location.href.includes({json.dumps(landing)})"
        f" && document.querySelector({json.dumps(shows)}) !== null"
    )
    for _ in range(100):
        if await page.evaluate(ready):
            return lxml.html.document_fromstring(await page.html())
        await asyncio.sleep(0.1)
    where = await page.evaluate("[location.href, document.body && document.body.innerText]")
    raise TimeoutError(f"no {shows} at {landing} after {script[:60]}: {where}")


def typed(selector: str, value: str) -> str:
    """The script setting a field's value as typing would."""
    return f"document.querySelector({json.dumps(selector)}).value = {json.dumps(value)};"


@pytest.mark.timeout(300)  # the first run may install chromium
async def test_the_console_in_a_real_browser(tmp_path: Path) -> None:
    fakes = Fakes()
    before = fakes.file
    app = with_status_page(console_app(console_of(fakes), TOKEN), TOKEN, status_view())
    async with serve(app) as base, browser(tmp_path / "chromium") as page:
        await page.goto(base + "/")
        signed = await act(
            page,
            typed("#token", TOKEN) + "document.querySelector('form').submit()",
            base + "/",
            "#watches",
        )
        assert signed.xpath("//table[@id='watches']//form[contains(@class, 'mute')]")

        muted = await act(
            page,
            typed("tr[data-watch=war] input[name=reason]", "noisy tonight")
            + "document.querySelector('tr[data-watch=war] form.mute button').click()",
            "said=",
            "#said",
        )
        said = muted.get_element_by_id("said").text_content()
        assert said.startswith("watch war muted until ")
        assert said.endswith(": noisy tonight")
        silences = muted.xpath("//ul[@id='silences']/li[@data-watch='war']")
        assert 1 == len(silences)
        assert "noisy tonight" in silences[0].text_content()
        await shoot(page, "fakes-console.png", ["#feeds", "#console"])

        await page.goto(base + "/watches/war")
        refused = await act(
            page,
            typed("textarea[name=yaml]", "id: war\nmistake: 1\n")
            + "document.querySelector('#save').click()",
            "/-/watches/war",
            "#problems",
        )
        marked = refused.xpath("//pre[@class='lines']/span[@class='badline']")
        assert ["2"] == [s.get("data-line") for s in marked]
        assert "mistake: 1" in marked[0].text_content()
        assert "nothing was written" in refused.get_element_by_id("problems").text_content()
        assert before == fakes.file

        await page.goto(base + "/watches/war")
        tried = await act(
            page,
            typed("textarea[name=text]", "Troops were seen near the Belarus border.")
            + "document.querySelector('#test').click()",
            "/-/watches/war/test",
            "#result",
        )
        assert ["Belarus"] == [m.text_content() for m in tried.xpath("//div[@id='result']//mark")]
        assert "matches" in tried.get_element_by_id("result").text_content()
        await shoot(page, "fakes-watch.png")

        calls = len(fakes.calls)
        async with serve(forging_page(base)) as elsewhere:
            forged = await act(
                page, f"location.href = {json.dumps(elsewhere + '/')}", "/-/feeds/", "#refused"
            )
        assert "another site" in forged.get_element_by_id("refused").text_content()
        assert [] == [c for c in fakes.calls[calls:] if c[0] == "poll"]
    assert before == fakes.file
