"""Sending to a channel: the one loop of attempts that every sender goes through (the
dispatcher, the flusher's digests, the alerts that waited for their channel, dead letters sent
again, feed-health and channel-health alerts), and the dead letter for what it could not send.

An attempt goes only when the channel's breaker lets it (`monitor.alerts.breaker`: while the
channel is down, one probe at a time). A failure that retrying cannot fix (not retriable: a 4xx
other than 408 and 429) ends the loop at once; a retriable one counts on the breaker and is tried
again after the backoff, or what the channel asked for (429 `Retry-After`, up to
MAX_RETRY_AFTER_S), until the attempts are spent or the breaker says wait. Each sender decides
what an ending means for it (held, dead-lettered, tried again later): `Outcome.ended` says which.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from monitor.alerts.breaker import Breaker, Change
from monitor.alerts.channels.base import Sender
from monitor.alerts.settings import DeliveryConfig
from monitor.bus.base import DLQ, Bus
from monitor.kernel.errors import DeliveryError
from monitor.kernel.metrics import Metrics
from monitor.kernel.models import Alert
from monitor.kernel.redact import redact
from monitor.kernel.waiting import sleep_or_stop

# How the attempts ended.
DELIVERED = "delivered"
REFUSED = "refused"  # a failure that retrying cannot fix
CRASHED = "crashed"  # the sender raised something other than a DeliveryError: a bug
FAILED = "failed"  # retriable failures until the attempts were spent or the breaker said wait
BLOCKED = "blocked"  # the breaker let no attempt go (`attempts` were made before)
STOPPED = "stopped"  # a shutdown cut the backoff short
LOST = "lost"  # no longer this process's to send (its claim lapsed)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How sending ended after `attempts` sends; the last failure's `reason`, and whether it
    could pass by sending again later; `error` the exception behind it; `took_s` how long the
    last send took."""

    ended: str
    attempts: int
    reason: str = ""
    retriable: bool = True
    error: BaseException | None = None
    took_s: float = 0.0

    @property
    def delivered(self) -> bool:
        """Whether the channel took it."""
        return self.ended == DELIVERED


def _tell_nobody(_: Change) -> None:
    pass


def _untimed(_: float) -> None:
    pass


def _quiet(attempt: int, reason: str, delay_s: float) -> None:
    pass


async def send_with_retries(
    send: Callable[[], Awaitable[None]],
    delivery: DeliveryConfig,
    *,
    attempts: int | None = None,
    breaker: Breaker | None = None,
    clock: Callable[[], float] = time.time,
    tell: Callable[[Change], None] = _tell_nobody,
    stop: asyncio.Event | None = None,
    ours: Callable[[], Awaitable[bool]] | None = None,
    timed: Callable[[float], None] = _untimed,
    retrying: Callable[[int, str, float], None] = _quiet,
    crashed: Callable[[int], None] | None = None,
    ended: Callable[[Outcome], Awaitable[None]] | None = None,
) -> Outcome:
    """Call `send` until it succeeds, fails for good, or `attempts` (`delivery.attempts`) are
    spent, waiting the backoff (or what the channel asked) between attempts.

    `breaker`: the channel's, asked before each attempt and told how each ended (changes go to
    `tell`); without one (dead letters sent again, health alerts) only the attempts bound it.
    `stop`: cuts the backoff short (STOPPED). `ours`: asked before each attempt whether this
    process may still send (LOST if not). `timed`: each failed send's duration. `retrying`:
    told (attempt, reason, delay) before each backoff. `crashed`: called in the `except` of a
    sender's bug (to log it), which ends the loop as CRASHED; without it the exception
    propagates. `ended`: awaited with a REFUSED, CRASHED or FAILED outcome before the send is
    answered on the breaker (a probe still out: no other send probes the channel meanwhile).
    """
    reason, retriable = "", True
    tries = delivery.attempts if attempts is None else attempts
    breaker = breaker or Breaker("", down_after=sys.maxsize, backoff_s=0.0, max_backoff_s=0.0)
    for attempt in range(1, tries + 1):
        if ours is not None and not await ours():
            return Outcome(LOST, attempt - 1, reason, retriable)
        if not breaker.begin(clock()):
            return Outcome(BLOCKED, attempt - 1, reason, retriable)
        started = time.perf_counter()
        try:
            await send()
        except DeliveryError as exc:
            timed(time.perf_counter() - started)
            reason, retriable = str(exc), exc.retriable
            if not exc.retriable:
                return await _end(ended, Outcome(REFUSED, attempt, reason, False, exc))
            _tell(tell, breaker.failed(reason, clock(), exc.retry_after_s))
            if attempt == tries or not breaker.may_send(clock()):
                return await _end(ended, Outcome(FAILED, attempt, reason, True, exc))
            delay = delivery.delay_s(attempt, exc.retry_after_s)
            retrying(attempt, reason, delay)
            if await _back_off(stop, delay):
                return Outcome(STOPPED, attempt, reason, True, exc)
            continue
        except Exception as exc:
            if crashed is None:
                raise
            crashed(attempt)  # here, in the except: the log has the traceback
            why = f"{type(exc).__name__}: {exc}"
            return await _end(ended, Outcome(CRASHED, attempt, why, False, exc))
        finally:
            breaker.answered()
        took_s = time.perf_counter() - started
        _tell(tell, breaker.succeeded(clock()))
        return Outcome(DELIVERED, attempt, took_s=took_s)
    return Outcome(FAILED, tries, reason, retriable)


def _tell(tell: Callable[[Change], None], change: Change | None) -> None:
    if change is not None:
        tell(change)


async def _back_off(stop: asyncio.Event | None, delay_s: float) -> bool:
    """Wait `delay_s`; whether `stop` cut it short (no `stop`: nothing does)."""
    if stop is None:
        await asyncio.sleep(delay_s)
        return False
    return await sleep_or_stop(stop, delay_s)


async def _end(ended: Callable[[Outcome], Awaitable[None]] | None, outcome: Outcome) -> Outcome:
    if ended is not None:
        await ended(outcome)
    return outcome


async def dead_letter(
    bus: Bus,
    metrics: Metrics,
    key: str,
    body: dict[str, object],
    reason: str,
    channel: str,
    *,
    retriable: bool = True,
) -> None:
    """Put what could not be delivered in `alerts.dlq`, with the reason and the time.
    `retriable`: whether sending again could work (a letter that says no is not redelivered
    by itself when its channel comes back)."""
    body = {
        **body,
        "reason": redact(reason),
        "failed_at": datetime.now(UTC).isoformat(),
        "retriable": retriable,
    }
    await bus.publish(DLQ, [(key, json.dumps(body, ensure_ascii=False).encode())])
    metrics.dlq_size.labels(channel).inc()


async def send_or_dead_letter(
    sender: Sender, alert: Alert, delivery: DeliveryConfig, bus: Bus, metrics: Metrics
) -> Outcome:
    """Send a health alert with the retries; counted delivered, or dead-lettered and counted."""
    outcome = await send_with_retries(partial(sender.send, alert), delivery)
    if outcome.delivered:
        metrics.alerts.labels(alert.channel, "delivered").inc()
        return outcome
    body: dict[str, object] = {"alert": alert.to_dict(), "attempts": outcome.attempts}
    await dead_letter(
        bus, metrics, alert.id, body, outcome.reason, alert.channel, retriable=outcome.retriable
    )
    metrics.alerts.labels(alert.channel, "dead").inc()
    return outcome
