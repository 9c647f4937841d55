"""Feed health, as a state per feed and the events it gives. Pure.

A feed is *failing* from its first failed poll until a poll succeeds; once it has failed for
longer than `failing_after`, that is one "failing" event. A feed with `expect_every` that polls
fine but has given no new item for that long is one "silent" event. A feed alerted either way
that comes back (a poll succeeds; a new item arrives) is one "recovered" event. Nothing is
repeated while the state lasts: `alerted` remembers what was said, and is stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

FAILING, SILENT, RECOVERED = "failing", "silent", "recovered"


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    """What is known of one feed's health (times in ms since the epoch)."""

    feed_id: str
    last_new_ms: int  # the last new item (or when watching began)
    failing_since_ms: int | None = None
    reason: str = ""  # the last failure's
    alerted: str = ""  # "", FAILING or SILENT: what the last event said
    alerted_since_ms: int = 0  # the `since` of that event: its episode


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthEvent:
    """One thing to tell the health channels about a feed."""

    feed_id: str
    kind: str  # FAILING, SILENT or RECOVERED
    since_ms: int  # failing since, silent since, or (recovered) when the trouble began
    at_ms: int
    reason: str = ""  # the failure's, for FAILING; what it recovered from, for RECOVERED

    @property
    def id(self) -> str:
        """Stable for one feed, kind and episode: a resend after a crash has the same id."""
        key = f"feed-health\0{self.feed_id}\0{self.kind}\0{self.since_ms}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


def observed(health: Health, *, ok: bool, new: int, reason: str, now_ms: int) -> Health:
    """The state after one poll."""
    if not ok:
        since = health.failing_since_ms if health.failing_since_ms is not None else now_ms
        return replace(health, failing_since_ms=since, reason=reason)
    return replace(
        health,
        failing_since_ms=None,
        last_new_ms=now_ms if new else health.last_new_ms,
    )


def due(
    health: Health, *, failing_after_s: float, expect_every_s: float | None, now_ms: int
) -> tuple[Health, HealthEvent | None]:
    """The event the state calls for now, if any, and the state once it is told."""
    failing = health.failing_since_ms
    silent_for_ms = now_ms - health.last_new_ms
    quiet = expect_every_s is not None and silent_for_ms >= expect_every_s * 1000
    if health.alerted == FAILING and failing is None:
        return _told(health, "", RECOVERED, now_ms, since=health.alerted_since_ms, reason=FAILING)
    if health.alerted == SILENT and not quiet:
        return _told(health, "", RECOVERED, now_ms, since=health.alerted_since_ms, reason=SILENT)
    if failing is not None and health.alerted != FAILING:
        if now_ms - failing >= failing_after_s * 1000:
            return _told(health, FAILING, FAILING, now_ms, since=failing, reason=health.reason)
        return health, None
    if failing is None and quiet and health.alerted == "":
        return _told(health, SILENT, SILENT, now_ms, since=health.last_new_ms, reason="")
    return health, None


def _told(
    health: Health, alerted: str, kind: str, now_ms: int, *, since: int, reason: str
) -> tuple[Health, HealthEvent]:
    event = HealthEvent(
        feed_id=health.feed_id, kind=kind, since_ms=since, at_ms=now_ms, reason=reason
    )
    return replace(health, alerted=alerted, alerted_since_ms=since), event
