"""Digest times and quiet hours, on wall clocks in time zones, across changes of daylight
saving time (Europe/Berlin: clocks go back at 03:00 on 2026-10-25, forward at 02:00 on
2026-03-29)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from monitor.alerts.timing import (
    DigestSchedule,
    QuietHours,
    next_digest,
    parse_digest,
    parse_quiet,
    quiet_until,
)

BERLIN_NIGHT = QuietHours(start=time(22, 0), end=time(7, 0), tz="Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (utc(2026, 10, 24, 19, 59), None),  # 21:59 CEST: not yet
        (utc(2026, 10, 24, 20, 0), utc(2026, 10, 25, 6, 0)),  # 22:00 CEST -> 07:00 CET
        (utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 6, 0)),  # 02:30 CET, after the change
        (utc(2026, 10, 25, 5, 59), utc(2026, 10, 25, 6, 0)),
        (utc(2026, 10, 25, 6, 0), None),  # 07:00 CET: over (a 10-hour night)
        (utc(2026, 3, 28, 21, 0), utc(2026, 3, 29, 5, 0)),  # 22:00 CET -> 07:00 CEST: 8 hours
        (utc(2026, 3, 29, 4, 59), utc(2026, 3, 29, 5, 0)),
        (utc(2026, 7, 1, 12, 0), None),
    ],
)
def test_quiet_hours_follow_the_wall_clock_across_dst(
    now: datetime, until: datetime | None
) -> None:
    """22:00 to 07:00 in Berlin ends at 07:00 local time on the nights the clocks change."""
    assert until == quiet_until(BERLIN_NIGHT, now)


def test_quiet_hours_within_one_day() -> None:
    """A window that does not cross midnight (12:00 to 13:30 UTC)."""
    lunch = QuietHours(start=time(12, 0), end=time(13, 30))
    assert utc(2026, 1, 5, 13, 30) == quiet_until(lunch, utc(2026, 1, 5, 12, 10))
    assert quiet_until(lunch, utc(2026, 1, 5, 13, 30)) is None
    assert quiet_until(lunch, utc(2026, 1, 5, 11, 59)) is None


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (utc(2026, 10, 24, 5, 0), utc(2026, 10, 24, 6, 0)),  # 08:00 CEST
        (utc(2026, 10, 24, 6, 0), utc(2026, 10, 24, 15, 0)),  # exactly 08:00: the next one
        (utc(2026, 10, 24, 16, 0), utc(2026, 10, 25, 7, 0)),  # 08:00 CET, the day after
        (utc(2026, 3, 28, 17, 0), utc(2026, 3, 29, 6, 0)),  # 08:00 CEST after the change
    ],
)
def test_digest_at_wall_clock_times(now: datetime, due: datetime) -> None:
    """`at: [08:00, 17:00]` in Berlin, whatever the offset that day."""
    schedule = parse_digest({"at": ["17:00", "08:00"], "tz": "Europe/Berlin"})
    assert due == next_digest(schedule, now)


def test_digest_every_period_falls_on_its_multiples() -> None:
    """`every: 1h` goes out on the hour; a time exactly on it waits for the next."""
    hourly = DigestSchedule(every_s=3600)
    assert utc(2026, 1, 1, 11, 0) == next_digest(hourly, utc(2026, 1, 1, 10, 17, 3))
    assert utc(2026, 1, 1, 11, 0) == next_digest(hourly, utc(2026, 1, 1, 10, 0))


def test_a_time_that_does_not_exist_goes_out_an_hour_later_on_the_clock() -> None:
    """02:30 on 2026-03-29 does not exist in Berlin: it is read at the winter offset."""
    schedule = parse_digest({"at": ["02:30"], "tz": "Europe/Berlin"})
    assert utc(2026, 3, 29, 1, 30) == next_digest(schedule, utc(2026, 3, 29, 0, 0))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "either `every` or `at`"),
        ({"every": "1h", "at": ["08:00"]}, "either `every` or `at`"),
        ({"at": ["8am"]}, "is not a time of day"),
        ({"at": []}, "must be a list of times"),
        ({"every": "soon"}, "is not a duration"),
        ({"every": "1h", "tz": "Mars/Olympus"}, "unknown time zone"),
        ({"every": "8d"}, "from 1s to 7d"),
        ({"every": 0.5}, "from 1s to 7d"),
    ],
)
def test_bad_digests_are_named(spec: dict[str, object], message: str) -> None:
    """Each mistake in a digest says what is wrong."""
    with pytest.raises(ValueError, match=message):
        parse_digest(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"from": "22:00"}, "needs `from` and `to`"),
        ({"from": "22:00", "to": "22:00"}, "to differ"),
        ({"from": "25:00", "to": "07:00"}, "is not a time of day"),
        ({"from": "22:00", "to": "07:00", "except": "high"}, "list of severities"),
    ],
)
def test_bad_quiet_hours_are_named(spec: dict[str, object], message: str) -> None:
    """Each mistake in quiet hours says what is wrong."""
    with pytest.raises(ValueError, match=message):
        parse_quiet(spec)
