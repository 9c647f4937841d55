"""What differs between the two buses, chosen once: the stores each role keeps and the upkeep.

On the local bus the stores are tables in state.db and the process owns every feed and channel;
on Kafka they are compacted topics that several processes share, with leases saying who polls a
feed and who flushes a channel, and claims saying who sends an alert. The service asks its
`Wiring` and never tests which bus it runs on.
"""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import AsyncExitStack
from typing import Protocol, TypeVar

import structlog

from monitor.alerts.claims import Claims, KafkaClaims, LocalClaims
from monitor.alerts.dispatch import Settlements
from monitor.alerts.feedback import Feedback, KafkaFeedback, LocalFeedback
from monitor.alerts.feedwatch import HealthStore, KafkaHealthStore, LocalHealthStore
from monitor.alerts.held import Held, HeldStore, KafkaHeldStore
from monitor.alerts.history import AlertHistory, KafkaHistoryStore, LocalHistoryStore
from monitor.alerts.mutes import KafkaSilences, LocalSilences, Mutes
from monitor.bus.compacted import KafkaSettlements
from monitor.bus.kafka import KafkaBus
from monitor.bus.leases import KafkaLeases
from monitor.bus.local import LocalBus
from monitor.feeds.poller import AllFeeds, Leases
from monitor.kernel.errors import StorageFull
from monitor.kernel.metrics import Metrics
from monitor.kernel.waiting import sleep_or_stop
from monitor.service.config import Config
from monitor.store.sqlite import SqliteFile
from monitor.store.state import StateStore
from monitor.store.storage import check_history
from monitor.stories.store import KafkaStoryLog, LocalStoryLog, StoryLog

log = structlog.get_logger("monitor.service")

PRUNE_INTERVAL_S = 3600.0
S = TypeVar(
    "S",
    KafkaSettlements,
    KafkaHeldStore,
    KafkaStoryLog,
    KafkaHealthStore,
    KafkaClaims,
    KafkaHistoryStore,
    KafkaSilences,
    KafkaFeedback,
)


class Lease(Protocol):
    """Who holds a name among the processes sharing the work (a feed, a channel)."""

    def owns(self, name: str) -> bool:
        """Whether this process holds `name` now."""
        ...


class Wiring(Protocol):
    """The bus and the stores of one kind of bus."""

    bus: LocalBus | KafkaBus

    def files(self, state: StateStore) -> list[SqliteFile]:
        """The SQLite files this process writes (watched for a full disk)."""
        ...

    async def check(self, state: StateStore) -> None:
        """Refuse to start on a state that does not belong with this bus."""
        ...

    async def stores_state(self, stack: AsyncExitStack, state: StateStore) -> None:
        """Open `state` (closed with `stack`) if this bus keeps its stores there: a command
        that only reads and writes the stores (`monitor dlq`) needs no state.db on Kafka."""
        ...

    async def settlements(self, stack: AsyncExitStack, state: StateStore) -> Settlements:
        """Where each alert's delivery is settled."""
        ...

    async def held(self, stack: AsyncExitStack, state: StateStore) -> Held:
        """Where alerts wait for a digest, quiet hours or their channel."""
        ...

    async def story_log(self, stack: AsyncExitStack, state: StateStore) -> StoryLog:
        """Where story members are kept across restarts."""
        ...

    async def history(self, stack: AsyncExitStack, state: StateStore) -> AlertHistory:
        """The alert history (one a process; its queued writes drained as `stack` closes)."""
        ...

    async def silences(self, stack: AsyncExitStack, state: StateStore) -> Mutes:
        """The watches' silences (one a process)."""
        ...

    async def health_store(self, stack: AsyncExitStack, state: StateStore) -> HealthStore:
        """Where each feed's health is kept."""
        ...

    async def feedback(self, stack: AsyncExitStack, state: StateStore) -> Feedback:
        """The analysts' verdicts on alerts."""
        ...

    async def claims(self, stack: AsyncExitStack, state: StateStore) -> Claims:
        """Who is sending which alert now."""
        ...

    def dispatcher_claims(self, claims: Claims) -> Claims | None:
        """The claims the dispatcher takes before it sends (None: it is the only one)."""
        ...

    def poller_leases(self) -> Leases:
        """Which feeds this process polls."""
        ...

    def flusher_lease(self) -> Lease:
        """Which channels' held alerts this process flushes."""
        ...

    async def upkeep(self, stop: asyncio.Event) -> None:
        """The bus's own loop until `stop`: the broker probe, or the local log's pruning."""
        ...


class LocalWiring:
    """The embedded bus: every store in state.db; this process does all the work."""

    def __init__(self, config: Config, metrics: Metrics) -> None:
        self.bus = LocalBus(config.state_dir / "bus.db")
        self.retention_s = config.retention_s
        self.metrics = metrics
        self._history: AlertHistory | None = None
        self._silences: Mutes | None = None

    def files(self, state: StateStore) -> list[SqliteFile]:
        """state.db and bus.db."""
        return [state.file, self.bus.file]

    async def check(self, state: StateStore) -> None:
        """The bus log and the state must be the same history (`check_history`)."""
        await check_history(state.file, self.bus.file)

    async def stores_state(self, stack: AsyncExitStack, state: StateStore) -> None:
        """Open state.db: the stores are its tables."""
        await stack.enter_async_context(state)

    async def settlements(self, stack: AsyncExitStack, state: StateStore) -> Settlements:
        """state.db's deliveries table."""
        return state

    async def held(self, stack: AsyncExitStack, state: StateStore) -> Held:
        """state.db's held table."""
        return HeldStore(state)

    async def story_log(self, stack: AsyncExitStack, state: StateStore) -> StoryLog:
        """state.db's story members."""
        return LocalStoryLog(state)

    async def history(self, stack: AsyncExitStack, state: StateStore) -> AlertHistory:
        """state.db's alert history."""
        if self._history is None:
            self._history = AlertHistory(LocalHistoryStore(state))
            stack.push_async_callback(self._history.drain)
        return self._history

    async def silences(self, stack: AsyncExitStack, state: StateStore) -> Mutes:
        """state.db's silences."""
        if self._silences is None:
            self._silences = Mutes(LocalSilences(state))
            await self._silences.refresh(force=True)
        return self._silences

    async def feedback(self, stack: AsyncExitStack, state: StateStore) -> Feedback:
        """state.db's verdicts."""
        return Feedback(LocalFeedback(state))

    async def health_store(self, stack: AsyncExitStack, state: StateStore) -> HealthStore:
        """state.db's feed health."""
        return LocalHealthStore(state, self.metrics)

    async def claims(self, stack: AsyncExitStack, state: StateStore) -> Claims:
        """state.db's claims (the DLQ retry and the flusher share them)."""
        return LocalClaims(state)

    def dispatcher_claims(self, claims: Claims) -> Claims | None:
        """None: one dispatcher sends, and redelivered work is settled already."""
        return None

    def poller_leases(self) -> Leases:
        """Every feed."""
        return AllFeeds()

    def flusher_lease(self) -> Lease:
        """Every channel."""
        return AllFeeds()

    async def upkeep(self, stop: asyncio.Event) -> None:
        """Keep the local log to its retention (the backtest window), hourly."""
        while True:
            try:
                deleted = await self.bus.prune(self.retention_s)
            except (sqlite3.Error, StorageFull):  # keeping more harms nothing: retry later
                log.exception("bus_prune_failed")
            else:
                if deleted:
                    log.info("bus_pruned", records=deleted, retention_s=self.retention_s)
            if await sleep_or_stop(stop, PRUNE_INTERVAL_S):
                return


class KafkaWiring:
    """Kafka: every store a compacted topic the processes share; leases and claims split work."""

    def __init__(self, config: Config, metrics: Metrics) -> None:
        assert config.bus is not None  # noqa: S101 - make_wiring chose by it
        self.bus = KafkaBus(config.bus)
        self.metrics = metrics
        self._poller_leases: KafkaLeases | None = None
        self._flusher_lease: KafkaLeases | None = None
        self._history: AlertHistory | None = None
        self._silences: Mutes | None = None

    def files(self, state: StateStore) -> list[SqliteFile]:
        """state.db only: the log is the broker's."""
        return [state.file]

    async def check(self, state: StateStore) -> None:
        """Nothing: on Kafka, settlements dedupe redelivered work."""

    async def stores_state(self, stack: AsyncExitStack, state: StateStore) -> None:
        """Nothing: the stores are topics."""

    async def _started(self, stack: AsyncExitStack, store: S) -> S:
        await store.start()
        stack.push_async_callback(store.stop)
        return store

    async def settlements(self, stack: AsyncExitStack, state: StateStore) -> Settlements:
        """The `deliveries` topic."""
        return await self._started(stack, KafkaSettlements(self.bus, self.metrics))

    async def held(self, stack: AsyncExitStack, state: StateStore) -> Held:
        """The `held` topic."""
        return await self._started(stack, KafkaHeldStore(self.bus, self.metrics))

    async def story_log(self, stack: AsyncExitStack, state: StateStore) -> StoryLog:
        """The story members' topic."""
        return await self._started(stack, KafkaStoryLog(self.bus, self.metrics))

    async def history(self, stack: AsyncExitStack, state: StateStore) -> AlertHistory:
        """The `alerts.history` topic, read by any process."""
        if self._history is None:
            store = await self._started(stack, KafkaHistoryStore(self.bus, self.metrics))
            self._history = AlertHistory(store)
            stack.push_async_callback(self._history.drain)
        return self._history

    async def silences(self, stack: AsyncExitStack, state: StateStore) -> Mutes:
        """The `mutes` topic, read by every dispatcher."""
        if self._silences is None:
            store = await self._started(stack, KafkaSilences(self.bus, self.metrics))
            self._silences = Mutes(store)
            await self._silences.refresh(force=True)
        return self._silences

    async def feedback(self, stack: AsyncExitStack, state: StateStore) -> Feedback:
        """The `feedback` topic, read by any process."""
        return Feedback(await self._started(stack, KafkaFeedback(self.bus, self.metrics)))

    async def health_store(self, stack: AsyncExitStack, state: StateStore) -> HealthStore:
        """The feed health topic."""
        return await self._started(stack, KafkaHealthStore(self.bus, self.metrics))

    async def claims(self, stack: AsyncExitStack, state: StateStore) -> Claims:
        """The claims topic."""
        return await self._started(stack, KafkaClaims(self.bus, metrics=self.metrics))

    def dispatcher_claims(self, claims: Claims) -> Claims | None:
        """Several dispatchers claim what they send, under their own name, so this process's
        flusher cannot take a claim of the dispatcher's for its own."""
        return claims.holder("dispatcher")

    def poller_leases(self) -> KafkaLeases:
        """The pollers share the feeds by lease (one lease set a process)."""
        if self._poller_leases is None:
            self._poller_leases = KafkaLeases(self.bus)
        return self._poller_leases

    def flusher_lease(self) -> KafkaLeases:
        """The flushers share the channels by lease (one lease set a process)."""
        if self._flusher_lease is None:
            self._flusher_lease = KafkaLeases(self.bus, "flusher")
        return self._flusher_lease

    async def upkeep(self, stop: asyncio.Event) -> None:
        """Readiness follows the broker, and the leases are kept."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.bus.watch(stop), name="bus-probe")
            for lease in (self._poller_leases, self._flusher_lease):
                if lease is not None:
                    tg.create_task(lease.run(stop), name=f"{lease.group}-leases")


def make_wiring(config: Config, metrics: Metrics) -> LocalWiring | KafkaWiring:
    """The wiring of the bus `config` names: the one place that asks which bus it is."""
    if config.bus is None:
        return LocalWiring(config, metrics)
    return KafkaWiring(config, metrics)
