"""What a consumer does with a record it cannot use: log it once, count it, dead-letter it.

The record's offset is then committed with its batch's, so one bad record never stops a batch
or a task (see `monitor.kernel.records`). The dead letter keeps where the record was and the start
of its bytes; `monitor dlq list` shows it (kind "record", channel "-") and `monitor dlq drop`
closes it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import structlog

from monitor.bus.base import DLQ, Bus, Record
from monitor.kernel.metrics import Metrics
from monitor.kernel.records import BadRecord, raw_excerpt

log = structlog.get_logger("monitor.records")
NO_CHANNEL = "-"  # the DLQ's channel label for what is not an alert


def letter_key(record: Record) -> str:
    """The dead letter's key: where the record is (one letter per record, however often it
    is read again)."""
    return f"{record.topic}:{record.partition}:{record.offset}"


async def reject_record(
    bus: Bus, metrics: Metrics, topic: str, record: Record, exc: BadRecord
) -> None:
    """Log, count and dead-letter one record that could not be decoded; `topic`: its topic's
    name without a Kafka prefix (the metric's label)."""
    metrics.bad_records.labels(topic).inc()
    where = letter_key(record)
    log.error(_event(exc), topic=record.topic, partition=record.partition, offset=record.offset,
              key=record.key[:200], reason=exc.reason)  # fmt: skip
    body = {
        "record": {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "key": record.key[:200],
            "bytes": len(record.value),
        },
        "raw": raw_excerpt(record.value),
        "reason": f"{exc} (at {where})",
        "failed_at": datetime.now(UTC).isoformat(),
    }
    await bus.publish(DLQ, [(where, json.dumps(body, ensure_ascii=False).encode())])
    metrics.dlq_size.labels(NO_CHANNEL).inc()


def skip_bad(exc: BadRecord, topic: str, key: bytes, metrics: Metrics | None) -> None:
    """Log and count a record of a compacted topic (settlements, stories, held alerts, feed
    health) that cannot be used: it is skipped, and stays on its topic until a good record of
    its key replaces it; the reader goes on."""
    if metrics is not None:
        metrics.bad_records.labels(topic).inc()
    name = key[:200].decode("utf-8", "replace")
    log.error(_event(exc), topic=topic, key=name, reason=exc.reason)


def _event(exc: BadRecord) -> str:
    """The log event of a bad record: `bad_article_record`, `bad_match_record`, ..."""
    return f"bad_{exc.kind.replace(' ', '_')}_record"
