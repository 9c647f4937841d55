"""The wall clock that digests, quiet hours and throttle periods are timed by.

It is `time.time()`, unless the environment names a clock file (`MONITOR_CLOCK_FILE`, for
tests that must pass an evening, a night or a change of daylight saving time in seconds): then
the time is the ISO 8601 instant the file holds, plus the seconds elapsed since it was written.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

CLOCK_FILE_ENV = "MONITOR_CLOCK_FILE"


class Clock:
    """Seconds since the epoch, now."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._read: tuple[float, float] | None = None  # (mtime, the instant the file holds)

    @classmethod
    def from_environ(cls) -> Clock:
        """The system clock, or the clock file `MONITOR_CLOCK_FILE` names."""
        name = os.environ.get(CLOCK_FILE_ENV)
        return cls(Path(name)) if name else cls()

    def __call__(self) -> float:
        if self.path is None:
            return time.time()
        mtime = self.path.stat().st_mtime
        if self._read is None or self._read[0] != mtime:
            instant = datetime.fromisoformat(self.path.read_text().strip()).timestamp()
            self._read = (mtime, instant)
        _, instant = self._read
        return instant + max(0.0, time.time() - mtime)

    def now(self) -> datetime:
        """The time as an aware UTC datetime."""
        return datetime.fromtimestamp(self(), UTC)


def set_clock_file(path: Path, when: datetime) -> None:
    """Move a clock file to `when` (tests)."""
    path.write_text(when.isoformat())
    now = time.time_ns()  # the file's time is when the clock stood at `when`
    os.utime(path, ns=(now, now))
