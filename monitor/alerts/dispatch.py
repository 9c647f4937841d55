"""The dispatcher: route matches to channels, once each, with retries, a throttle and a DLQ.

Each matched article is first placed in its story (`monitor.stories`). Each (rule, story,
channel) gives at most one alert, across restarts and redeliveries: its id is settled in the
state store (delivered, dead or held) before the bus offset is committed, so a later copy of
the story finds it settled and is only recorded on the story ("folded"). An alert for a channel
with a digest, in its quiet hours, or beyond its rule's throttle is held (`alerts.held`) and
goes out with others when due (`alerts.flusher`).
Failures are retried with exponential backoff when retriable. A channel that keeps failing is
marked down (`monitor.alerts.breaker`): its alerts then wait, held with reason `outage`, and
go out in order once it is back (`monitor.alerts.outage`); while any of its alerts wait, new
ones join the back of the line. Only a failure that retrying cannot fix (a 4xx other than 408
and 429, a sender's bug) goes to `alerts.dlq` at once, with the reason; with
`delivery.give_up_after: 0`, so does an alert after its last attempt. A shutdown interrupts the
backoff: what is not settled stays uncommitted and is sent on the next start.
Every settlement is also kept in the alert history (`monitor.alerts.history`, through the page's
`RecentAlerts`), and so are the shadow watches' would-be alerts. A muted watch's matches
(`monitor.alerts.mutes`) are not sent: kept in the history as muted, and done with.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Protocol

import structlog

from monitor.alerts.board import RecentAlerts
from monitor.alerts.breaker import Breaker, Breakers, Change
from monitor.alerts.channels.base import Sender
from monitor.alerts.claims import Claims, renewing
from monitor.alerts.digest import HeldAlert
from monitor.alerts.held import OUTAGE, Held, HeldRow
from monitor.alerts.history import AlertHistory
from monitor.alerts.mutes import Mutes
from monitor.alerts.retrying import (
    BLOCKED,
    FAILED,
    LOST,
    STOPPED,
    Outcome,
    dead_letter,
    send_with_retries,
)
from monitor.alerts.settings import MAX_RETRY_AFTER_S, DeliveryConfig
from monitor.alerts.timing import Batching, next_digest, quiet_until
from monitor.bus.badrecords import reject_record
from monitor.bus.base import MATCHES, Bus, Record
from monitor.kernel.errors import BusError, StorageFull
from monitor.kernel.metrics import Metrics
from monitor.kernel.models import Alert, MatchedArticle, Settlement
from monitor.kernel.records import BadRecord
from monitor.kernel.redact import redact
from monitor.matching.spec import Throttle
from monitor.stories.desk import StoryDesk

log = structlog.get_logger("monitor.dispatcher")
# A dispatcher's claim on the alerts it sends, renewed every third while it sends: short, so a
# dispatcher that died mid-send holds its alerts back from the others for half a minute at most.
DISPATCH_LEASE_S = 30.0


class Settlements(Protocol):
    """Where settled alerts are recorded: state.db locally, a compacted topic on Kafka."""

    async def sync(self) -> None:
        """Catch up with settlements made by other dispatchers."""
        ...

    async def settled_status(self, alert_id: str) -> str | None:
        """How an alert was settled, or None."""
        ...

    async def settle(self, settlement: Settlement) -> None:
        """Record that an alert is settled."""
        ...


class Interrupted(Exception):
    """Shutdown came while an alert was waiting to be retried; the batch stays uncommitted."""


class Dispatcher:
    """Delivers the alerts of `matches` records (see the module docstring)."""

    def __init__(
        self,
        *,
        senders: Mapping[str, Sender],
        default_notify: Sequence[str],
        delivery: DeliveryConfig,
        settlements: Settlements,
        bus: Bus,
        metrics: Metrics,
        throttle_of: Callable[[str], Throttle | None],
        stop: asyncio.Event,
        stories: StoryDesk,
        held: Held,
        batching: Mapping[str, Batching] | None = None,
        clock: Callable[[], float] = time.time,
        is_retired: Callable[[str], bool] = lambda _: False,
        folds: Callable[[str], bool] = lambda _: True,
        recent: RecentAlerts | None = None,
        breakers: Breakers | None = None,
        tell: Callable[[Change], None] = lambda _: None,
        claims: Claims | None = None,
        history: AlertHistory | None = None,
        silences: Mutes | None = None,
    ) -> None:
        if history is not None and recent is None:
            recent = RecentAlerts(journal=history)  # the settlements reach the history through it
        self.history = history  # settled alerts, shadow and muted ones, kept across restarts
        self.silences = silences  # muted watches: their matches are not sent
        self.claims = claims  # several dispatchers (Kafka): an alert is claimed before it is sent
        self._claimed_at = 0.0
        self._claimed_elsewhere: set[str] = set()
        self.breakers = breakers or channel_breakers(delivery)
        self.tell = tell  # a channel went down or came back: the health channels hear of it
        self._waiting: dict[str, int] = {}  # alerts waiting for their channel, per channel
        self.folds = folds  # False for a rule that says `stories: off`
        self.recent = recent  # the last alerts and their states, for the status page
        self.is_retired = is_retired
        self.stories = stories
        self.held = held
        self.batching = batching or {}
        self.clock = clock
        self._overflow_due: dict[tuple[str, str], float] = {}
        self.senders = senders
        self.default_notify = tuple(default_notify)
        self.delivery = delivery
        self.settlements = settlements
        self.bus = bus
        self.metrics = metrics
        self.throttle_of = throttle_of
        self.stop = stop
        self._sent: dict[tuple[str, str], deque[float]] = {}
        self._in_flight: set[str] = set()
        self._unrecorded: dict[str, Settlement] = {}  # settled, not yet written (disk full)

    async def handle(self, records: Sequence[Record]) -> None:
        """Deliver every alert of the records; raise Interrupted if shutdown cut retries short."""
        await self._record_unrecorded()
        await self.settlements.sync()
        if self.silences is not None:
            await self.silences.refresh()
        self._waiting = await self.held.waiting()
        batch: list[MatchedArticle] = []
        for record in records:
            try:
                matched = MatchedArticle.from_bytes(record.value)
            except BadRecord as exc:
                await reject_record(self.bus, self.metrics, MATCHES, record, exc)
                continue
            if not self._held_back(matched):
                batch.append(matched)
        placed = await self.stories.place(batch)
        alerts: dict[str, tuple[Alert, bool]] = {}
        for matched in batch:
            story = self.stories.story_for(matched, folds=self.folds(matched.match.rule_id))
            for channel in matched.match.notify or self.default_notify:
                alert = Alert.for_channel(matched, channel, story)
                first = alerts.get(alert.id)
                if first is None:
                    alerts[alert.id] = (alert, (alert.rule_id, matched.article.id) in placed)
                elif first[0].article.id != alert.article.id:
                    self._folded(alert)  # a copy of a story alerting in this very batch
        for result in await self._deliver_all(list(alerts.values())):
            if isinstance(result, BaseException):
                raise result

    async def _deliver_all(self, alerts: list[tuple[Alert, bool]]) -> list[object]:
        """Deliver the batch's alerts at once; with claims (Kafka), claim those to send first.

        A dispatcher that a rebalance took partitions from while it was frozen (a stopped
        process, a stalled VM) resumes mid-batch: without a claim it would send what the new
        owner of its partitions already sent. With one, the new owner finds the alert claimed
        and holds it (it goes out once the claim is released or lapses, if not settled by then),
        and the resumed one sends only while its claim is still live."""
        claims = self.claims
        if claims is None:
            return await asyncio.gather(
                *(self._deliver(a, fresh) for a, fresh in alerts), return_exceptions=True
            )
        open_ids = [a.id for a, _ in alerts if await self._status(a) is None]
        claimed = await claims.claim(open_ids, DISPATCH_LEASE_S)
        self._claimed_at = _elapsed()
        self._claimed_elsewhere = set(open_ids) - claimed
        try:
            # Under the claim: what another dispatcher settled before is seen (and an alert
            # held as claimed elsewhere is held knowing the latest).
            await self.settlements.sync()
            async with renewing(claims, list(claimed), DISPATCH_LEASE_S):
                return await asyncio.gather(
                    *(self._deliver(a, fresh) for a, fresh in alerts), return_exceptions=True
                )
        finally:
            try:
                await claims.release(list(claimed))
            except BusError as exc:  # the claims lapse by themselves within the lease
                log.warning("claim_release_failed", alerts=len(claimed), reason=str(exc))

    def _held_back(self, matched: MatchedArticle) -> bool:
        """Shadow matches are reported, not sent; matches of retired rules are dropped; muted
        watches' matches are kept in the history, not sent."""
        m = matched.match
        if self.is_retired(m.rule_id):
            self.metrics.alerts.labels("-", "rule_retired").inc()
            log.info("match_of_retired_rule", rule=m.rule_id, article=m.article_id)
            return True
        if m.mode == "shadow":
            self.metrics.shadow_matches.labels(m.rule_id).inc()
            log.info(
                "shadow_match",
                rule=m.rule_id,
                article=m.article_id,
                title=matched.article.title,
                url=matched.article.url,
                evidence=[e.value for e in m.evidence],
            )
            if self.history is not None:
                self.history.shadow(matched, m.notify or self.default_notify)
            return True
        silence = self.silences.muted(m.rule_id) if self.silences is not None else None
        if silence is not None:
            channels = m.notify or self.default_notify
            for channel in channels:
                self.metrics.alerts.labels(channel, "muted").inc()
            log.info(
                "alert_muted",
                rule=m.rule_id,
                article=m.article_id,
                title=matched.article.title,
                until=silence.to_dict()["until"],
                reason=silence.reason,
            )
            if self.history is not None:
                self.history.muted(matched, channels, silence)
            return True
        return False

    def _folded(self, alert: Alert) -> None:
        self.metrics.alerts.labels(alert.channel, "folded").inc()
        if self.recent is not None:
            note = "a copy of a story already alerted"
            self.recent.settled(alert, "folded", note, int(time.time() * 1000))
        log.info(
            "alert_folded_into_story",
            rule=alert.rule_id,
            channel=alert.channel,
            story=alert.story.id if alert.story else None,
            article=alert.article.id,
            feed=alert.article.feed,
        )

    async def _deliver(self, alert: Alert, fresh: bool) -> None:
        """Deliver unless settled; `fresh`: the rule met this article for the first time (so a
        settled alert means another article of the story gave it, not a redelivery)."""
        with structlog.contextvars.bound_contextvars(
            rule=alert.rule_id, alert_id=alert.id, channel=alert.channel
        ):
            if alert.id in self._in_flight:
                if fresh:
                    self._folded(alert)
                return
            self._in_flight.add(alert.id)
            try:
                await self._deliver_once(alert, fresh)
            finally:
                self._in_flight.discard(alert.id)

    async def _record_unrecorded(self) -> None:
        """Write the settlements a full disk held back (raises StorageFull while it still is)."""
        for alert_id, settlement in list(self._unrecorded.items()):
            await self.settlements.settle(settlement)
            del self._unrecorded[alert_id]
            log.info("settlement_recorded_late", alert_id=alert_id, status=settlement.status)

    async def _status(self, alert: Alert) -> str | None:
        """How the alert (or its story under another id) was settled, or None."""
        held = self._unrecorded.get(alert.id)
        status = held.status if held else await self.settlements.settled_status(alert.id)
        for other in alert.alias_ids():
            if status is None:
                status = await self.settlements.settled_status(other)
        return status

    async def _deliver_once(self, alert: Alert, fresh: bool) -> None:
        status = await self._status(alert)
        if status is not None:
            if fresh:
                self._folded(alert)
                return
            self.metrics.alerts.labels(alert.channel, "duplicate").inc()
            log.info("alert_already_settled", status=status)
            return
        sender = self.senders.get(alert.channel)
        if sender is None:
            missing = f"no channel named {alert.channel!r} is configured"
            await self._give_up(alert, missing, 0, retriable=False)
            return
        waits = self._hold_for(alert)
        if waits is not None:
            await self._hold(alert, *waits)
            return
        if alert.id in self._claimed_elsewhere:
            await self._hold_claimed(alert)
            return
        if self._waiting.get(alert.channel):
            await self._wait_for_channel(alert, "alerts before it wait for the channel", 0)
            return
        await self._send(alert, sender)

    async def _hold_claimed(self, alert: Alert) -> None:
        """Another dispatcher holds the alert's claim: it may be sending it now. Hold it (it
        goes out when the claim is free, unless settled by then), whatever give_up_after."""
        now = self.clock()
        item = HeldAlert.of(alert, datetime.fromtimestamp(now, UTC))
        await self.held.hold(HeldRow(alert.channel, OUTAGE, int(now * 1000), item, alert))
        self._waiting[alert.channel] = self._waiting.get(alert.channel, 0) + 1
        await self._settle(alert, "held", "being sent by another dispatcher")
        log.info("alert_claimed_elsewhere")

    async def _still_ours(self, alert: Alert) -> bool:
        """Whether this process may still send the alert: long after its claim (a freeze, a
        suspended VM, renewals that failed), ask whether the claim is still held. Unknown (the
        bus away): go on, at least once."""
        if self.claims is None or _elapsed() - self._claimed_at < DISPATCH_LEASE_S / 3:
            return True
        try:
            held = alert.id in await self.claims.holding([alert.id])
        except BusError:
            return True
        if not held:
            log.warning("alert_claim_lapsed", detail="held: whoever holds it now sends it once")
        return held

    async def _send(self, alert: Alert, sender: Sender) -> None:
        """Send with the retries; wait for the channel when it is down or goes down."""
        breaker = self.breakers[alert.channel]
        outcome = await send_with_retries(
            partial(sender.send, alert),
            self.delivery,
            breaker=breaker,
            clock=self.clock,
            tell=self._changed,
            stop=self.stop,
            ours=partial(self._still_ours, alert),
            timed=partial(self._timed, alert.channel),
            retrying=partial(self._retrying, alert),
            # A sender's bug is dead-lettered: redoing the batch would resend the rest.
            crashed=lambda attempt: log.exception("alert_send_crashed", attempt=attempt),
            ended=partial(self._failed, alert),
        )
        if outcome.ended == LOST:
            await self._hold_claimed(alert)  # whoever has it, or the flusher, sends it once
        elif outcome.ended == BLOCKED:
            await self._wait_for_channel(alert, f"down: {breaker.reason}", outcome.attempts)
        elif outcome.ended == STOPPED:
            raise Interrupted(alert.id) from outcome.error
        elif outcome.delivered:
            self._timed(alert.channel, outcome.took_s)
            await self._settle(alert, "delivered", None)
            self.metrics.alerts.labels(alert.channel, "delivered").inc()
            if alert.article.fetched_at is not None:
                lag = (datetime.now(UTC) - alert.article.fetched_at).total_seconds()
                self.metrics.fetch_to_alert.observe(max(0.0, lag))
            log.info("alert_delivered", attempt=outcome.attempts)

    def _timed(self, channel: str, seconds: float) -> None:
        self.metrics.delivery_duration.labels(channel).observe(seconds)

    def _retrying(self, alert: Alert, attempt: int, reason: str, delay_s: float) -> None:
        self.metrics.alerts.labels(alert.channel, "retried").inc()
        log.warning("alert_retry", attempt=attempt, reason=reason, retry_in_s=delay_s)

    async def _failed(self, alert: Alert, outcome: Outcome) -> None:
        """Dead-letter what the channel refused (or a sender's bug); hold what it failed."""
        if outcome.ended == FAILED:
            await self._wait_for_channel(alert, outcome.reason, outcome.attempts)
        else:
            await self._give_up(alert, outcome.reason, outcome.attempts, retriable=False)

    def _changed(self, change: Change | None) -> None:
        if change is not None:
            self.tell(change)

    async def _wait_for_channel(self, alert: Alert, reason: str, attempts: int) -> None:
        """Hold the alert until its channel is back (`monitor.alerts.outage` sends it); with
        `give_up_after: 0`, dead-letter it instead."""
        if self.delivery.give_up_after_s <= 0:
            await self._give_up(alert, reason, attempts)
            return
        now = self.clock()
        item = HeldAlert.of(alert, datetime.fromtimestamp(now, UTC))
        await self.held.hold(HeldRow(alert.channel, OUTAGE, int(now * 1000), item, alert))
        self._waiting[alert.channel] = self._waiting.get(alert.channel, 0) + 1
        await self._settle(alert, "held", f"{OUTAGE}: {redact(reason)}")
        self.metrics.alerts.labels(alert.channel, "waiting").inc()
        log.warning("alert_waits_for_channel", reason=redact(reason))

    def _hold_for(self, alert: Alert) -> tuple[str, float] | None:
        """(reason, due time) when the alert waits: for the channel's digest, through its
        quiet hours (unless its severity is excepted), or beyond the rule's throttle."""
        now = self.clock()
        batching = self.batching.get(alert.channel)
        if batching is not None:
            at = datetime.fromtimestamp(now, UTC)
            quiet = batching.quiet
            quiet_end = quiet_until(quiet, at) if quiet is not None else None
            if quiet is not None and alert.severity in quiet.except_severities:
                quiet_end = None
            if batching.digest is not None:
                digest_at = next_digest(batching.digest, at)
                if quiet is not None and (end := quiet_until(quiet, digest_at)) is not None:
                    digest_at = end  # a digest due in quiet hours waits for their end
                return "digest", digest_at.timestamp()
            if quiet_end is not None:
                return "quiet", quiet_end.timestamp()
        throttle = self.throttle_of(alert.rule_id)
        if throttle is None:
            return None
        key = (alert.rule_id, alert.channel)
        sent = self._sent.setdefault(key, deque())
        while sent and sent[0] <= now - throttle.per_s:
            sent.popleft()
        if len(sent) < throttle.max:
            sent.append(now)
            return None
        # Beyond the throttle: kept for one summary when the period that filled it ends.
        due = self._overflow_due.get(key, 0.0)
        if due <= now:
            due = self._overflow_due[key] = sent[0] + throttle.per_s
        return "throttle", due

    async def _hold(self, alert: Alert, reason: str, due: float) -> None:
        item = HeldAlert.of(alert, datetime.fromtimestamp(self.clock(), UTC))
        await self.held.hold(HeldRow(alert.channel, reason, int(due * 1000), item))
        await self._settle(alert, "held", reason)
        self.metrics.alerts.labels(alert.channel, "held").inc()
        log.info("alert_held", reason=reason, due=datetime.fromtimestamp(due, UTC).isoformat())

    async def _give_up(
        self, alert: Alert, reason: str, attempts: int, *, retriable: bool = True
    ) -> None:
        reason = redact(reason)
        body = {"alert": alert.to_dict(), "attempts": attempts}
        await dead_letter(
            self.bus, self.metrics, alert.id, body, reason, alert.channel, retriable=retriable
        )
        await self._settle(alert, "dead", reason)
        self.metrics.alerts.labels(alert.channel, "dead").inc()
        log.error("alert_dead_lettered", reason=reason, attempts=attempts)

    async def _settle(self, alert: Alert, status: str, reason: str | None) -> None:
        settlement = Settlement(
            alert_id=alert.id,
            rule_id=alert.rule_id,
            article_id=alert.article.id,
            channel=alert.channel,
            status=status,
            reason=reason,
        )
        if self.recent is not None:
            self.recent.settled(alert, status, reason, int(time.time() * 1000))
        try:
            await self.settlements.settle(settlement)
        except StorageFull:
            # Sent, but the disk is full: keep the settlement here (this process then never
            # sends the alert again) and write it once there is room; the batch is redone.
            self._unrecorded[alert.id] = settlement
            raise


def _elapsed() -> float:
    """Seconds on a clock that counts a suspended machine's sleep too (a frozen process's
    claim lapses in wall time; Linux's monotonic clock stops while the machine sleeps)."""
    return time.clock_gettime(BOOT_CLOCK) if BOOT_CLOCK is not None else time.monotonic()


BOOT_CLOCK = getattr(time, "CLOCK_BOOTTIME", None)


def channel_breakers(delivery: DeliveryConfig) -> Breakers:
    """A breaker per channel: down after `attempts` failures in a row, probed with the backoff."""
    return Breakers(
        lambda channel: Breaker(
            channel,
            down_after=delivery.attempts,
            backoff_s=delivery.backoff_s,
            max_backoff_s=delivery.max_backoff_s,
            max_asked_s=MAX_RETRY_AFTER_S,
        )
    )
