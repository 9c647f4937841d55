"""Each channel's circuit breaker: is the channel up, and when may it be tried again? Pure.

A channel is *down* after `down_after` failed sends in a row (retriable failures: timeouts,
refused connections, 5xx, 408, 429). While it is down nothing is sent to it but one *probe* at a
time, each after a growing wait (the delivery backoff, doubling up to its maximum, or longer when
the channel asked with `Retry-After`); meanwhile its alerts wait, held, in order. Only a probe's
failure pushes the next probe off: sends that were under way when the channel went down do not.
The first success brings it up: the waiting alerts go out, oldest first. A failure that retrying
cannot fix (another 4xx) says nothing about the channel being up, so it does not count.

Each process keeps its own breakers. On Kafka the waiting alerts of a channel are sent by the
process holding its flusher lease, which probes it; another dispatcher whose breaker is down,
once nothing waits for the channel anywhere and its own next probe is due, takes it as up
(`assume_up`) until a send of its own says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

UP, DOWN = "up", "down"


@dataclass(frozen=True, slots=True)
class Change:
    """A channel went down or came back (what the health notice says)."""

    channel: str
    state: str  # UP or DOWN
    since: float  # when the outage began (epoch seconds)
    at: float
    reason: str  # the last failure's


class Breaker:
    """One channel's state (see the module docstring). Times are epoch seconds."""

    def __init__(
        self,
        channel: str,
        *,
        down_after: int,
        backoff_s: float,
        max_backoff_s: float,
        max_asked_s: float = 3600.0,
    ) -> None:
        self.max_asked_s = max_asked_s  # the longest `Retry-After` taken at its word
        self.channel = channel
        self.down_after = max(1, down_after)
        self.backoff_s = backoff_s
        self.max_backoff_s = max(backoff_s, max_backoff_s)
        self.failures = 0  # retriable failures in a row
        self.down_since: float | None = None
        self.probe_at = 0.0
        self.probes = 0  # failed probes this outage
        self.reason = ""
        self.last_success: float | None = None
        self.probing = False  # a probe is out: no second one until it is answered

    @property
    def down(self) -> bool:
        """Whether the channel is marked down."""
        return self.down_since is not None

    def may_send(self, now: float) -> bool:
        """Up, or down and due for its next probe with none out."""
        return self.down_since is None or (now >= self.probe_at and not self.probing)

    def begin(self, now: float) -> bool:
        """Whether a send may go now; while down, it is the probe (call `answered` after it)."""
        if not self.may_send(now):
            return False
        self.probing = self.down_since is not None
        return True

    def answered(self) -> None:
        """The send `begin` allowed is over, however it ended."""
        self.probing = False

    def failed(self, reason: str, now: float, retry_after_s: float | None = None) -> Change | None:
        """A retriable failure; the change when it took the channel down."""
        self.failures += 1
        self.reason = reason
        if self.down_since is not None:
            if self.probing:  # the probe's answer: wait longer before the next
                self.probes += 1
                self.probe_at = now + self._wait(retry_after_s)
            return None
        if self.failures < self.down_after:
            return None
        self.down_since, self.probes = now, 0
        self.probe_at = now + self._wait(retry_after_s)
        return Change(self.channel, DOWN, now, now, reason)

    def succeeded(self, now: float) -> Change | None:
        """A delivery; the change when it brought the channel back."""
        self.failures = 0
        self.last_success = now
        since, self.down_since = self.down_since, None
        if since is None:
            return None
        return Change(self.channel, UP, since, now, self.reason)

    def assume_up(self, now: float) -> Change | None:
        """Nothing waits for the channel and a probe is due, but this process has nothing to
        probe with: take it as up (not as a success) until a send of its own says otherwise."""
        if self.down_since is None or not self.may_send(now):
            return None
        since, self.down_since, self.failures = self.down_since, None, 0
        return Change(self.channel, UP, since, now, self.reason)

    def _wait(self, asked_s: float | None) -> float:
        # The exponent is capped: 2.0 ** 1024 overflows, after ~17 h of probes a minute apart.
        wait = min(self.max_backoff_s, self.backoff_s * 2.0 ** min(self.probes, 60))
        return wait if asked_s is None else max(wait, min(asked_s, self.max_asked_s))


class Breakers:
    """The breakers of every channel a process sends to, made on first use."""

    def __init__(self, make: Callable[[str], Breaker]) -> None:
        self._make = make
        self._by_channel: dict[str, Breaker] = {}

    def __getitem__(self, channel: str) -> Breaker:
        breaker = self._by_channel.get(channel)
        if breaker is None:
            breaker = self._by_channel[channel] = self._make(channel)
        return breaker

    def get(self, channel: str) -> Breaker | None:
        """The channel's breaker, if anything was sent to it yet."""
        return self._by_channel.get(channel)

    def __iter__(self) -> Iterator[Breaker]:
        return iter(list(self._by_channel.values()))
