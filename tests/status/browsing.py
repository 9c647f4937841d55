"""Driving the console's pages in a real browser (tests/support/browser.py): run a click that
posts a form and read the page it lands on, type into a field, and another origin's page that
forges a form, and the running service they are tried against."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import lxml.html
from aiohttp import web

from tests.support.browser import Page
from tests.support.processes import MonitorProcess, webhook_service
from tests.support.servers import FeedServer, Receiver, free_port, rss, serve


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


@asynccontextmanager
async def tokened_service(
    tmp_path: Path, first: str, watches: str, interval: str, token: str
) -> AsyncIterator[tuple[FeedServer, Receiver, MonitorProcess]]:
    """`monitor run` (not started) with `http.token`, a feed `world` serving `first` every
    `interval` and a webhook receiver: (feeds, receiver, monitor)."""
    feeds, receiver = FeedServer(feeds={"world": rss(first)}), Receiver()
    async with serve(feeds.app()) as feed_base, serve(receiver.app()) as hook_base:
        feeds.base, receiver.base = feed_base, hook_base
        rules = tmp_path / "rules"
        (rules / "entities").mkdir(parents=True)
        url = feeds.url("/feeds/world")
        (rules / "feeds.yaml").write_text(
            f'feeds:\n  - {{id: world, url: "{url}", interval: {interval}}}\n'
        )
        (rules / "watches.yaml").write_text(watches)
        monitor = webhook_service(
            tmp_path, receiver.url("/hook"), free_port(), http=f', token: "{token}"'
        )
        yield feeds, receiver, monitor
