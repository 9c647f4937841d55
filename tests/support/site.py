"""A news site on 127.0.0.1 for the full-text tests: feeds whose items link to article pages,
and pages that misbehave, with a log of when each request started and ended."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html import escape

from aiohttp import web

BOILERPLATE_NAV = "Home World Business Sport Culture Subscribe Log in"
BOILERPLATE_FOOT = "Copyright 2026 The Example Times. Terms of use. Privacy. Cookie settings."


def article_page(title: str, paragraphs: list[str], *, lang: str = "en") -> bytes:
    """An article page as news sites write them: menus, the article, related links, a footer."""
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">
<title>{escape(title)} | The Example Times</title>
<meta property="og:title" content="{escape(title)}"></head><body>
<header><nav><ul>{"".join(f"<li><a href='/{w}'>{w}</a></li>" for w in BOILERPLATE_NAV.split())}</ul></nav></header>
<main><article><h1>{escape(title)}</h1><div class="byline">By A. Reporter</div>
<div class="story-body">{body}</div></article>
<aside><h2>Related</h2><ul><li><a href="/x">Markets rally on rate hopes</a></li>
<li><a href="/y">Weather: a mild week ahead</a></li></ul></aside></main>
<footer><p>{BOILERPLATE_FOOT}</p></footer></body></html>""".encode()


def feed(items: list[tuple[str, str, str]], guid_prefix: str = "") -> bytes:
    """An RSS feed of (title, link, description) items, each link (after `guid_prefix`) its guid."""
    xml = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(link)}</link>"
        f"<guid>{escape(guid_prefix + link)}</guid><description>{escape(d)}</description></item>"
        for t, link, d in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>site</title>'
        f"{xml}</channel></rss>"
    ).encode()


@dataclass
class Site:
    """/feeds/NAME        `feeds[NAME]`
    /news/NAME         `pages[NAME]` (text/html)
    /private/NAME      `pages[NAME]`, under a robots.txt Disallow
    /slow/NAME         `pages[NAME]` after `slow_s`
    /moved/NAME        a 301 to /news/NAME
    /huge              an HTML page of `huge_bytes`
    /report.pdf        a PDF
    /robots.txt        `robots` (None: 404; an int: that status)
    """

    feeds: dict[str, bytes] = field(default_factory=dict)
    pages: dict[str, bytes] = field(default_factory=dict)
    robots: str | int | None = "User-agent: *\nDisallow: /private/\n"
    slow_s: float = 5.0
    # Set to answer the slow pages at once (a test that waits on them ends without waiting).
    released: asyncio.Event = field(default_factory=asyncio.Event)
    huge_bytes: int = 3 * 1024 * 1024
    base: str = ""
    # (path, started, ended), monotonic seconds
    log: list[tuple[str, float, float]] = field(default_factory=list)
    active: int = 0
    most_active: int = 0

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def count(self, path: str) -> int:
        return sum(1 for p, _, _ in self.log if p == path)

    def app(self) -> web.Application:
        @web.middleware
        async def record(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            started = time.monotonic()
            self.active += 1
            self.most_active = max(self.most_active, self.active)
            try:
                return await handler(request)
            finally:
                self.active -= 1
                self.log.append((request.path, started, time.monotonic()))

        async def feeds(request: web.Request) -> web.Response:
            return web.Response(
                body=self.feeds[request.match_info["name"]], content_type="application/rss+xml"
            )

        async def page(request: web.Request) -> web.Response:
            name = request.match_info["name"]
            if name not in self.pages:
                raise web.HTTPNotFound()
            if request.path.startswith("/slow/"):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.released.wait(), self.slow_s)
            return web.Response(body=self.pages[name], content_type="text/html", charset="utf-8")

        async def moved(request: web.Request) -> web.Response:
            raise web.HTTPMovedPermanently(f"/news/{request.match_info['name']}")

        async def huge(request: web.Request) -> web.Response:
            return web.Response(
                body=b"<html><body><p>" + b"x" * self.huge_bytes + b"</p></body></html>",
                content_type="text/html",
            )

        async def pdf(request: web.Request) -> web.Response:
            return web.Response(body=b"%PDF-1.4 not a page", content_type="application/pdf")

        async def robots(request: web.Request) -> web.Response:
            if self.robots is None:
                raise web.HTTPNotFound()
            if isinstance(self.robots, int):
                return web.Response(status=self.robots)
            return web.Response(text=self.robots, content_type="text/plain")

        app = web.Application(middlewares=[record])
        app.router.add_get("/feeds/{name}", feeds)
        for prefix in ("news", "private", "slow"):
            app.router.add_get(f"/{prefix}/{{name}}", page)
        app.router.add_get("/moved/{name}", moved)
        app.router.add_get("/huge", huge)
        app.router.add_get("/report.pdf", pdf)
        app.router.add_get("/robots.txt", robots)
        return app
