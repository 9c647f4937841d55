"""Riding out a channel's outage: the alerts that wait for it go out, in order, once it is back,
and the health channels are told when it goes down and when it comes back.

An alert whose channel is down waits in the held store (reason `outage`, the whole alert kept,
on both buses; `monitor.alerts.dispatch` puts it there). The flusher that owns the channel
(every flusher on the local bus; the holder of the channel's flusher lease on Kafka) hands the
waiting rows here, oldest first, having claimed them. While the channel's breaker says wait,
nothing is sent; when a probe is due, the oldest alert is the probe. A success sends the rest in
order, each once (claimed, then settled delivered, then released); the first retriable failure
stops the round and pushes the next probe further off. A row that has waited longer than
`delivery.give_up_after`, or that the channel refuses for good (a 4xx other than 408 and 429),
is dead-lettered with the reason.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial

import structlog

from monitor.alerts.board import RecentAlerts
from monitor.alerts.breaker import DOWN, Breakers, Change
from monitor.alerts.channels.base import Sender
from monitor.alerts.dispatch import Settlements
from monitor.alerts.held import Held, HeldRow
from monitor.alerts.retrying import (
    BLOCKED,
    FAILED,
    Outcome,
    dead_letter,
    send_or_dead_letter,
    send_with_retries,
)
from monitor.alerts.settings import DeliveryConfig
from monitor.bus.base import Bus
from monitor.kernel.metrics import Metrics
from monitor.kernel.models import Alert, Settlement, alert_id, make_article
from monitor.kernel.redact import redact

log = structlog.get_logger("monitor.outage")
RULE_ID = "channel-health"


class Outages:
    """Sends the alerts that waited for their channel (see the module docstring)."""

    def __init__(
        self,
        *,
        held: Held,
        senders: Mapping[str, Sender],
        settlements: Settlements,
        bus: Bus,
        metrics: Metrics,
        delivery: DeliveryConfig,
        breakers: Breakers,
        clock: Callable[[], float],
        stop: asyncio.Event,
        tell: Callable[[Change], None] = lambda _: None,
        recent: RecentAlerts | None = None,
    ) -> None:
        self.held = held
        self.senders = senders
        self.settlements = settlements
        self.bus = bus
        self.metrics = metrics
        self.delivery = delivery
        self.breakers = breakers
        self.clock = clock
        self.stop = stop
        self.tell = tell
        self.recent = recent

    def expired(self, row: HeldRow, now: float) -> bool:
        """Whether the row has waited longer than `delivery.give_up_after`."""
        waited = now - row.item.held_at.timestamp()
        return self.delivery.give_up_after_s > 0 and waited > self.delivery.give_up_after_s

    async def drain(self, channel: str, rows: Sequence[HeldRow]) -> int:
        """Send the claimed rows of `channel` in order while it takes them; how many went out."""
        breaker = self.breakers[channel]
        sender = self.senders.get(channel)
        sent = 0
        for row in rows:
            now = self.clock()
            if sender is None or row.alert is None:
                why = "no such channel" if sender is None else "the waiting alert has no body"
                await self._give_up(row, f"{why}: {channel!r}", retriable=sender is not None)
                continue
            if self.expired(row, now):
                waited = self.delivery.give_up_after_s
                why = breaker.reason or "the channel did not take it"
                await self._give_up(row, f"gave up after {waited:g}s waiting: {why}")
                continue
            if self.stop.is_set():
                break
            outcome = await send_with_retries(
                partial(sender.send, row.alert),
                self.delivery,
                attempts=1,  # the probe, or the next in line: a failure ends the round
                breaker=breaker,
                clock=self.clock,
                tell=self.tell,
                # A sender's bug is dead-lettered: tried again, it would fail again.
                crashed=lambda _: log.exception("alert_send_crashed", channel=channel),
                ended=partial(self._failed, row),
            )
            if outcome.ended in (BLOCKED, FAILED):
                break
            if not outcome.delivered:
                continue  # refused, or a sender's bug: dead-lettered
            await self._settle(row, "delivered", None)
            self.metrics.alerts.labels(channel, "delivered").inc()
            sent += 1
            log.info("waiting_alert_delivered", channel=channel, alert_id=row.item.alert_id)
        return sent

    async def _failed(self, row: HeldRow, outcome: Outcome) -> None:
        if outcome.ended == FAILED:
            log.info("channel_probe_failed", channel=row.channel, reason=redact(outcome.reason))
        else:
            await self._give_up(row, outcome.reason, retriable=False)

    async def _give_up(self, row: HeldRow, reason: str, *, retriable: bool = True) -> None:
        reason = redact(reason)
        whole = row.alert.to_dict() if row.alert is not None else row.item.to_dict()
        body: dict[str, object] = {"alert": whole, "attempts": 0}
        await dead_letter(
            self.bus, self.metrics, row.item.alert_id, body, reason, row.channel,
            retriable=retriable,
        )  # fmt: skip
        await self._settle(row, "dead", reason)
        self.metrics.alerts.labels(row.channel, "dead").inc()
        log.error("waiting_alert_dead_lettered", channel=row.channel, reason=reason)

    async def _settle(self, row: HeldRow, status: str, reason: str | None) -> None:
        item = row.item
        if self.recent is not None:
            self.recent.update(item.rule_id, item.story_id, row.channel, status, reason)
        await self.settlements.settle(
            Settlement(
                alert_id=item.alert_id,
                rule_id=item.rule_id,
                article_id=item.article_id,
                channel=row.channel,
                status=status,
                reason=reason,
            )
        )
        await self.held.release([item.alert_id])


class Notices:
    """Tells the `health.notify` channels (other than the one concerned) when a channel goes
    down or comes back: one alert each way per outage, from the process that owns the channel."""

    def __init__(
        self,
        *,
        notify: Sequence[str],
        senders: Mapping[str, Sender],
        bus: Bus,
        metrics: Metrics,
        delivery: DeliveryConfig,
        owns: Callable[[str], bool] = lambda _: True,
    ) -> None:
        self.notify = tuple(notify)
        self.senders = senders
        self.bus = bus
        self.metrics = metrics
        self.delivery = delivery
        self.owns = owns
        self._queue: asyncio.Queue[Change] = asyncio.Queue(maxsize=1000)

    def tell(self, change: Change) -> None:
        """Note a change (sent by `run`: a send never waits on a health channel)."""
        log.warning(
            "channel_down" if change.state == DOWN else "channel_back",
            channel=change.channel,
            reason=redact(change.reason),
        )
        if self.notify and self.owns(change.channel):
            if self._queue.full():  # a thousand untold changes: the channels flap
                log.error("channel_notice_dropped", channel=change.channel, state=change.state)
            else:
                self._queue.put_nowait(change)

    async def run(self, stop: asyncio.Event) -> None:
        """Send what `tell` noted until `stop`."""
        while True:
            getting = asyncio.ensure_future(self._queue.get())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not getting.done():
                getting.cancel()
                return
            await self._tell_all(getting.result())

    async def send_queued(self) -> None:
        """Send what is noted now (`run --once`, which has no loop for it)."""
        while not self._queue.empty():
            await self._tell_all(self._queue.get_nowait())

    async def _tell_all(self, change: Change) -> None:
        for channel in self.notify:
            if channel != change.channel and channel in self.senders:
                await self._send(channel_alert(change, channel))

    async def _send(self, alert: Alert) -> None:
        sender = self.senders[alert.channel]
        outcome = await send_or_dead_letter(sender, alert, self.delivery, self.bus, self.metrics)
        if not outcome.delivered:
            log.error("channel_notice_dead_lettered", channel=alert.channel, reason=outcome.reason)


def channel_alert(change: Change, channel: str) -> Alert:
    """The alert telling `channel` that `change.channel` went down or came back."""
    since = datetime.fromtimestamp(change.since, UTC)
    at = datetime.fromtimestamp(change.at, UTC)
    reason = redact(change.reason)
    if change.state == DOWN:
        title = (
            f"Channel {change.channel} is down ({reason}): its alerts wait and go out, in "
            "order, when it is back"
        )
    else:
        lasted = int(change.at - change.since)
        title = f"Channel {change.channel} is back after {lasted}s: its waiting alerts go out"
    key = f"{RULE_ID}\0{change.channel}\0{change.state}\0{change.since}"
    event = hashlib.sha256(key.encode()).hexdigest()[:32]
    return Alert(
        id=alert_id(RULE_ID, event, channel),
        channel=channel,
        rule_id=RULE_ID,
        description="Channel health",
        severity="high" if change.state == DOWN else "info",
        article=make_article(id=event, title=title, published=at, fetched_at=at),
        evidence=(),
        health={
            "channel": change.channel,
            "state": change.state,
            "since": since.isoformat(),
            "reason": reason,
        },
    )
