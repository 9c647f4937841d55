"""How `monitor feeds` and the console's "add a feed" fetch: with the poller's client and
settings, parsed as the poller parses; what stops them is a `Refused` with the reason said to
the user. A feed of feeds.yaml is fetched with its own request settings (`headers:`, `auth:`,
`user_agent:`, `proxy:`, their `${VAR}`s from the config's environment), as the poller fetches
it. A URL an untrusted asker gave (`untrusted`: the console's web clients) is judged as for a
public origin: no internal address unless `poller.allow_private` (`monitor.feeds.addresses`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.feeds.addresses import CONFIG_KEY, FLAG
from monitor.feeds.client import Client, Fetched
from monitor.feeds.discover import (
    looks_like_html,
)
from monitor.feeds.guard import guarded_session
from monitor.feeds.parse import ParsedFeed, parse_feed
from monitor.feeds.request import RequestSpec, Resolved, Unresolved, resolve
from monitor.feeds.settings import PollerConfig
from monitor.feeds.sources.feed import ACCEPT
from monitor.kernel.errors import FeedFetchError, FeedParseError
from monitor.kernel.neterrors import printable
from monitor.kernel.redact import redact, remember

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class Refused(Exception):
    """What stops a command, said to the user; `code` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Found:
    """A fetched and parsed feed."""

    url: str
    fetched: Fetched
    body: bytes
    parsed: ParsedFeed
    seconds: float


@asynccontextmanager
async def feed_client(poller: PollerConfig, *, untrusted: bool = False) -> AsyncIterator[Client]:
    """A client with the poller's settings (timeout, body limit, redirects, host turns, the
    address policy, whose refusals name `--allow-private`, or for an `untrusted` asker the
    config key)."""
    async with guarded_session() as session:
        client = Client(session, poller)
        client.hint = CONFIG_KEY if untrusted else FLAG
        client.untrusted = untrusted
        yield client


def sends_of(request: RequestSpec, environ: Mapping[str, str]) -> Resolved:
    """A feed's request settings with `environ`'s values, its secrets remembered for redaction;
    a variable not set (or unusable) is `Refused`."""
    try:
        sends = resolve(request, environ)
    except Unresolved as exc:
        raise Refused(f"{exc} (the feed's request settings in feeds.yaml)", EXIT_USAGE) from exc
    remember(sends.secrets)
    return sends


async def get_page(
    client: Client, url: str, origin: str | None = None, sends: Resolved | None = None
) -> tuple[Fetched, bytes]:
    """One GET as the poller makes it, with a feed's request settings `sends` if given; a
    failure is `Refused` with the reason (its secrets redacted)."""
    sends = sends or Resolved()
    headers = {
        **sends.headers,
        "User-Agent": sends.user_agent or client.user_agent,
        "Accept": ACCEPT,
    }
    try:
        fetched = await client.get(
            url, headers, origin=origin, credentials=sends.credentials, proxy=sends.proxy
        )
    except FeedFetchError as exc:
        if exc.result in ("address_refused", "redirect_refused"):  # it names the URL
            raise Refused(redact(f"refused: {exc}")) from exc
        raise Refused(redact(f"{url}: {exc}")) from exc
    except ValueError as exc:  # not a URL aiohttp can fetch
        raise Refused(redact(f"{url}: {exc}"), EXIT_USAGE) from exc
    if fetched.body is None:
        reason = printable(f"HTTP {fetched.status} {fetched.reason}".strip())
        raise Refused(redact(f"{url}: {reason}"))
    return fetched, fetched.body


def parse_fetched(fetched: Fetched, body: bytes, url: str) -> ParsedFeed:
    """The body parsed as the poller parses it; not a feed is `Refused`."""
    try:
        return parse_feed(
            body,
            feed_id=None,
            url=url,
            content_type=fetched.headers.get("Content-Type", ""),
            fetched_at=datetime.now(UTC),
        )
    except FeedParseError as exc:
        raise Refused(f"{url} is not a feed: {exc}") from exc


async def read_url(
    client: Client, url: str, origin: str | None = None, sends: Resolved | None = None
) -> tuple[Found | None, Fetched, bytes]:
    """One GET of `url` (for `origin`'s sake, by default its own, with `sends` if given): the
    feed it is, parsed as the poller parses it; or None (a web page)."""
    started = asyncio.get_running_loop().time()
    fetched, body = await get_page(client, url, origin, sends)
    seconds = asyncio.get_running_loop().time() - started
    if looks_like_html(body, fetched.headers.get("Content-Type", "")):
        return None, fetched, body
    parsed = await asyncio.to_thread(parse_fetched, fetched, body, url)
    return Found(url, fetched, body, parsed, seconds), fetched, body


async def fetch_feed(
    poller: PollerConfig,
    url: str,
    origin: str | None = None,
    request: RequestSpec | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    untrusted: bool = False,
) -> Found:
    """The feed at `url`, fetched (with a listed feed's `request` settings, their variables
    from `environ`) and parsed; a web page is `Refused`."""
    sends = sends_of(request, environ or {}) if request is not None else None
    async with feed_client(poller, untrusted=untrusted) as client:
        feed, _, _ = await read_url(client, url, origin, sends)
    if feed is None:
        raise Refused(f"{url} is a web page, not a feed: `monitor feeds add` finds its feeds")
    return feed
