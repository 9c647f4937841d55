"""robots.txt, as RFC 9309 reads it, for the article pages the poller fetches for full text.

One robots.txt per origin (scheme, host, port), fetched with the same client and turns as
everything else and kept for an hour. A 2xx is parsed (urllib.robotparser, for the group that
names `monitor` or else `*`); a 4xx means no rules, so every page may be fetched; a 5xx, a
timeout or a network error means "unreachable", and then no page of that origin is fetched
until the next try, ten minutes later (the RFC's "assume complete disallow"). For a feed with a
`proxy:`, its pages' robots.txt is fetched through that proxy (and kept apart from a direct
fetch's: the proxy may reach what this machine cannot), with none of the feed's credentials.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final
from urllib.robotparser import RobotFileParser

import structlog
from yarl import URL

from monitor.feeds.client import Client
from monitor.kernel.errors import FeedFetchError

log = structlog.get_logger("monitor.robots")

AGENT: Final = "monitor"  # the product token robots.txt groups are matched against
KEEP_S: Final = 3600.0
UNREACHABLE_KEEP_S: Final = 600.0
MAX_ORIGINS: Final = 2048
MAX_ROBOTS_BYTES: Final = 500 * 1024  # the RFC: at least 500 KiB must be read


class Robots:
    """Whether robots.txt lets monitor fetch a URL (see the module docstring)."""

    def __init__(
        self, client: Client, user_agent: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.user_agent = user_agent
        self.clock = clock
        # (origin, proxy, untrusted) -> until when, the rules
        self._rules: dict[tuple[str, str | None, bool], tuple[float, RobotFileParser | bool]] = {}
        self._pending: dict[
            tuple[str, str | None, bool], asyncio.Future[RobotFileParser | bool]
        ] = {}

    async def allowed(
        self,
        url: str,
        feed_url: str | None = None,
        proxy: str | None = None,
        *,
        untrusted: bool = False,
    ) -> bool:
        """Whether `url` may be fetched; its robots.txt is fetched for `feed_url`'s sake (the
        address policy's origin), by default its own, through `proxy` if given, `untrusted`
        (a `public_only` feed's: see `Client.get`) if asked."""
        target = URL(url)
        origin = str(target.origin())
        rules = await self._rules_of((origin, proxy, untrusted), feed_url)
        if isinstance(rules, bool):
            return rules
        return rules.can_fetch(AGENT, url)

    async def _rules_of(
        self, key: tuple[str, str | None, bool], feed_url: str | None
    ) -> RobotFileParser | bool:
        kept = self._rules.get(key)
        if kept is not None and kept[0] > self.clock():
            return kept[1]
        # One fetch per origin at a time: the pages of an origin that ask meanwhile wait for it.
        task = self._pending.get(key)
        if task is None:
            task = self._pending[key] = asyncio.ensure_future(self._fetch_and_keep(key, feed_url))
            task.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(task)

    async def _fetch_and_keep(
        self, key: tuple[str, str | None, bool], feed_url: str | None
    ) -> RobotFileParser | bool:
        rules, keep_s = await self._fetch(key, feed_url)
        if len(self._rules) >= MAX_ORIGINS:
            self._rules.clear()  # simple and rare: they are fetched again when needed
        self._rules[key] = (self.clock() + keep_s, rules)
        return rules

    async def _fetch(
        self, key: tuple[str, str | None, bool], feed_url: str | None
    ) -> tuple[RobotFileParser | bool, float]:
        origin, proxy, untrusted = key
        try:
            fetched = await self.client.get(
                f"{origin}/robots.txt",
                {"User-Agent": self.user_agent, "Accept": "text/plain"},
                origin=feed_url,
                proxy=proxy,
                untrusted=untrusted,
            )
        except FeedFetchError as exc:
            log.info("robots_unreachable", origin=origin, reason=str(exc))
            return False, UNREACHABLE_KEEP_S
        if fetched.status >= 500:
            log.info("robots_unreachable", origin=origin, reason=f"HTTP {fetched.status}")
            return False, UNREACHABLE_KEEP_S
        if fetched.status >= 400 or fetched.body is None:
            return True, KEEP_S
        parser = RobotFileParser()
        text = fetched.body[:MAX_ROBOTS_BYTES].decode("utf-8", "replace")
        parser.parse(text.splitlines())
        return parser, KEEP_S
