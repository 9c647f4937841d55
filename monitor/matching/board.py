"""What the status page shows of the matcher: matches per watch per UTC day for a week, and
each watch's last match. The matcher counts, and the service seeds it at start from the stored
`matches` records. In memory, bounded by the days kept; no I/O."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

DAY_MS = 86_400_000
DAYS = 7


@dataclass(frozen=True, slots=True)
class WatchActivity:
    """One watch's matches per day (oldest first, today last) and its last match."""

    per_day: tuple[int, ...]
    last_ms: int | None


class MatchTally:
    """Matches per watch per UTC day, for the last `DAYS` days (see the module docstring)."""

    def __init__(self) -> None:
        self._days: dict[str, dict[int, int]] = {}
        self._last: dict[str, int] = {}

    def add(self, rule_ids: Iterable[str], at_ms: int) -> None:
        """Count one match of each rule id given (repeats count again) at `at_ms`."""
        day = at_ms // DAY_MS
        for rule_id in rule_ids:
            days = self._days.setdefault(rule_id, {})
            days[day] = days.get(day, 0) + 1
            if at_ms > self._last.get(rule_id, -1):
                self._last[rule_id] = at_ms
            for old in [d for d in days if d <= day - DAYS]:
                del days[old]

    def count_now(self, rule_ids: Iterable[str]) -> None:
        """Count one match of each rule id given, now."""
        self.add(rule_ids, int(time.time() * 1000))

    def active(self, now_ms: int) -> dict[str, WatchActivity]:
        """The activity of every rule matched in the last `DAYS` days, today included."""
        first = now_ms // DAY_MS - DAYS + 1
        busy = [r for r, days in self._days.items() if any(d >= first for d in days)]
        return self.activity(busy, now_ms)

    def activity(self, rule_ids: Iterable[str], now_ms: int) -> dict[str, WatchActivity]:
        """Each rule's matches over the last `DAYS` days, today included."""
        today = now_ms // DAY_MS
        found = {}
        for rule_id in rule_ids:
            days = self._days.get(rule_id, {})
            per_day = tuple(days.get(d, 0) for d in range(today - DAYS + 1, today + 1))
            found[rule_id] = WatchActivity(per_day, self._last.get(rule_id))
        return found
