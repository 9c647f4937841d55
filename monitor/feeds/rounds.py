"""Poll rounds: the polls of every feed told in one line, for a person watching the terminal.

Feeds poll on their own intervals, so a round is not a moment. A round opens with the first poll
that ends after the last summary, and closes when every enabled feed has been polled in it (at
the start, all feeds come due within the first tenth of their interval: the first summary
follows the first poll of the last feed), or `ROUND_MAX_S` after it opened, whichever comes
first: so at most one summary per feed interval while all is well, and at least one a minute
while anything is polled (a feed in long backoff does not hold the others' news back). A feed
that is not polled any more (410 Gone, disabled; another poller's) is not waited for.

The matches and alerts are those of the round's own articles: a process that matches and
delivers what it polls (`--role all`) tells the round once they have been through matching and
delivery (`settle`: the matcher, then the dispatcher, has come to the end of its log since the
round closed; `SETTLE_MAX_S` at most), so an alert comes before the line that counts it, never
after it. `run --once` closes its round after the pass has delivered.

    polled 4 feeds: 12 new, 3 matched, 1 alert; 1 failing (example.org: DNS lookup failed:
    no such name, next try 15:47 UTC)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime

from monitor.kernel.neterrors import printable
from monitor.kernel.text import span_words

ROUND_MAX_S = 60.0
SETTLE_MAX_S = 30.0  # the longest a round's line waits for its articles' matches and alerts
FAILING_NAMED = 3  # failing feeds named in the line; the others are counted


@dataclass(frozen=True, slots=True)
class Failing:
    """A feed whose latest poll failed: where (its host, or its id), why, and its next try."""

    feed: str
    where: str
    why: str
    next_at_s: float | None  # epoch seconds; None when there is none (`run --once`)
    no_next: str = "no next try in this run"  # what to say when there is none


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundSummary:
    """What one round did; `matched` and `alerts` None when this process does not match or
    deliver (another role does)."""

    feeds: int
    new: int
    failing: tuple[Failing, ...] = ()
    matched: int | None = None
    alerts: int | None = None


def plural(n: int, one: str, many: str | None = None) -> str:
    """`1 feed`, `2 feeds`."""
    return f"{n} {one if n == 1 else many or one + 's'}"


def when_words(at_s: float, now_s: float) -> str:
    """A next try as people read it: "in 4m, at 15:47 UTC" (seconds shown within a minute)."""
    at = datetime.fromtimestamp(at_s, UTC)
    clock = at.strftime("%H:%M:%S" if at_s - now_s < 60 else "%H:%M")
    return f"in {span_words(max(1.0, at_s - now_s))}, at {clock} UTC"


def next_try_words(at_s: float | None, now_s: float, none: str = "no next try in this run") -> str:
    """ "next try in 4m, at 15:47 UTC"; `none` when there is no next try (a single pass)."""
    return none if at_s is None else f"next try {when_words(at_s, now_s)}"


def round_words(summary: RoundSummary, now_s: float) -> str:
    """The round in one line (the module docstring's example)."""
    counts = [f"{summary.new} new"]
    if summary.matched is not None:
        counts.append(f"{summary.matched} matched")
    if summary.alerts is not None:
        counts.append(plural(summary.alerts, "alert"))
    line = f"polled {plural(summary.feeds, 'feed')}: {', '.join(counts)}"
    if not summary.failing:
        return line
    named = [
        f"{f.where}: {f.why}, {next_try_words(f.next_at_s, now_s, f.no_next)}"
        for f in summary.failing[:FAILING_NAMED]
    ]
    more = len(summary.failing) - FAILING_NAMED
    if more > 0:
        named.append(f"and {more} more")
    return f"{line}; {len(summary.failing)} failing ({'; '.join(named)})"


@dataclass
class _Open:
    opened_s: float
    new: int = 0
    polled: set[str] = field(default_factory=set)
    failing: dict[str, Failing] = field(default_factory=dict)


class Rounds:
    """Gathers polls into rounds (the module docstring) and hands each finished one to
    `report`; `totals` gives this process's matches and alerts so far (None: it has none);
    `settle(closed_at)` returns once what was published before `closed_at` (loop time) has been
    matched and delivered."""

    def __init__(
        self,
        report: Callable[[RoundSummary], None],
        *,
        totals: Callable[[], tuple[int, int]] | None = None,
        settle: Callable[[float], Awaitable[None]] | None = None,
        max_s: float = ROUND_MAX_S,
        settle_max_s: float = SETTLE_MAX_S,
    ) -> None:
        self.report = report
        self.totals = totals
        self.settle = settle
        self.max_s = max_s
        self.settle_max_s = settle_max_s
        self._round: _Open | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_totals = totals() if totals is not None else (0, 0)
        self._waiting: list[asyncio.Task[None]] = []  # rounds waiting to settle, oldest first

    def polled(
        self, feed: str, *, new: int, failing: Failing | None, expected: Collection[str] | None
    ) -> None:
        """One poll ended (`failing` when it failed); close the round when every feed in
        `expected` was polled in it (None: the caller closes it)."""
        loop = asyncio.get_running_loop()
        if self._round is None:
            self._round = _Open(opened_s=loop.time())
            if expected is not None:  # else its caller closes it, however long that takes
                self._timer = loop.call_later(self.max_s, self.close)
        self._round.new += new
        self._round.polled.add(feed)
        if failing is None:
            self._round.failing.pop(feed, None)
        else:
            self._round.failing[feed] = failing
        if expected is not None and all(f in self._round.polled for f in expected):
            self.close()

    def close(self) -> None:
        """End the open round, if any, and report it (once it has settled, with `settle`)."""
        current, self._round = self._round, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if current is None:
            return
        if self.settle is None:
            self._tell(current)
            return
        loop = asyncio.get_running_loop()
        self._waiting = [t for t in self._waiting if not t.done()]
        before = self._waiting[-1] if self._waiting else None
        task = loop.create_task(self._tell_settled(current, loop.time(), before), name="round")
        self._waiting.append(task)

    async def _tell_settled(
        self, current: _Open, closed_at: float, before: asyncio.Task[None] | None
    ) -> None:
        """Tell `current` once its articles settled (after the round before it: in order); told
        at once if cancelled (a shutdown)."""
        assert self.settle is not None  # noqa: S101 - close() chose this path by it
        try:
            if before is not None:
                await asyncio.wait([before])
            # From its close, not from the round before's line: lines never fall further behind.
            left_s = closed_at + self.settle_max_s - asyncio.get_running_loop().time()
            await asyncio.wait_for(self.settle(closed_at), max(0.0, left_s))
        except TimeoutError:
            pass  # told with what has settled so far: the line is never held back longer
        finally:
            self._tell(current)

    async def finish(self) -> None:
        """Close the open round and tell every round still waiting to settle, now."""
        self.close()
        waiting, self._waiting = self._waiting, []
        for task in waiting:  # oldest first, so the lines keep their order
            task.cancel()
            await asyncio.wait([task])

    def _tell(self, current: _Open) -> None:
        matched = alerts = None
        if self.totals is not None:
            now = self.totals()
            matched, alerts = (n - b for n, b in zip(now, self._last_totals, strict=True))
            self._last_totals = now
        self.report(
            RoundSummary(
                feeds=len(current.polled),
                new=current.new,
                failing=tuple(current.failing[f] for f in sorted(current.failing)),
                matched=matched,
                alerts=alerts,
            )
        )


def failing_entry(feed: str, host: str, why: str, next_at_s: float | None) -> Failing:
    """A `Failing`, its words made safe for one line."""
    return Failing(
        feed=feed, where=printable(host or feed, 120), why=printable(why), next_at_s=next_at_s
    )
