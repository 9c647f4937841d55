"""What the status page shows of the feeds: each feed's last poll (when, result, error,
items), its failure streak and when it is polled next. The poller writes it; in memory, one
entry a feed, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """One feed as its poller last saw it."""

    feed_id: str
    last_poll_ms: int | None = None
    result: str = ""  # ok, not_modified, http_error, parse_error, ... ("" before the first)
    error: str = ""  # the last failure's reason (kept after a recovery, with its time)
    error_ms: int | None = None
    items: int | None = None  # in the last document read
    new_total: int = 0  # new items published since the service started
    failures: int = 0  # polls failed in a row
    next_poll_ms: int | None = None

    @property
    def failing(self) -> bool:
        """Whether its last poll failed."""
        return self.result not in ("", "ok", "not_modified")


class FeedBoard:
    """Feeds' polling status (see the module docstring)."""

    def __init__(self) -> None:
        self._feeds: dict[str, FeedStatus] = {}

    def polled(
        self, feed_id: str, *, result: str, reason: str, items: int | None, new: int, at_ms: int
    ) -> None:
        """Record one poll's outcome."""
        old = self._feeds.get(feed_id, FeedStatus(feed_id))
        failed = result not in ("ok", "not_modified")
        self._feeds[feed_id] = replace(
            old,
            last_poll_ms=at_ms,
            result=result,
            error=reason if failed else old.error,
            error_ms=at_ms if failed else old.error_ms,
            items=items if items is not None else old.items,
            new_total=old.new_total + new,
        )

    def scheduled(self, feed_id: str, *, next_ms: int, failures: int) -> None:
        """Record when the feed is polled next, and its failure streak."""
        old = self._feeds.get(feed_id, FeedStatus(feed_id))
        self._feeds[feed_id] = replace(old, next_poll_ms=next_ms, failures=failures)

    def keep_only(self, feed_ids: Iterable[str]) -> None:
        """Forget feeds no longer polled."""
        wanted = set(feed_ids)
        for gone in [f for f in self._feeds if f not in wanted]:
            del self._feeds[gone]

    def snapshot(self) -> dict[str, FeedStatus]:
        """Every feed's status, by id."""
        return dict(self._feeds)
