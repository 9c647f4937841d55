"""The Kafka bus (aiokafka), plus the two things several processes must share through Kafka.

- `KafkaBus`: topics `<prefix>articles`, `<prefix>matches`, `<prefix>alerts.dlq`, created when
  missing. The producer uses acks=all and idempotence; records are keyed (articles by article
  id, matches by rule id), so one key always lands in one partition: all of a rule's matches
  meet in one dispatcher, which folds a story's copies without racing another. Consumers join
  `<prefix><group>` with manual commits only, and in a rebalance give partitions up once the
  batch in hand is committed. Until the broker answers, `start` waits (and `is_ready` says no);
  once started, `watch` probes the broker so `is_ready` follows it (`monitor.bus.probe`).
- `KafkaSettlements`: settled alerts in the compacted topic `<prefix>deliveries`, read in full by
  every dispatcher, so a record redelivered to another dispatcher is not alerted twice.
  `CompactedReader` reads such a topic; `monitor.stories.store` reads `<prefix>stories` with it.
- `KafkaLeases`: pollers join the group `<prefix>poller` on the empty topic
  `<prefix>poller.leases`; a feed belongs to the poller that holds partition crc32(id) mod N.
  Dispatchers' flushers do the same on `<prefix>flusher.leases` for channels' digests.
  When a poller dies, the group rebalances and its partitions, so its feeds, move.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import IllegalStateError, KafkaError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.metadata import MetadataRequest

from monitor.bus.base import (
    ALERT_HISTORY,
    ARTICLES,
    CLAIMS,
    CLAIMS_RETENTION_S,
    DELIVERIES,
    DLQ_DONE,
    FEED_HEALTH,
    FEEDBACK,
    FLUSHER_LEASES,
    HELD,
    HELD_RETENTION_S,
    HISTORY_RETENTION_S,
    MUTES,
    MUTES_RETENTION_S,
    POLLER_LEASES,
    STORIES,
    STORIES_RETENTION_S,
    TOPICS,
    Connection,
    Record,
)
from monitor.bus.probe import Link, describe, probe
from monitor.bus.settings import KafkaConfig
from monitor.kernel.errors import BusError
from monitor.kernel.lifecycle import Resource

log = structlog.get_logger("monitor.kafka")

CONNECT_BACKOFF_MAX_S = 10.0
# How long a member giving partitions up in a rebalance waits for the batch in hand to be done
# and committed; the broker waits REBALANCE_TIMEOUT_MS for it to rejoin.
HAND_OVER_TIMEOUT_S = 45.0
REBALANCE_TIMEOUT_MS = 60_000


def client_options(cfg: KafkaConfig) -> dict[str, Any]:
    """Connection options every aiokafka client of this bus shares."""
    options: dict[str, Any] = {
        "bootstrap_servers": cfg.bootstrap_servers,
        "client_id": cfg.client_id,
        "security_protocol": cfg.security_protocol,
    }
    if cfg.security_protocol in ("SSL", "SASL_SSL"):
        context = create_ssl_context(
            cafile=cfg.ssl_cafile, certfile=cfg.ssl_certfile, keyfile=cfg.ssl_keyfile
        )
        context.check_hostname = cfg.ssl_check_hostname
        options["ssl_context"] = context
    if cfg.sasl_mechanism:
        options.update(
            sasl_mechanism=cfg.sasl_mechanism,
            sasl_plain_username=cfg.sasl_username,
            sasl_plain_password=cfg.sasl_password,
        )
    return options


async def topic_partitions(options: dict[str, Any], topic: str) -> list[TopicPartition]:
    """Every partition of `topic`, from the broker (a new consumer knows no topic's partitions)."""
    admin = AIOKafkaAdminClient(**options, request_timeout_ms=10000)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = sorted(p["partition"] for p in described.get("partitions") or ())
    if described.get("error_code") or not partitions:
        raise BusError(
            f"topic {topic} has no partitions (error code {described.get('error_code')})"
        )
    return [TopicPartition(topic, p) for p in partitions]


class KafkaBus(Resource):
    """The `kafka` bus (see the module docstring)."""

    def __init__(self, cfg: KafkaConfig) -> None:
        self.cfg = cfg
        self.options = client_options(cfg)
        self._producer: AIOKafkaProducer | None = None
        self.link = Link()
        self._consumers: list[KafkaConsumer] = []

    def topic(self, name: str) -> str:
        """The full name of a topic."""
        return self.cfg.topic_prefix + name

    async def start(self) -> None:
        """Create missing topics and start the producer, waiting as long as the broker is away."""
        if self._producer is not None:
            return
        delay = 0.5
        while True:
            try:
                await self._ensure_topics()
                producer = AIOKafkaProducer(
                    **self.options,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=5,
                    request_timeout_ms=30000,
                )
                await producer.start()
            except KafkaError as exc:
                reason = describe(exc)
                self.link.down(reason)
                log.warning("kafka_unavailable", reason=reason, retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(CONNECT_BACKOFF_MAX_S, delay * 2)
                continue
            self._producer = producer
            self.link.up()
            log.info("kafka_connected", bootstrap=self.cfg.bootstrap_servers)
            return

    async def _ensure_topics(self) -> None:
        admin = AIOKafkaAdminClient(**self.options, request_timeout_ms=10000)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            rf = self.cfg.replication_factor
            wanted = [NewTopic(self.topic(t), self.cfg.partitions, rf) for t in TOPICS]
            wanted += [
                NewTopic(
                    self.topic(name),
                    self.cfg.partitions,
                    rf,
                    topic_configs={"cleanup.policy": "compact"},
                )
                for name in (DELIVERIES, DLQ_DONE, FEED_HEALTH, FEEDBACK)
            ]
            # Not compacted: a claim's winner is the first live claim of its key in the log.
            claims = {
                "cleanup.policy": "delete",
                "retention.ms": str(int(CLAIMS_RETENTION_S * 1000)),
            }
            wanted.append(
                NewTopic(self.topic(CLAIMS), self.cfg.partitions, rf, topic_configs=claims)
            )
            for name, retention_s in (
                (STORIES, STORIES_RETENTION_S),
                (HELD, HELD_RETENTION_S),
                (ALERT_HISTORY, HISTORY_RETENTION_S),
                (MUTES, MUTES_RETENTION_S),
            ):
                # Compacted to one record a key, and gone after the retention.
                configs = {
                    "cleanup.policy": "compact,delete",
                    "retention.ms": str(int(retention_s * 1000)),
                }
                wanted.append(
                    NewTopic(self.topic(name), self.cfg.partitions, rf, topic_configs=configs)
                )
            for leases in (POLLER_LEASES, FLUSHER_LEASES):
                wanted.append(NewTopic(self.topic(leases), self.cfg.poller_partitions, rf))
            missing = [t for t in wanted if t.name not in existing]
            if missing:
                # Several processes start at once: whoever comes second finds them made.
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(missing)
                log.info("kafka_topics_created", topics=[t.name for t in missing])
        finally:
            await admin.close()

    async def stop(self) -> None:
        """Close consumers (leaving their groups) and flush and close the producer."""
        for consumer in self._consumers:
            await consumer.close()
        self._consumers.clear()
        producer, self._producer = self._producer, None
        self.link.down("the bus is stopped", quiet=True)
        if producer is not None:
            await producer.stop()

    def is_ready(self) -> bool:
        """Connected: the broker answered the last probe or publish (`monitor.bus.probe`)."""
        return self.link.connected

    def connection(self) -> Connection:
        """Whether the broker answers, since when, and the last error."""
        return self.link.connection()

    async def watch(self, stop: asyncio.Event) -> None:
        """Probe the broker until `stop`, so `is_ready` follows it (`monitor.bus.probe`)."""
        await probe(self.ask, self.link, stop)

    async def ask(self) -> None:
        """Ask a broker for the articles topic's metadata, through the producer's client; any
        answer will do. Each known broker is asked in turn until one answers."""
        if self._producer is None:
            raise BusError("the Kafka bus is not started")
        client = self._producer.client
        nodes = sorted(b.nodeId for b in client.cluster.brokers())
        if not nodes:
            raise BusError("no broker known")
        request = MetadataRequest([self.topic(ARTICLES)], allow_auto_topic_creation=False)
        failed: KafkaError | None = None
        for node in nodes:
            try:
                await client.send(node, request)
            except KafkaError as exc:
                failed = exc
            else:
                return
        raise BusError(f"no broker answered: {describe(failed)}" if failed else "no answer")

    async def publish(self, topic: str, items: Sequence[tuple[str, bytes]]) -> None:
        """Send keyed records and wait until the broker has them all (acks=all)."""
        if not items:
            return
        if self._producer is None:
            raise BusError("the Kafka bus is not started")
        name = self.topic(topic)
        try:
            sent = [
                await self._producer.send(name, value, key=key.encode()) for key, value in items
            ]
            await asyncio.gather(*sent)
        except KafkaError as exc:
            error = BusError(f"publishing to {name} failed: {describe(exc)}")
            self.link.down(str(error))
            raise error from exc
        self.link.up()

    def consumer(self, topic: str, group: str) -> KafkaConsumer:
        """Join `<prefix><group>` on `topic`."""
        consumer = KafkaConsumer(self, self.topic(topic), self.topic(group))
        self._consumers.append(consumer)
        return consumer

    async def count(self, topic: str) -> int:
        """Records a topic holds now (end minus beginning offsets, over its partitions)."""
        reader = AIOKafkaConsumer(**self.options, enable_auto_commit=False)
        await reader.start()
        try:
            tps = await topic_partitions(self.options, self.topic(topic))
            ends = await reader.end_offsets(tps)
            begins = await reader.beginning_offsets(tps)
            return sum(ends[tp] - begins[tp] for tp in tps)
        finally:
            await reader.stop()


class KafkaConsumer:
    """A consumer-group member on one topic, with manual commits.

    A batch fetched is "in hand" until it is committed or rewound. In a rebalance this member
    gives its partitions up only once the batch in hand is done (or HAND_OVER_TIMEOUT_S has
    passed): otherwise the next owner starts from the last commit and redoes work still under
    way here, and a dispatcher's alert not yet settled would be sent twice.
    """

    def __init__(self, bus: KafkaBus, topic: str, group: str) -> None:
        self.bus = bus
        self.topic = topic
        self.group = group
        self._consumer: AIOKafkaConsumer | None = None
        self._committed: dict[int, int] = {}
        self._hand_empty = asyncio.Event()
        self._hand_empty.set()

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                **self.bus.options,
                group_id=self.group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=10000,
                heartbeat_interval_ms=2000,
                max_poll_interval_ms=300000,
                rebalance_timeout_ms=REBALANCE_TIMEOUT_MS,
            )
            consumer.subscribe([self.topic], listener=_HandOver(self))
            try:
                await consumer.start()
            except KafkaError as exc:
                raise BusError(f"joining {self.group} on {self.topic} failed: {exc}") from exc
            self._consumer = consumer
        return self._consumer

    async def fetch(self, max_records: int, timeout_s: float) -> list[Record]:
        """The next records from the partitions this member holds."""
        consumer = await self._started()
        try:
            batches = await consumer.getmany(
                timeout_ms=int(timeout_s * 1000), max_records=max_records
            )
        except KafkaError as exc:
            raise BusError(
                f"fetching from {self.topic} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if batches:
            self._hand_empty.clear()
        return [
            Record(
                self.topic,
                tp.partition,
                r.offset,
                (r.key or b"").decode("utf-8", "replace"),  # any producer may write the key
                r.value or b"",
                r.timestamp,
            )
            for tp, records in batches.items()
            for r in records
        ]

    async def commit(self, records: Sequence[Record]) -> None:
        """Commit, per partition, past the last of `records`; the batch is then out of hand."""
        try:
            await self._commit(records)
        finally:
            self._hand_empty.set()

    async def _commit(self, records: Sequence[Record]) -> None:
        if not records or self._consumer is None:
            return
        offsets: dict[int, int] = {}
        for r in records:
            offsets[r.partition] = max(offsets.get(r.partition, 0), r.offset + 1)
        held = {tp.partition for tp in self._consumer.assignment()}
        moved = sorted(set(offsets) - held)
        if moved:
            # A rebalance moved them: their new owner starts from their last commit and redoes
            # this work (at least once); committing them is no longer ours to do.
            log.info("commit_skipped_for_moved_partitions", group=self.group, partitions=moved)
        offsets = {p: o for p, o in offsets.items() if p in held}
        if not offsets:
            return
        try:
            await self._consumer.commit(
                {TopicPartition(self.topic, p): o for p, o in offsets.items()}
            )
        except KafkaError as exc:
            # A rebalance took the partitions: their new owner starts from the last commit.
            raise BusError(f"commit to {self.group} failed: {type(exc).__name__}: {exc}") from exc
        self._committed.update(offsets)

    async def rewind(self) -> None:
        """Seek every held partition back to its committed offset; the batch is out of hand."""
        self._hand_empty.set()
        if self._consumer is None:
            return
        for tp in self._consumer.assignment():
            try:
                committed = await self._consumer.committed(tp)
            except KafkaError:
                committed = None
            try:
                if committed is None:
                    await self._consumer.seek_to_beginning(tp)
                else:
                    self._consumer.seek(tp, committed)
            except IllegalStateError:
                # A rebalance took the partition while its offset was asked for (the failed
                # commit that made us rewind is often the sign of one): its new owner starts
                # from the commit, so there is nothing left to rewind here.
                log.info("rewind_skipped_for_moved_partition", group=self.group, tp=str(tp))

    async def partition_lag(self) -> dict[int, int]:
        """End of each held partition minus what the group committed there."""
        if self._consumer is None:
            return {}
        lags = {}
        for tp in self._consumer.assignment():
            end = self._consumer.highwater(tp)
            if end is None:
                continue
            done = self._committed.get(tp.partition)
            if done is None:
                done = await self._consumer.position(tp)
            lags[tp.partition] = max(0, end - done)
        return lags

    async def lag(self) -> int:
        """The sum of `partition_lag`."""
        return sum((await self.partition_lag()).values())

    async def hand_over(self, revoked: set[int]) -> None:
        """Called as a rebalance takes `revoked`: wait until the batch in hand is done."""
        deadline = time.monotonic() + HAND_OVER_TIMEOUT_S
        while not self._hand_empty.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                # Its commit will fail and the next owner redo it: at least once, as before.
                log.warning(
                    "hand_over_before_batch_done",
                    group=self.group,
                    partitions=sorted(revoked),
                    waited_s=HAND_OVER_TIMEOUT_S,
                )
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hand_empty.wait(), left)
        self._committed = {p: o for p, o in self._committed.items() if p not in revoked}

    async def close(self) -> None:
        """Leave the group."""
        self._hand_empty.set()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()


class _HandOver(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: KafkaConsumer) -> None:
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.consumer.hand_over({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info(
            "partitions_assigned",
            group=self.consumer.group,
            partitions=sorted(tp.partition for tp in assigned),
        )
