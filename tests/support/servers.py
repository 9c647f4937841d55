"""Real servers on 127.0.0.1 for integration tests: feeds, a webhook receiver, SMTP."""

from __future__ import annotations

import asyncio
import email
import email.policy
import gzip
import hashlib
import random
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller

from tests.conftest import SEED_FEED
from tests.support import schemas


def rss(*titles: str) -> bytes:
    """A feed whose items are the given titles (the title doubles as the GUID)."""
    items = "".join(f"<item><title>{t}</title><guid>{t}</guid></item>" for t in titles)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


# Ports handed out for a server a test starts later (a monitor subprocess binds it itself), taken
# below the kernel's ephemeral range (32768-60999 on Linux): a port from bind(0) is in that
# range, where every outgoing connection of every worker (Kafka clients, HTTP) also takes its
# local port, so between the check and the bind another socket took it now and then.
_PORTS = range(20_000, 32_000)
_random = random.Random()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now, outside the ephemeral range."""
    for _ in range(200):
        port = _random.choice(_PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-31999 on 127.0.0.1")


@dataclass
class FeedServer:
    """Serves feeds at /feeds/NAME, and misbehaves on purpose at the other paths.

    /feeds/NAME        the document in `feeds[NAME]`, with ETag and 304 support
    /status/CODE       that status (429 and 503 with Retry-After: `retry_after`)
    /slow              answers after `slow_s`
    /truncated         a feed cut off mid-element;  /invalid: text that is not XML
    /huge              a body of `huge_bytes`;       /loop: a redirect loop
    /redirect?to=URL   a redirect to URL
    /gzip/NAME         the feed gzip-encoded
    /held              the world feed, answered once `release` is set; `in_flight` counts
                       the requests it holds now, `most_in_flight` the most at once
    """

    feeds: dict[str, bytes] = field(default_factory=lambda: {"world": SEED_FEED.read_bytes()})
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    retry_after: str = "120"
    slow_s: float = 5.0
    huge_bytes: int = 3 * 1024 * 1024
    base: str = ""
    release: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: int = 0
    most_in_flight: int = 0

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    async def _held(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.headers)))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.release.wait()
        finally:
            self.in_flight -= 1
        return web.Response(body=self.feeds["world"], content_type="application/rss+xml")

    def app(self) -> web.Application:
        async def record(request: web.Request) -> None:
            self.requests.append((request.path, dict(request.headers)))

        async def feed(request: web.Request) -> web.StreamResponse:
            await record(request)
            body = self.feeds.get(request.match_info["name"])
            if body is None:
                return web.Response(status=404)
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
            return web.Response(
                body=body, content_type="application/rss+xml", headers={"ETag": etag}
            )

        async def status(request: web.Request) -> web.Response:
            await record(request)
            code = int(request.match_info["code"])
            headers = {"Retry-After": self.retry_after} if code in (429, 503) else {}
            return web.Response(status=code, headers=headers, text="no")

        async def slow(request: web.Request) -> web.Response:
            await record(request)
            await asyncio.sleep(self.slow_s)
            return web.Response(body=self.feeds["world"], content_type="application/rss+xml")

        async def truncated(request: web.Request) -> web.Response:
            await record(request)
            return web.Response(
                body=b"<?xml version='1.0'?><rss><channel><item><title>cut", content_type="text/xml"
            )

        async def invalid(request: web.Request) -> web.Response:
            await record(request)
            return web.Response(
                text="Service temporarily down. Please come back later.", content_type="text/plain"
            )

        async def huge(request: web.Request) -> web.StreamResponse:
            await record(request)
            resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
            await resp.prepare(request)
            chunk = b"<!-- " + b"x" * 65000 + b" -->"
            sent = 0
            while sent < self.huge_bytes:
                await resp.write(chunk)
                sent += len(chunk)
            await resp.write_eof()
            return resp

        async def loop(request: web.Request) -> web.Response:
            await record(request)
            raise web.HTTPFound(request.query.get("to", "/loop"))

        async def gzipped(request: web.Request) -> web.Response:
            await record(request)
            body = gzip.compress(self.feeds[request.match_info["name"]])
            return web.Response(
                body=body,
                headers={"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"},
            )

        app = web.Application()
        app.router.add_get("/feeds/{name}", feed)
        app.router.add_get("/status/{code}", status)
        app.router.add_get("/slow", slow)
        app.router.add_get("/held", self._held)
        app.router.add_get("/truncated", truncated)
        app.router.add_get("/invalid", invalid)
        app.router.add_get("/huge", huge)
        app.router.add_get("/loop", loop)
        app.router.add_get("/redirect", loop)
        app.router.add_get("/gzip/{name}", gzipped)
        return app


@dataclass(frozen=True, slots=True)
class Answer:
    """One webhook request and the status it was answered with, at `at` (epoch seconds)."""

    headers: dict[str, str]
    body: bytes
    status: int
    at: float


@dataclass
class Receiver:
    """A webhook receiver: answers `plan` statuses in turn (then 200), recording every request."""

    plan: list[int] = field(default_factory=list)
    always: int | None = None
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    answered: list[Answer] = field(default_factory=list)
    base: str = ""
    delivered: asyncio.Event = field(default_factory=asyncio.Event)
    failed: asyncio.Event = field(default_factory=asyncio.Event)
    hold: asyncio.Event | None = None  # when set, requests wait for it before answering

    def url(self, path: str = "/hook") -> str:
        return f"{self.base}{path}"

    def app(self) -> web.Application:
        async def hook(request: web.Request) -> web.Response:
            body = await request.read()
            self.received.append((dict(request.headers), body))
            schemas.check_body(body)
            if self.hold is not None:
                await self.hold.wait()
            code = (
                self.always if self.always is not None else (self.plan.pop(0) if self.plan else 200)
            )
            self.answered.append(Answer(dict(request.headers), body, code, time.time()))
            (self.delivered if code == 200 else self.failed).set()
            return web.Response(status=code, text="ok" if code == 200 else "fail")

        app = web.Application()
        app.router.add_post("/hook", hook)
        app.router.add_post("/slack", hook)
        return app


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve an app on a free loopback port; yield its base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.messages.append(msg)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@asynccontextmanager
async def smtp_server() -> AsyncIterator[tuple[int, _Mailbox]]:
    """A real SMTP server (aiosmtpd) on a free loopback port; yield (port, mailbox)."""
    box = _Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    await asyncio.to_thread(controller.start)
    try:
        yield port, box
    finally:
        await asyncio.to_thread(controller.stop)


@dataclass
class Servers:
    """A feed server, a webhook receiver and an SMTP server, all running."""

    feeds: FeedServer
    receiver: Receiver
    smtp_port: int
    mailbox: Any


@asynccontextmanager
async def all_servers() -> AsyncIterator[Servers]:
    """Start the three servers a monitor talks to; yield them with their addresses set."""
    feeds, receiver = FeedServer(), Receiver()
    async with (
        serve(feeds.app()) as feed_base,
        serve(receiver.app()) as hook_base,
        smtp_server() as (port, box),
    ):
        feeds.base, receiver.base = feed_base, hook_base
        yield Servers(feeds, receiver, port, box)
