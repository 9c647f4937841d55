"""What the poller's parts share: a poll's result, the leases a poller polls by, and what is
told every poll's outcome."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from monitor.feeds.spec import FeedSpec
from monitor.kernel.neterrors import NetProblem


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll did; `retry_in_s` overrides the schedule (Retry-After)."""

    result: str
    new: int = 0
    retry_in_s: float | None = None
    reason: str = ""  # a failure's, as logged
    items: int | None = None  # in the document read (None when none was)
    unreachable: bool = False  # the host's name did not resolve, or it refused the connection
    problem: NetProblem | None = None  # a network or HTTP failure, worded (kernel.neterrors)
    failures: int = 0  # in a row, this one included, when the poll failed
    too_old: int = 0  # items of a first read older than max_age: recorded, not published


class Leases(Protocol):
    """Which feeds this poller owns (all of them, unless pollers share the list)."""

    def owns(self, feed_id: str) -> bool:
        """Whether this poller polls `feed_id` now."""
        ...


class AllFeeds:
    """The one poller owns every feed."""

    def owns(self, feed_id: str) -> bool:
        """Always."""
        return True


class PollWatcher(Protocol):
    """What is told every poll's outcome (feed health, `monitor.alerts.feedwatch`)."""

    def set_feeds(self, feeds: Mapping[str, FeedSpec]) -> None:
        """The feeds to watch, after each reload."""

    def observe(self, feed: FeedSpec, result: str, new: int, reason: str) -> None:
        """One poll's outcome."""
