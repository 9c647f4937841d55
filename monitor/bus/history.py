"""Read what the bus has stored, without changing any state: for backtests and reports."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from monitor.bus.base import Record
from monitor.bus.kafka import client_options, topic_partitions
from monitor.bus.settings import BusPlace
from monitor.kernel.errors import BusError


async def stored_records(config: BusPlace, topic: str, since_s: float) -> list[Record]:
    """Every record of `topic` stored in the last `since_s` seconds, oldest first."""
    since_ms = int((time.time() - since_s) * 1000)
    if config.bus is None:
        return await asyncio.to_thread(_local_records, config, topic, since_ms)
    return await _kafka_records(config, topic, since_ms)


def _local_records(config: BusPlace, topic: str, since_ms: int) -> list[Record]:
    path = config.state_dir / "bus.db"
    if not path.exists():
        return []
    # Read-only: a backtest must not create, migrate or checkpoint the running service's log.
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT pos, key, value, ts_ms FROM records WHERE topic = ? AND ts_ms >= ? "
            "ORDER BY pos",
            (topic, since_ms),
        ).fetchall()
    except sqlite3.Error as exc:
        raise BusError(f"cannot read {path}: {exc}") from exc
    finally:
        db.close()
    return [Record(topic, 0, int(p), str(k), bytes(v), int(t)) for p, k, v, t in rows]


async def _kafka_records(config: BusPlace, topic: str, since_ms: int) -> list[Record]:
    assert config.bus is not None  # noqa: S101 - the caller checked
    options = client_options(config.bus)
    name = config.bus.topic_prefix + topic
    reader = AIOKafkaConsumer(**options, enable_auto_commit=False)  # no group: commits nothing
    try:
        await reader.start()
        tps = await topic_partitions(options, name)
        reader.assign(tps)
        starts = await reader.offsets_for_times(dict.fromkeys(tps, since_ms))
        ends = await reader.end_offsets(tps)
        for tp in tps:
            found = starts.get(tp)
            reader.seek(tp, found.offset if found is not None else ends[tp])
        records: list[Record] = []
        while [tp for tp in tps if await reader.position(tp) < ends[tp]]:
            batches = await reader.getmany(timeout_ms=1000)
            for tp, batch in batches.items():
                records += [
                    Record(
                        name,
                        tp.partition,
                        r.offset,
                        (r.key or b"").decode("utf-8", "replace"),
                        r.value or b"",
                        r.timestamp,
                    )
                    for r in batch
                    if r.offset < ends[tp]
                ]
    except KafkaError as exc:
        raise BusError(f"reading {name} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        await reader.stop()
    return sorted(records, key=lambda r: r.timestamp_ms)


def per_day(timestamps_ms: Sequence[int]) -> dict[str, int]:
    """How many timestamps fall on each UTC day, by date."""
    days: dict[str, int] = {}
    for ts in sorted(timestamps_ms):
        day = time.strftime("%Y-%m-%d", time.gmtime(ts / 1000))
        days[day] = days.get(day, 0) + 1
    return days
