"""When to poll a feed next: interval with jitter, backoff after failures, Retry-After. Pure."""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime

JITTER = 0.1  # +-10% of the interval, so feeds added together do not poll together forever


def next_delay(interval_s: float, jitter_draw: float) -> float:
    """Delay before the next poll after a success; `jitter_draw` is uniform in [0, 1)."""
    return interval_s * (1 - JITTER + 2 * JITTER * jitter_draw)


def backoff_delay(failures: int, interval_s: float, max_backoff_s: float) -> float:
    """Delay after `failures` failures in a row: the interval doubled per failure, capped."""
    if failures <= 0:
        return interval_s
    return float(min(max_backoff_s, interval_s * 2 ** min(failures - 1, 30)))


def retry_after_s(header: str | None, now: datetime) -> float | None:
    """Read a Retry-After header (seconds, or an HTTP date) as seconds from `now`."""
    if not header:
        return None
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None or now.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def first_delay(interval_s: float, jitter_draw: float) -> float:
    """Delay before a feed's first poll: spread over the first 10% of its interval."""
    return interval_s * JITTER * jitter_draw
