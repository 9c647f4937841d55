"""Watching feeds' health and telling the `health.notify` channels (see `feeds.health`).

The poller reports every poll here (in memory: a poll never waits on a health channel); a loop
tells what changed every few seconds, time-based states included (failing longer than
`failing_after`, silent longer than `expect_every`). Each feed's health is
stored (state.db, or the compacted topic `<prefix>feed.health` on Kafka, so a feed whose lease
moves to another poller keeps its history), after its event is sent: nothing is repeated
across restarts, and a crash between sending and storing sends it again under the same id.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Protocol

import structlog

from monitor.alerts.channels import Sender
from monitor.alerts.retrying import send_or_dead_letter
from monitor.alerts.settings import DeliveryConfig
from monitor.bus.badrecords import skip_bad
from monitor.bus.base import FEED_HEALTH, Bus
from monitor.bus.compacted import CompactedReader
from monitor.bus.kafka import KafkaBus
from monitor.feeds.health import FAILING, RECOVERED, SILENT, Health, HealthEvent, due, observed
from monitor.feeds.settings import HealthConfig
from monitor.feeds.spec import FeedSpec
from monitor.kernel.metrics import Metrics
from monitor.kernel.models import Alert, Settlement, alert_id, make_article
from monitor.kernel.records import BadRecord, Fields, load_json
from monitor.kernel.waiting import sleep_or_stop
from monitor.store.state import StateStore

log = structlog.get_logger("monitor.health")
CHECK_EVERY_S = 5.0
SEVERITY = {FAILING: "high", SILENT: "medium", RECOVERED: "info"}
RULE_ID = "feed-health"
OK_RESULTS = frozenset({"ok", "not_modified"})
NOT_THE_FEEDS_FAULT = frozenset({"bus_error", "storage_full"})


class HealthStore(Protocol):
    """Where each feed's health is kept."""

    async def load(self) -> dict[str, Health]:
        """Every feed's health, as stored now."""
        ...

    async def save(self, health: Health) -> None:
        """Store one feed's health."""
        ...


def _encode(health: Health) -> str:
    return json.dumps(asdict(health))


def _decode(text: str | bytes) -> Health:
    """A stored health record; raise BadRecord."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    f = Fields(load_json(raw, "feed health"), "feed health", "health")
    return Health(
        feed_id=f.text("feed_id"),
        last_new_ms=f.integer("last_new_ms"),
        failing_since_ms=f.opt_integer("failing_since_ms"),
        reason=f.text("reason", ""),
        alerted=f.text("alerted", ""),
        alerted_since_ms=f.integer("alerted_since_ms", default=0),
    )


class LocalHealthStore:
    """The `feed_health` table of state.db."""

    def __init__(self, state: StateStore, metrics: Metrics | None = None) -> None:
        self.file = state.file
        self.metrics = metrics

    async def load(self) -> dict[str, Health]:
        """Every row."""
        rows = await self.file.run(
            lambda: self.file.conn().execute("SELECT feed_id, health FROM feed_health").fetchall()
        )
        found = {}
        for feed, text in rows:
            try:
                found[str(feed)] = _decode(text)
            except BadRecord as exc:
                skip_bad(exc, "feed_health", str(feed).encode(), self.metrics)
        return found

    async def save(self, health: Health) -> None:
        """Insert or replace the feed's row."""
        await self.file.write(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO feed_health (feed_id, health) VALUES (?, ?)",
                (health.feed_id, _encode(health)),
            )
        )


class KafkaHealthStore:
    """`<prefix>feed.health`, keyed by feed id, read in full by every poller."""

    def __init__(self, bus: KafkaBus, metrics: Metrics | None = None) -> None:
        self.bus = bus
        self.metrics = metrics
        self.reader = CompactedReader(bus, FEED_HEALTH)
        self._known: dict[str, Health] = {}

    async def start(self) -> None:
        """Read from the beginning."""
        await self.reader.start()

    async def stop(self) -> None:
        """Stop reading."""
        await self.reader.stop()

    async def load(self) -> dict[str, Health]:
        """What every poller stored, up to now."""
        for key, value in await self.reader.read_to_end():
            try:
                self._known[key.decode("utf-8", "replace")] = _decode(value)
            except BadRecord as exc:
                skip_bad(exc, FEED_HEALTH, key, self.metrics)
        return dict(self._known)

    async def save(self, health: Health) -> None:
        """Publish the feed's health."""
        await self.bus.publish(FEED_HEALTH, [(health.feed_id, _encode(health).encode())])
        self._known[health.feed_id] = health


class FeedWatch:
    """Keeps feeds' health and alerts about it (see the module docstring)."""

    def __init__(
        self,
        *,
        config: HealthConfig,
        store: HealthStore,
        senders: Mapping[str, Sender],
        state: StateStore,
        bus: Bus,
        metrics: Metrics,
        delivery: DeliveryConfig,
        clock: Callable[[], float],
        owns: Callable[[str], bool] = lambda _: True,
    ) -> None:
        self.config = config
        self.store = store
        self.senders = senders
        self.state = state
        self.bus = bus
        self.metrics = metrics
        self.delivery = delivery
        self.clock = clock
        self.owns = owns
        self.feeds: dict[str, FeedSpec] = {}
        self._health: dict[str, Health] = {}
        self._stored: dict[str, Health] = {}  # as last saved, to save only what changed

    def set_feeds(self, feeds: Mapping[str, FeedSpec]) -> None:
        """The feeds to watch (enabled ones, after each reload)."""
        self.feeds = {k: f for k, f in feeds.items() if f.enabled}

    def observe(self, feed: FeedSpec, result: str, new: int, reason: str) -> None:
        """Note one poll's outcome (the loop tells what it changed: a poll never waits for a
        health channel)."""
        if result in NOT_THE_FEEDS_FAULT:
            return
        now_ms = self._now_ms()
        health = self._health.get(feed.id) or Health(feed_id=feed.id, last_new_ms=now_ms)
        ok = result in OK_RESULTS
        self._health[feed.id] = observed(
            health, ok=ok, new=new, reason=reason or result, now_ms=now_ms
        )

    async def load(self) -> None:
        """Take up what is stored (before the first poll: a poll's news builds on it)."""
        self._health.update(await self.store.load())
        self._stored.update(self._health)

    async def run(self, stop: asyncio.Event) -> None:
        """Tell the health channels what changed, every CHECK_EVERY_S, until `stop`."""
        while not await sleep_or_stop(stop, CHECK_EVERY_S):
            try:
                await self.check()
            except Exception:  # a top-level loop: log and go on
                log.exception("feed_health_check_failed")

    async def check(self) -> None:
        """Take up other pollers' records (Kafka), then tell and store each owned feed's news."""
        for feed_id, health in (await self.store.load()).items():
            if not self.owns(feed_id) or feed_id not in self._health:
                self._health[feed_id] = health  # another poller's, or new to this one
        for feed in list(self.feeds.values()):
            if self.owns(feed.id):
                await self._check(feed, self._now_ms())

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def _check(self, feed: FeedSpec, now_ms: int) -> None:
        health = self._health.setdefault(feed.id, Health(feed_id=feed.id, last_new_ms=now_ms))
        after, event = due(
            health,
            failing_after_s=self.config.failing_after_s,
            expect_every_s=feed.expect_every_s,
            now_ms=now_ms,
        )
        if event is not None:
            await self._tell(event, feed)
        # Polls seen while telling are kept; what was told is added to them.
        current = replace(
            self._health[feed.id], alerted=after.alerted, alerted_since_ms=after.alerted_since_ms
        )
        if current != self._stored.get(feed.id):
            await self.store.save(current)
            self._stored[feed.id] = current
        self._health[feed.id] = current

    async def _tell(self, event: HealthEvent, feed: FeedSpec) -> None:
        log.warning(
            "feed_health", feed=feed.id, state=event.kind, reason=event.reason, alert_id=event.id
        )
        for channel in self.config.notify:
            alert = health_alert(event, feed, channel)
            await self._deliver(alert)

    async def _deliver(self, alert: Alert) -> None:
        sender = self.senders[alert.channel]
        outcome = await send_or_dead_letter(sender, alert, self.delivery, self.bus, self.metrics)
        if outcome.delivered:
            await self._settle(alert, "delivered", None)
            return
        await self._settle(alert, "dead", outcome.reason)
        log.error("feed_health_alert_dead_lettered", reason=outcome.reason, channel=alert.channel)

    async def _settle(self, alert: Alert, status: str, reason: str | None) -> None:
        await self.state.settle(
            Settlement(
                alert_id=alert.id,
                rule_id=RULE_ID,
                article_id=alert.article.id,
                channel=alert.channel,
                status=status,
                reason=reason,
            )
        )


def duration(seconds: float) -> str:
    """`2d 3h`, `1h 5m`, `45m`, `30s`: the two largest units."""
    s = int(max(0, seconds))
    parts = [(s // 86400, "d"), (s % 86400 // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n]
    return " ".join(shown[:2]) or "0s"


def health_alert(event: HealthEvent, feed: FeedSpec, channel: str) -> Alert:
    """The alert a health event gives on one channel: its title says what happened."""
    lasted = duration((event.at_ms - event.since_ms) / 1000)
    if event.kind == FAILING:
        title = f"Feed {feed.id} has been failing for {lasted}: {event.reason}"
    elif event.kind == SILENT:
        every = duration(feed.expect_every_s or 0)
        title = f"Feed {feed.id} has published nothing for {lasted} (expected every {every})"
    else:
        again = "fetches" if event.reason == FAILING else "publishes"
        title = f"Feed {feed.id} has recovered: it {again} again, after {lasted}"
    at = datetime.fromtimestamp(event.at_ms / 1000, UTC)
    article = make_article(
        id=event.id, feed=feed.id, url=feed.url, title=title, published=at, fetched_at=at
    )
    since = datetime.fromtimestamp(event.since_ms / 1000, UTC).isoformat()
    return Alert(
        id=alert_id(RULE_ID, event.id, channel),
        channel=channel,
        rule_id=RULE_ID,
        description="Feed health",
        severity=SEVERITY[event.kind],
        article=article,
        evidence=(),
        health={"feed": feed.id, "state": event.kind, "since": since, "reason": event.reason},
    )
