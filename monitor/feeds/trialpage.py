"""One page read for the console's watch test (`POST /-/watches/<id>/test` with a `url`): fetched
as the poller fetches an item's page (its client, limits, User-Agent, robots.txt) and its text
extracted as the full-text fetcher extracts it, in the `fulltext` worker pool with the config's
limits (`monitor.feeds.fulltext`).

The URL comes from a web client, not from feeds.yaml: it is judged as for a public origin
(`Client.untrusted`), so a loopback, private or unique-local address (the URL's own, a
redirect's, a name that resolves to one, at lookup or at connect time) is refused unless
`poller.allow_private` is set, and link-local and cloud metadata addresses are refused always.
"""

from __future__ import annotations

from typing import Final

from yarl import URL

from monitor.feeds.addresses import CONFIG_KEY
from monitor.feeds.client import Client
from monitor.feeds.extract import EXTRA_HINT, available
from monitor.feeds.fulltext import ACCEPT, PageFailed, extract_in, page_sandbox
from monitor.feeds.guard import guarded_session
from monitor.feeds.robots import Robots
from monitor.feeds.sandbox import Sandbox
from monitor.feeds.settings import FulltextConfig, PollerConfig
from monitor.kernel.errors import FeedFetchError

MAX_URL: Final = 2000


class PageUnread(Exception):
    """A page that could not be read for a test; the message says why (an address refused,
    robots.txt, an HTTP status, no text)."""


class PageReader:
    """`await reader(url)` -> (title, text) of the page at `url`; `PageUnread` when it cannot
    be read. Its worker pool starts with the first page; `close()` ends it."""

    def __init__(self, poller: PollerConfig, fulltext: FulltextConfig) -> None:
        self.poller = poller
        self.fulltext = fulltext
        self._sandbox: Sandbox | None = None

    async def __call__(self, url: str) -> tuple[str, str]:
        """The page's title and main text."""
        if len(url) > MAX_URL or not url.startswith(("http://", "https://")):
            raise PageUnread(f"not an http(s) URL of at most {MAX_URL} characters")
        if not available():
            raise PageUnread(f"pages cannot be read here: {EXTRA_HINT}")
        try:
            body, final = await self._fetch(url)
        except FeedFetchError as exc:
            raise PageUnread(str(exc)) from exc
        except ValueError as exc:  # not a URL aiohttp can fetch
            raise PageUnread(f"{url}: {exc}") from exc
        if self._sandbox is None:
            self._sandbox = page_sandbox(self.fulltext)
        try:
            page = await extract_in(self._sandbox, body, final, None)
        except PageFailed as exc:
            raise PageUnread(f"{url}: {exc} ({exc.result})") from exc
        if not page.text:
            raise PageUnread(f"{url}: no article text found on the page")
        return page.title, page.text

    async def _fetch(self, url: str) -> tuple[bytes, str]:
        async with guarded_session() as session:
            client = Client(session, self.poller)
            client.hint = CONFIG_KEY
            client.untrusted = True
            # before robots.txt is asked, so nothing is asked of a refused address
            await client.check(url, await client.guard(URL(url)))
            if not await Robots(client, client.user_agent).allowed(url):
                raise FeedFetchError(
                    f"{url}: robots.txt disallows it (the poller would not read it)"
                )
            fetched = await client.get(url, {"User-Agent": client.user_agent, "Accept": ACCEPT})
        if fetched.body is None:
            raise FeedFetchError(f"{url}: HTTP {fetched.status} {fetched.reason}".strip())
        return fetched.body, str(fetched.url)

    def close(self) -> None:
        """End the worker pool (if it started); call it in the event loop, at shutdown."""
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
