"""A new feed whose dates lie: year 9999, 1970, unparsable, timezone games. Its first poll never
crashes; an item is withheld only when its date, read in UTC, is past `max_age`."""

from __future__ import annotations

from tests.feeds.test_baseline import Rig, ago, dated_rss, rig

__all__ = ["rig"]  # the fixture, shared

ITEMS = [
    ("year 9999", "Fri, 31 Dec 9999 23:59:59 GMT"),
    ("year 1970", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ("year 0", "Mon, 01 Jan 0000 00:00:00 GMT"),
    ("unparsable", "yesterday-ish, maybe"),
    ("empty date", ""),
    ("day 32", "Sun, 32 Dec 2026 10:00:00 GMT"),
    ("plus 14 hours", ago(hours=1).replace("GMT", "+1400")),  # 15 h ago in UTC: new
    ("minus 12 hours, old", ago(days=2, hours=13).replace("GMT", "-1200")),  # 2d 1h ago: old
    ("huge offset", ago(hours=1).replace("GMT", "+9999")),  # either way, never a crash
]
WITHHELD = {"year 1970", "minus 12 hours, old"}


async def test_absurd_dates_do_not_break_the_first_poll(rig: Rig) -> None:
    """The poll succeeds; 1970 and an old date in a far zone are withheld, the rest (future,
    unreadable, empty, shifted but recent) count as new and are published."""
    rig.server.feeds["new"] = dated_rss(*ITEMS)
    result = await rig.poller.poll(rig.feed())
    assert "ok" == result.result, result.reason
    published = await rig.titles()
    assert {t for t, _ in ITEMS} - published >= WITHHELD
    assert published >= {"year 9999", "unparsable", "empty date", "plus 14 hours"}
    assert len(ITEMS) == len(published) + rig.too_old()
