"""Each feed's first poll: an offline machine is told so in one line, and at once.

A feed's first poll comes within the first tenth of its interval (its spread keeps a long feed
list from being polled all at one moment): with 5 and 10 minute feeds the last first poll may
come a minute after the start. When a first poll finds its host unreachable (no DNS, no
connection) and no feed has been reached yet, the feeds not polled yet are polled at once: on an
offline machine (or one behind a proxy) every first poll fails within seconds, and the one
`feeds_unreachable` line says so then, not after the last feed's turn. One feed reached and the
others keep their spread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import structlog

from monitor.kernel.text import span_words

log = structlog.get_logger("monitor.poller")


class FirstPolls:
    """The first poll of each feed: whether its host was reachable, and the hint when none was."""

    def __init__(self) -> None:
        self._delays: dict[str, float | None] = {}  # feed -> its retry delay if unreachable
        # Set while no first poll has reached its host and one has failed to: the other feeds'
        # first polls come now.
        self._hurry = asyncio.Event()

    async def wait(self, stop: asyncio.Event, delay_s: float) -> bool:
        """Wait out a feed's first delay, cut short when a first poll found its host unreachable
        (and none reached); return whether `stop` was set."""
        stopping = asyncio.ensure_future(stop.wait())
        hurrying = asyncio.ensure_future(self._hurry.wait())
        try:
            await asyncio.wait(
                {stopping, hurrying}, timeout=max(0.0, delay_s), return_when="FIRST_COMPLETED"
            )
        finally:
            stopping.cancel()
            hurrying.cancel()
        return stop.is_set()

    def polled(
        self, feed_id: str, unreachable_retry_s: float | None, feeds: Collection[str]
    ) -> None:
        """Note a poll of `feed_id` (`unreachable_retry_s`: its host was not reached, and it is
        tried again in that long); when the first polls of all `feeds` found their hosts
        unreachable (offline, or behind a proxy), say so once."""
        if feed_id in self._delays or not feeds:
            return
        self._delays[feed_id] = unreachable_retry_s
        if None not in self._delays.values():  # no host reached so far: ask the others now
            self._hurry.set()
        if all(f in self._delays for f in feeds):
            self._hurry.clear()  # feeds a reload adds later keep their spread
        delays = [self._delays.get(f) for f in feeds]
        known = [d for d in delays if d is not None]
        if len(known) < len(delays):  # a feed not polled yet, or one that was reached
            return
        retry_s = min(known)
        detail = (
            f"none of the {len(delays)} feeds can be reached (their names do not resolve "
            f"or their hosts refuse the connection): is this machine offline, or behind a proxy "
            f"(give the feeds `proxy:` in feeds.yaml)? "
            f"Each is tried again, the first in {span_words(max(1.0, retry_s))}. `make demo` (or "
            f"`monitor demo`) shows the monitor at work on sample feeds, offline"
        )
        log.warning("feeds_unreachable", feeds=len(delays), detail=detail, message=detail)
