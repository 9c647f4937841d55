"""Driving the console's pages in a real browser (tests/support/browser.py): run a click that
posts a form and read the page it lands on, type into a field, and another origin's page that
forges a form (the test against the running service uses them)."""

from __future__ import annotations

import asyncio
import json

import lxml.html
from aiohttp import web

from tests.support.browser import Page


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
