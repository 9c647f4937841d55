"""Politeness towards each host: at most `per_host` requests at once, and at least `delay_s`
between the starts of two requests to it. Feeds, article pages and robots.txt share the turns,
so a site's feed and its pages together never exceed what `poller.per_host` and
`poller.host_delay` allow."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from yarl import URL

MAX_IDLE_HOSTS = 4096  # hosts remembered while idle; past it, idle ones are forgotten


class _Host:
    __slots__ = ("lock", "next_start", "slots", "users")

    def __init__(self, per_host: int) -> None:
        self.slots = asyncio.Semaphore(per_host)
        self.lock = asyncio.Lock()  # one request at a time waits for its start
        self.next_start = 0.0
        self.users = 0


class Politeness:
    """The turns of every host (see the module docstring)."""

    def __init__(
        self, per_host: int, delay_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_host = per_host
        self.delay_s = delay_s
        self.clock = clock
        self._hosts: dict[tuple[str, int | None], _Host] = {}

    @asynccontextmanager
    async def turn(self, url: URL) -> AsyncIterator[None]:
        """Wait for the host's turn, and hold one of its slots until the block ends."""
        key = (url.host or "", url.port)
        host = self._hosts.get(key)
        if host is None:
            self._forget_idle()
            host = self._hosts[key] = _Host(self.per_host)
        host.users += 1
        try:
            async with host.slots:
                async with host.lock:
                    wait = host.next_start - self.clock()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    host.next_start = self.clock() + self.delay_s
                yield
        finally:
            host.users -= 1

    def _forget_idle(self) -> None:
        if len(self._hosts) < MAX_IDLE_HOSTS:
            return
        now = self.clock()
        for key in [k for k, h in self._hosts.items() if not h.users and h.next_start <= now]:
            del self._hosts[key]
