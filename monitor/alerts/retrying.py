"""Sending with the delivery retries, for the senders outside the dispatcher's loop (dead
letters retried, feed-health and channel-health alerts)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from monitor.alerts.channels.base import Sender
from monitor.alerts.dispatch import dead_letter
from monitor.alerts.settings import DeliveryConfig
from monitor.bus.base import Bus
from monitor.kernel.errors import DeliveryError
from monitor.kernel.metrics import Metrics
from monitor.kernel.models import Alert


@dataclass(frozen=True, slots=True)
class Outcome:
    """How sending ended: delivered, or not after `attempts` with the last `reason`."""

    delivered: bool
    attempts: int
    reason: str = ""
    retriable: bool = True  # whether the last failure could pass by sending again later


async def send_with_retries(
    send: Callable[[], Awaitable[None]], delivery: DeliveryConfig
) -> Outcome:
    """Call `send` until it succeeds, fails for good, or `delivery.attempts` are spent,
    waiting the backoff (or what the channel asked) between attempts."""
    reason = ""
    for attempt in range(1, delivery.attempts + 1):
        try:
            await send()
        except DeliveryError as exc:
            reason = str(exc)
            if not exc.retriable or attempt == delivery.attempts:
                return Outcome(False, attempt, reason, exc.retriable)
            await asyncio.sleep(delivery.delay_s(attempt, exc.retry_after_s))
            continue
        return Outcome(True, attempt)
    return Outcome(False, delivery.attempts, reason)


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
