"""Full text: for feeds with `fulltext: true` (or `auto`, for items with little text), read each
new item's page and make its main text the article's `content`; the feed's own text stays in
`summary`.

Pages are fetched with the feeds' client and the hosts' turns, honour robots.txt unless the feed
says `fulltext_ignore_robots`, and are kept by canonical URL (`monitor.feeds.pages`), so a copy
of an item in another feed reads the page kept. A poll waits for its pages at most
`poller.timeout` in all: an item whose page fails, is refused or is late goes on with the feed's
text, counted in `monitor_fulltext_total{result}` and logged, and nothing waits longer. A page
(or its robots.txt) on an address the feed's origin may not reach (`monitor.feeds.addresses`)
is `refused` before anything is asked of that address or the kept pages are looked in.

A page's text is extracted in the `fulltext` worker pool (`monitor.feeds.sandbox`), never in the
event loop's threads: a page that takes longer than `fulltext.page_timeout` or more memory than
`fulltext.page_memory_bytes` fails (`timeout`, `too_large`) and its worker is killed, as it is
at the poll's deadline; when every worker is busy and the queue full, a page fails at once
(`busy`).

A feed's `proxy:` carries its pages and their robots.txt too; its credentials and custom
headers never do (they are for the feed's own URL).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import structlog
from yarl import URL

from monitor.feeds.client import Client
from monitor.feeds.extract import Page, extract_page
from monitor.feeds.pages import PageCache
from monitor.feeds.request import Unresolved, resolve
from monitor.feeds.robots import Robots
from monitor.feeds.sandbox import Sandbox, SandboxError
from monitor.feeds.settings import FulltextConfig
from monitor.feeds.spec import FeedSpec
from monitor.feeds.urls import url_key
from monitor.kernel.errors import FeedFetchError
from monitor.kernel.metrics import Metrics
from monitor.kernel.models import Article

log = structlog.get_logger("monitor.fulltext")

AUTO_MIN_CHARS: Final = 500  # `auto` reads the page of an item with less text than this
ACCEPT: Final = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
_HTML_TYPES: Final = ("text/html", "application/xhtml+xml")


class PageFailed(Exception):
    """A page that gave no text: `result` is the metric's label, the message the reason."""

    def __init__(self, result: str, reason: str) -> None:
        super().__init__(reason)
        self.result = result


def page_sandbox(config: FulltextConfig) -> Sandbox:
    """The worker pool that extracts pages' text, with the config's limits; its workers start
    with the first page."""
    preload = ["monitor.feeds.extract"]
    preload += [m for m in ("trafilatura", "cssselect") if importlib.util.find_spec(m)]
    return Sandbox(
        "fulltext",
        workers=config.workers,
        queue=config.queue,
        timeout_s=config.page_timeout_s,
        memory_bytes=config.page_memory_bytes,
        preload=preload,
    )


async def extract_in(sandbox: Sandbox, body: bytes, url: str, selector: str | None) -> Page:
    """The page's text, extracted in `sandbox`; PageFailed when that fails or runs away."""
    try:
        return await sandbox.run(extract_page, body, url, selector)
    except SandboxError as exc:
        raise PageFailed(exc.result, str(exc)) from exc


def wants_page(feed: FeedSpec, article: Article) -> bool:
    """Whether the poller should read this item's page."""
    if feed.fulltext == "false" or not article.url.startswith(("http://", "https://")):
        return False
    return feed.fulltext == "true" or len(article.summary) + len(article.content) < AUTO_MIN_CHARS


def with_page(article: Article, page: Page) -> Article:
    """The article with the page's text as its content and the feed's text (its summary and
    content, both kept) as its summary."""
    feed_text = " ".join(t for t in (article.summary, article.content) if t)
    return dataclasses.replace(
        article,
        summary=feed_text,
        content=page.text,
        title=article.title or page.title,
    )


class FullText:
    """Completes a poll's new articles with their pages' text (see the module docstring)."""

    def __init__(
        self,
        client: Client,
        cache: PageCache,
        metrics: Metrics,
        user_agent: str,
        sandbox: Sandbox,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.environ = environ or {}  # for the feeds' `proxy: ${VAR}`
        self.sandbox = sandbox
        self.cache = cache
        self.metrics = metrics
        self.user_agent = user_agent
        self.robots = Robots(client, user_agent)

    async def complete(self, feed: FeedSpec, articles: Sequence[Article]) -> list[Article]:
        """The articles, those that want it with their page's text; waits at most the poller's
        timeout in all, and never raises."""
        wanted = [a for a in articles if wants_page(feed, a)]
        if not wanted:
            return list(articles)
        tasks = {a.id: asyncio.create_task(self._read(feed, a)) for a in wanted}
        try:
            await asyncio.wait(tasks.values(), timeout=self.client.config.timeout_s)
        finally:  # the deadline, or the poll itself cancelled: no page is read on after it
            late = [t for t in tasks.values() if not t.done()]
            for unfinished in late:
                unfinished.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        out = []
        for article in articles:
            task = tasks.get(article.id)
            if task is None:
                out.append(article)
            elif task.cancelled():  # late: given up at the deadline
                self._count(feed, article, "timeout", "not read within the poll's timeout")
                out.append(article)
            else:  # done, perhaps just as the deadline came (counted by `_read`)
                page = task.result()
                out.append(with_page(article, page) if page else article)
        return out

    async def _read(self, feed: FeedSpec, article: Article) -> Page | None:
        try:
            page, result = await self._page(feed, article.url)
        except PageFailed as exc:
            self._count(feed, article, exc.result, str(exc))
            return None
        except Exception:  # one page's fault must not cost the poll its other items
            log.exception("fulltext_crashed", feed=feed.id, url=article.url)
            self.metrics.fulltext.labels("error").inc()
            return None
        self.metrics.fulltext.labels(result).inc()
        return page

    async def _page(self, feed: FeedSpec, url: str) -> tuple[Page, str]:
        try:  # the address policy for the feed's origin, before the cache or robots.txt
            guard = await self.client.guard(URL(feed.url), untrusted=feed.public_only)
            await self.client.check(url, guard)
        except FeedFetchError as exc:
            raise PageFailed("refused", str(exc)) from exc
        key = url_key(url)
        kept = await self.cache.get(key)
        if kept is not None:
            return kept, "cached"
        proxy = self._proxy_of(feed)
        untrusted = feed.public_only
        if not feed.fulltext_ignore_robots and not await self.robots.allowed(
            url, feed.url, proxy, untrusted=untrusted
        ):
            raise PageFailed("robots", "robots.txt disallows it")
        headers = {"User-Agent": self.user_agent, "Accept": ACCEPT}
        try:
            fetched = await self.client.get(
                url, headers, origin=feed.url, proxy=proxy, untrusted=untrusted
            )
        except FeedFetchError as exc:
            result = "timeout" if isinstance(exc.__cause__, TimeoutError) else "failed"
            if exc.result in ("too_large", "address_refused", "redirect_refused"):
                result = "too_large" if exc.result == "too_large" else "refused"
            raise PageFailed(result, str(exc)) from exc
        if fetched.body is None:
            raise PageFailed("failed", f"HTTP {fetched.status} {fetched.reason}".strip())
        kind = fetched.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if kind and kind not in _HTML_TYPES:
            raise PageFailed("not_html", f"not an HTML page ({kind})")
        page = await extract_in(
            self.sandbox, fetched.body, str(fetched.url), feed.fulltext_selector
        )
        if not page.text:
            raise PageFailed("empty", "no article text found on the page")
        await self.cache.put(key, page)
        return page, "fetched"

    def _proxy_of(self, feed: FeedSpec) -> str | None:
        """The feed's proxy URL, if it has one (its `${VAR}`s, checked when the feed itself was
        fetched, are set by now)."""
        if feed.request.proxy is None:
            return None
        try:
            return resolve(feed.request, self.environ).proxy
        except Unresolved as exc:
            raise PageFailed("failed", str(exc)) from exc

    def warm(self, feeds: Iterable[FeedSpec]) -> None:
        """Start the extraction workers if a feed reads pages (they take a second to start)."""
        if any(feed.fulltext != "false" for feed in feeds):
            self.sandbox.warm()

    def close(self) -> None:
        """Stop the extraction workers."""
        self.sandbox.close()

    def _count(self, feed: FeedSpec, article: Article, result: str, reason: str) -> None:
        self.metrics.fulltext.labels(result).inc()
        log.warning("fulltext_failed", feed=feed.id, url=article.url, result=result, reason=reason)
