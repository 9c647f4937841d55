"""The flusher: sends the held alerts that are due, one digest (or summary) per channel and
reason, with the dispatcher's retries; then settles them delivered and forgets them.

A crash after holding loses nothing: the rows wait in state.db and go out once due. A crash
after a digest was sent but before its items were settled sends it again with the same id
(`X-Monitor-Digest-Id`, the body's `id`), which a receiver can drop, as with alerts.

Each item is claimed before it goes out (`monitor.alerts.claims`): two flushers that both
think they own a channel (a rebalance of the flusher leases on Kafka, a second service on the
same state.db) send each item once; the loser leaves it to the winner. An item found settled
under the claim went out already and is forgotten. The claims are renewed while the digest is
sent, however long its retries wait.

A digest whose sender raises something other than a DeliveryError (a bug) is dead-lettered
with the exception's name, like an alert in the dispatcher: tried again by the loop, it could
go out once a second. One the channel refuses for good (a 4xx other than 408 and 429) is
dead-lettered too; one it cannot take now (it is down: `monitor.alerts.breaker`) stays held and
is tried when the channel is probed again, until it is `delivery.give_up_after` overdue.
Alerts that wait for their channel (reason `outage`) go out one by one through
`monitor.alerts.outage`, claimed like the digests' items.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial

import structlog

from monitor.alerts.board import RecentAlerts
from monitor.alerts.breaker import Breaker, Breakers, Change
from monitor.alerts.channels.base import Sender
from monitor.alerts.claims import Claims, lease_s, renewing
from monitor.alerts.digest import Digest, HeldAlert
from monitor.alerts.dispatch import Settlements, channel_breakers
from monitor.alerts.held import OUTAGE, Held, HeldRow
from monitor.alerts.outage import Outages
from monitor.alerts.retrying import (
    BLOCKED,
    FAILED,
    REFUSED,
    STOPPED,
    Outcome,
    dead_letter,
    send_with_retries,
)
from monitor.alerts.settings import DeliveryConfig
from monitor.bus.base import Bus
from monitor.kernel.errors import BusError
from monitor.kernel.metrics import Metrics
from monitor.kernel.models import Settlement
from monitor.kernel.waiting import sleep_or_stop
from monitor.stories.desk import StoryDesk

log = structlog.get_logger("monitor.flusher")

FLUSH_EVERY_S = 1.0
DRAIN_BATCH = 500  # waiting alerts of one channel claimed and sent per flush, oldest first


class Flusher:
    """Sends due digests until `stop` (see the module docstring)."""

    def __init__(
        self,
        *,
        held: Held,
        senders: Mapping[str, Sender],
        settlements: Settlements,
        bus: Bus,
        metrics: Metrics,
        delivery: DeliveryConfig,
        stories: StoryDesk,
        clock: Callable[[], float],
        stop: asyncio.Event,
        recent: RecentAlerts | None = None,
        claims: Claims | None = None,
        breakers: Breakers | None = None,
        tell: Callable[[Change], None] = lambda _: None,
        owns: Callable[[str], bool] = lambda _: True,
    ) -> None:
        self.breakers = breakers or channel_breakers(delivery)
        self.tell = tell
        self.outages = Outages(
            held=held,
            senders=senders,
            settlements=settlements,
            bus=bus,
            metrics=metrics,
            delivery=delivery,
            breakers=self.breakers,
            clock=clock,
            stop=stop,
            tell=tell,
            recent=recent,
        )
        self.claims = claims  # None: this flusher is the only sender of its held items
        self.recent = recent  # the last alerts and their states, for the status page
        self.held = held
        self.senders = senders
        self.settlements = settlements
        self.bus = bus
        self.metrics = metrics
        self.delivery = delivery
        self.stories = stories
        self.clock = clock
        self.stop = stop
        # Which channels' digests this process sends: all on the local bus; on Kafka, those
        # whose flusher lease it holds.
        self.owns = owns
        # Alerts waiting for each channel, in the shared store (any dispatcher's), as of the
        # last flush: while some wait, the channel is down for every process, not only for
        # those that met its failures.
        self.waiting: dict[str, int] = {}

    async def run(self) -> None:
        """Flush what is due every second until `stop`."""
        while not self.stop.is_set():
            try:
                await self.flush_due()
            except BusError as exc:  # the broker away: what is held waits for the next round
                log.warning("flush_failed", reason=str(exc))
            except Exception:
                # The flusher's top-level loop: what failed stays held and is tried again.
                log.exception("flush_failed")
            if await sleep_or_stop(self.stop, FLUSH_EVERY_S):
                return

    async def flush_due(self) -> int:
        """Send every digest due now, and the alerts waiting for a channel that takes them
        again; return how many digests and alerts went out."""
        now = self.clock()
        groups: dict[tuple[str, str, str], list[HeldRow]] = {}
        for row in await self.held.due(int(now * 1000)):
            if not self.owns(row.channel):
                continue
            rule = row.item.rule_id if row.reason == "throttle" else ""
            groups.setdefault((row.channel, row.reason, rule), []).append(row)
        sent = 0
        for (channel, reason, _), rows in groups.items():
            if self.breakers[channel].may_send(now) or any(self._overdue_row(r) for r in rows):
                sent += await self._claimed(channel, reason, rows)
        waiting = self.waiting = await self.held.waiting()
        for channel in waiting:
            if self.owns(channel):
                sent += await self._drain(channel, now)
        for breaker in self.breakers:
            if not self.owns(breaker.channel) and not waiting.get(breaker.channel):
                # Another process sent (or gave up) what waited: ours has nothing to probe with.
                change = breaker.assume_up(now)
                if change is not None:
                    self.tell(change)
        counts = {c: n for c, n in (await self.held.counts()).items() if self.owns(c)}
        for channel, count in counts.items():
            self.metrics.held_alerts.labels(channel).set(count)
        for channel in {c for c, _, _ in groups} - set(counts):
            self.metrics.held_alerts.labels(channel).set(0)
        return sent

    async def _drain(self, channel: str, now: float) -> int:
        """Send the alerts waiting for `channel`, oldest first, if it may be tried: while it is
        down, only the oldest (the probe), and those waited past give_up_after."""
        oldest = await self.held.waiting_rows(channel, 1)
        if not oldest:
            return 0
        breaker = self.breakers[channel]
        expired = self.outages.expired(oldest[0], now)
        if not (expired or breaker.may_send(now)):
            return 0  # down and not due for a probe: nothing to claim
        many = expired or not breaker.down
        rows = await self.held.waiting_rows(channel, DRAIN_BATCH) if many else oldest
        return await self._claimed(channel, OUTAGE, rows)

    def _overdue_row(self, row: HeldRow) -> bool:
        give_up = self.delivery.give_up_after_s
        return give_up <= 0 or self.clock() - row.due_ms / 1000 > give_up

    async def _claimed(self, channel: str, reason: str, all_rows: list[HeldRow]) -> int:
        """Claim the rows, send those won, release them."""
        rows = await self._claim(all_rows)
        if not rows:
            return 0
        try:
            if self.claims is None:
                return await self._send_group(channel, reason, rows)
            ids = [r.item.alert_id for r in rows]
            async with renewing(self.claims, ids, lease_s(self.delivery)):
                return await self._send_group(channel, reason, rows)
        finally:
            if self.claims is not None:
                await self.claims.release([r.item.alert_id for r in rows])

    async def _send_group(self, channel: str, reason: str, rows: list[HeldRow]) -> int:
        if reason == OUTAGE:
            return await self.outages.drain(channel, rows)
        return int(await self._send_rows(channel, reason, rows))

    async def _claim(self, rows: list[HeldRow]) -> list[HeldRow]:
        """The rows this flusher won the claim of and that are still to send."""
        if self.claims is None:
            return rows
        ids = [r.item.alert_id for r in rows]
        won = await self.claims.claim(ids, lease_s(self.delivery))
        if len(won) < len(ids):
            log.info("held_alerts_claimed_elsewhere", alerts=len(ids) - len(won))
        if won:
            await self.settlements.sync()  # after the claim: a holder settles, then releases
        mine, gone = [], []
        for row in rows:
            if row.item.alert_id not in won:
                continue
            # Settled beyond "held" while we looked: another flusher sent it (or gave up).
            if await self.settlements.settled_status(row.item.alert_id) not in (None, "held"):
                gone.append(row.item.alert_id)
            else:
                mine.append(row)
        if gone:
            await self.held.release(gone)
            await self.claims.release(gone)
        return mine

    async def _send_rows(self, channel: str, reason: str, rows: list[HeldRow]) -> bool:
        due = datetime.fromtimestamp(max(r.due_ms for r in rows) / 1000, UTC)
        items = tuple(self._current(r.item) for r in rows)
        digest = Digest(channel=channel, reason=reason, items=items, sent_for=due)
        with structlog.contextvars.bound_contextvars(
            channel=channel, digest_id=digest.id, reason=reason
        ):
            return await self._send(digest)

    def _current(self, item: HeldAlert) -> HeldAlert:
        """The item with its story as known now: copies may have come while it was held."""
        story = self.stories.story_of_article(item.article_id)
        if story is None or item.story_id not in (story.id, *story.aliases):
            return item  # gone, or held for the article alone (its rule says `stories: off`)
        return replace(item, story_articles=story.size, story_feeds=story.feeds)

    async def _send(self, digest: Digest) -> bool:
        sender = self.senders.get(digest.channel)
        if sender is None:
            missing = f"no channel named {digest.channel!r} is configured"
            outcome = Outcome(REFUSED, 0, missing, retriable=False)
        else:
            outcome = await send_with_retries(
                partial(sender.send_digest, digest),
                self.delivery,
                breaker=self.breakers[digest.channel],
                clock=self.clock,
                tell=self.tell,
                stop=self.stop,
                retrying=_retrying,
                # A sender's bug is dead-lettered: tried again, it could send once a second.
                crashed=lambda attempt: log.exception("digest_send_crashed", attempt=attempt),
            )
        if outcome.delivered:
            self.metrics.delivery_duration.labels(digest.channel).observe(outcome.took_s)
            await self._settle(digest, "delivered", None)
            result = "summarized" if digest.reason == "throttle" else "digested"
            self.metrics.alerts.labels(digest.channel, result).inc(len(digest.items))
            log.info("digest_sent", items=len(digest.items), attempt=outcome.attempts)
            return True
        if outcome.ended == STOPPED:
            return False  # still held: sent after the restart
        if outcome.ended in (BLOCKED, FAILED) and not self._overdue(digest):
            return False  # still held: tried when the channel is probed again
        attempts, reason, retriable = outcome.attempts, outcome.reason, outcome.retriable
        if outcome.ended == BLOCKED:  # waited past give_up_after for a channel still down
            reason, retriable = f"down: {self.breakers[digest.channel].reason}", True
        body: dict[str, object] = {"digest": digest.to_dict(), "attempts": attempts}
        await dead_letter(
            self.bus, self.metrics, digest.id, body, reason, digest.channel, retriable=retriable
        )
        await self._settle(digest, "dead", reason)
        self.metrics.alerts.labels(digest.channel, "dead").inc(len(digest.items))
        log.error("digest_dead_lettered", reason=reason, attempts=attempts)
        return False

    def _overdue(self, digest: Digest) -> bool:
        """Due longer ago than `delivery.give_up_after` (0: give up after the last attempt)."""
        give_up = self.delivery.give_up_after_s
        return give_up <= 0 or self.clock() - digest.sent_for.timestamp() > give_up

    async def _settle(self, digest: Digest, status: str, reason: str | None) -> None:
        for item in digest.items:
            if self.recent is not None:
                shown = f"{status} in a {digest.reason}"
                self.recent.update(item.rule_id, item.story_id, digest.channel, shown, reason)
            await self.settlements.settle(
                Settlement(
                    alert_id=item.alert_id,
                    rule_id=item.rule_id,
                    article_id=item.article_id,
                    channel=digest.channel,
                    status=status,
                    reason=reason,
                )
            )
        await self.held.release([i.alert_id for i in digest.items])


def _retrying(attempt: int, reason: str, delay_s: float) -> None:
    log.warning("digest_retry", attempt=attempt, reason=reason, retry_in_s=delay_s)


def export_channels(
    breakers: Breakers, flusher: Flusher, channels: Sequence[str], metrics: Metrics
) -> None:
    """`monitor_channel_up{channel}`: 0 while the channel's breaker says down, or while alerts
    wait for it (on Kafka, another dispatcher may be the one that met its failures), else 1."""
    for name in channels:
        metrics.channel_up.labels(name).set_function(partial(_up, breakers[name], flusher))


def _up(breaker: Breaker, flusher: Flusher) -> float:
    return 0.0 if breaker.down or flusher.waiting.get(breaker.channel) else 1.0
