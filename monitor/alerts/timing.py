"""When a channel's held alerts go out: digests (every N, or at wall-clock times in a time
zone) and quiet hours. Pure: every function takes the time it is asked about.

Times of day are wall-clock times in the channel's zone (zoneinfo), so "07:00 Europe/Berlin"
is 06:00 UTC in summer and in winter, whatever night the clocks change. A time that does not
exist on a day (02:30 on the night clocks go forward) is read with the offset before the change,
so it falls an hour later on the clock; an ambiguous one (the night they go back) is the first.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.kernel.checks import parse_duration

MAX_EVERY_S = 7 * 86400.0  # held alerts wait no longer than this for a digest
_CLOCK_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestSchedule:
    """`digest: {every: 1h}` (on multiples of the period since the epoch) or
    `digest: {at: ["08:00", "17:00"], tz: Europe/Berlin}`."""

    every_s: float | None = None
    at: tuple[time, ...] = ()
    tz: str = "UTC"


@dataclass(frozen=True, slots=True, kw_only=True)
class QuietHours:
    """`quiet: {from: "22:00", to: "07:00", tz: Europe/Berlin, except: [high]}`."""

    start: time
    end: time
    tz: str = "UTC"
    except_severities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Batching:
    """How a channel holds alerts back: a digest, quiet hours, both or neither."""

    digest: DigestSchedule | None = None
    quiet: QuietHours | None = None


def parse_clock(value: object) -> time:
    """ "HH:MM" (24-hour) as a time; ValueError otherwise."""
    m = _CLOCK_RE.match(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"{value!r} is not a time of day (write it like 07:00 or 22:30)")
    return time(int(m[1]), int(m[2]))


def parse_zone(value: object) -> str:
    """An IANA time zone name that zoneinfo knows; ValueError otherwise."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{value!r} is not a time zone name (like Europe/Berlin or UTC)")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


def parse_digest(spec: dict[str, object]) -> DigestSchedule:
    """A `digest:` mapping (already checked for unknown keys); ValueError names what is wrong."""
    has_every, has_at = "every" in spec, "at" in spec
    if has_every == has_at:
        raise ValueError("digest needs either `every` or `at`")
    tz = parse_zone(spec.get("tz", "UTC"))
    if has_every:
        every_s = parse_duration(spec["every"])
        if not 1 <= every_s <= MAX_EVERY_S:
            raise ValueError(f"digest.every must be from 1s to 7d, not {spec['every']!r}")
        return DigestSchedule(every_s=every_s, tz=tz)
    times = spec["at"]
    if not isinstance(times, list) or not times:
        raise ValueError('digest.at must be a list of times, like ["08:00", "17:00"]')
    return DigestSchedule(at=tuple(sorted({parse_clock(t) for t in times})), tz=tz)


def parse_quiet(spec: dict[str, object]) -> QuietHours:
    """A `quiet:` mapping; ValueError names what is wrong."""
    if "from" not in spec or "to" not in spec:
        raise ValueError("quiet needs `from` and `to`")
    start, end = parse_clock(spec["from"]), parse_clock(spec["to"])
    if start == end:
        raise ValueError("quiet hours need `from` and `to` to differ")
    severities = spec.get("except", [])
    if not isinstance(severities, list) or not all(isinstance(s, str) for s in severities):
        raise ValueError("quiet.except must be a list of severities, like [high]")
    return QuietHours(
        start=start,
        end=end,
        tz=parse_zone(spec.get("tz", "UTC")),
        except_severities=tuple(severities),
    )


def _wall(day: datetime, at: time, zone: ZoneInfo) -> datetime:
    """`at` on the local date of `day`, as an aware UTC time."""
    return datetime.combine(day.date(), at, tzinfo=zone).astimezone(UTC)


def next_digest(schedule: DigestSchedule, now: datetime) -> datetime:
    """The first digest time after `now` (aware)."""
    if schedule.every_s is not None:
        period = schedule.every_s
        return datetime.fromtimestamp(math.floor(now.timestamp() / period + 1) * period, UTC)
    zone = ZoneInfo(schedule.tz)
    local = now.astimezone(zone)
    for days in range(3):
        day = local + timedelta(days=days)
        for at in schedule.at:
            when = _wall(day, at, zone)
            if when > now:
                return when
    raise AssertionError("unreachable: a listed time falls within any three days")


def quiet_until(quiet: QuietHours, now: datetime) -> datetime | None:
    """The end of the quiet window `now` is in (aware UTC), or None when it is in none."""
    zone = ZoneInfo(quiet.tz)
    local = now.astimezone(zone)
    for back in (1, 0):  # a window that began yesterday evening, or today
        day = local - timedelta(days=back)
        start = _wall(day, quiet.start, zone)
        end_day = day if quiet.end > quiet.start else day + timedelta(days=1)
        end = _wall(end_day, quiet.end, zone)
        if start <= now < end:
            return end
    return None
