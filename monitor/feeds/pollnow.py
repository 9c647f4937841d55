"""Poll-now's bookkeeping for the poller: one poll at a time per feed however many ask (its
loop and any number of poll-nows), and a feed's loop woken to sleep until the next poll a
poll-now scheduled."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from monitor.feeds.polltypes import PollResult
from monitor.kernel.console import Answer

T = TypeVar("T")


class PollNows:
    """The poll-nows under way, and the sleeps of the feeds' loops they can cut short."""

    def __init__(self) -> None:
        self._running: dict[tuple[str, str], asyncio.Future[Any]] = {}
        self._wakes: dict[str, asyncio.Event] = {}
        self._rescheduled: dict[str, float] = {}  # the delay a poll-now set, by feed

    async def once(self, key: tuple[str, str], poll: Callable[[], Awaitable[T]]) -> T:
        """`poll()`'s answer; a second ask with the same `key` while the first runs is given
        the first's. The poller's keys: `("poll", feed)` for a feed's poll, which its loop and
        its poll-nows all go through (never two at once, racing on its conditional-GET state
        and health counts); `("now", feed)` for a poll-now's answer."""
        running: asyncio.Future[T] | None = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(poll())
            self._running[key] = running
            running.add_done_callback(lambda _: self._running.pop(key, None))
        return await asyncio.shield(running)

    def reschedule(self, feed_id: str, delay_s: float) -> None:
        """Make the feed's loop sleep `delay_s` from now instead of what it sleeps."""
        self._rescheduled[feed_id] = delay_s
        self._wakes.setdefault(feed_id, asyncio.Event()).set()

    async def sleep(self, feed_id: str, stop: asyncio.Event, wait_s: float) -> bool:
        """Wait `wait_s` seconds (or what a poll-now sets meanwhile); True when `stop` came."""
        wake = self._wakes.setdefault(feed_id, asyncio.Event())
        while True:
            wake.clear()
            stopping = asyncio.ensure_future(stop.wait())
            woken = asyncio.ensure_future(wake.wait())
            try:
                await asyncio.wait(
                    {stopping, woken}, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                stopping.cancel()
                woken.cancel()
            if stop.is_set():
                return True
            if not wake.is_set():
                return False
            wait_s = self._rescheduled.pop(feed_id, wait_s)


def answer(feed_id: str, result: PollResult, next_ms: int | None, max_age_s: float) -> Answer:
    """Poll-now's answer: `{"feed", "result", "new", "error", "next_poll_ms", "items",
    "too_old", "max_age_s"}` (`too_old`: a first read's items older than max_age, kept back)."""
    failed = result.result not in ("ok", "not_modified")
    return {
        "feed": feed_id,
        "result": result.result,
        "new": result.new,
        "error": (result.reason or result.result) if failed else None,
        "next_poll_ms": next_ms,
        "items": result.items,
        "too_old": result.too_old,
        "max_age_s": max_age_s if result.too_old else None,
    }
