"""A new feed's baseline: its first poll publishes only the items newer than `max_age`.

A feed added today carries its last weeks of items; publishing them all would alert on year-old
news. So a feed's first read (its state has no `baselined_ms`: no poll ever read its items)
records every item as seen but publishes only those published within `max_age`
(`poller.max_age:`, 2 days unless set; a feed's own `max_age:` wins). An item without a date,
or with one in the future, counts as new: nothing says it is old. Later polls publish every
unseen item whatever its date, so an outage longer than `max_age` loses nothing. The mark is
kept in the feed's state row (state.db, on either bus), which is never pruned, unlike the
remembered items (forgotten after 30 days): a feed down for 40 days is not new on its return.

Pure: no I/O; `now` is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from monitor.kernel.models import Article


def split_by_age(
    articles: Sequence[Article], now: datetime, max_age_s: float
) -> tuple[list[Article], list[Article]]:
    """The articles published within `max_age_s` of `now` (or undated), and the older ones."""
    cutoff = now - timedelta(seconds=max_age_s)
    fresh: list[Article] = []
    old: list[Article] = []
    for article in articles:
        (old if _before(article.published, cutoff) else fresh).append(article)
    return fresh, old


def _before(published: datetime | None, cutoff: datetime) -> bool:
    if published is None:
        return False
    if published.tzinfo is None:  # a date without a zone is read as UTC, as the parser does
        published = published.replace(tzinfo=UTC)
    return published < cutoff
