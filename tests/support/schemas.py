"""The published shapes (docs/schemas/) held against what the tests make monitor produce.

Every generic webhook body a test's `Receiver` gets, and every `articles` and `matches` record
in a test's embedded bus (state/bus.db under its tmp_path) or on the Kafka topics its monitor
configs name (read back with the backtest's reader), is validated; the autouse fixture in
conftest.py fails the test on any mismatch. So a change of shape fails the suite unless the
schema (and, if it breaks consumers, SCHEMA_VERSION) changes with it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
TOPICS = {"articles": "article", "matches": "match"}
MAX_RECORDS = 2000  # per bus file: enough to see every shape a test makes
_errors: list[str] = []


@cache
def validator(name: str) -> Draft202012Validator:
    """The validator of docs/schemas/NAME.schema.json."""
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def problems(name: str, data: Any) -> list[str]:
    """Why `data` is not a valid NAME record, one line per problem (none when valid)."""
    return [
        f"{name}: {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in validator(name).iter_errors(data)
    ]


def check_body(body: bytes) -> None:
    """Validate a body a webhook receiver got, if it is the generic webhook's (templated and
    chat bodies have their own shapes)."""
    try:
        data = json.loads(body)
    except ValueError:
        return
    if not isinstance(data, dict):
        return
    if data.get("specversion") is not None:
        _errors.extend(cloudevent_problems(data))
        data = data.get("data")
        if not isinstance(data, dict):
            return
    if data.get("event") in ("alert", "feed_health") and "alert_id" in data:
        _errors.extend(problems("alert", data))
    elif data.get("event") in ("digest", "summary") and "rules" in data:
        _errors.extend(problems("digest", data))


def cloudevent_problems(event: dict[str, Any]) -> list[str]:
    """What a structured-mode CloudEvents 1.0 JSON event lacks (the spec's required context
    attributes and the types of the optional ones monitor sets)."""
    found = []
    if event.get("specversion") != "1.0":
        found.append(f"cloudevent: specversion {event.get('specversion')!r} is not '1.0'")
    for key in ("id", "source", "type"):
        if not isinstance(event.get(key), str) or not event[key]:
            found.append(f"cloudevent: {key} must be a non-empty string")
    if "time" in event:
        try:
            datetime.fromisoformat(str(event["time"]))
        except ValueError:
            found.append(f"cloudevent: time {event['time']!r} is not RFC 3339")
    if event.get("datacontenttype") != "application/json":
        found.append("cloudevent: datacontenttype must be application/json")
    if not str(event.get("type", "")).startswith("org.monitor."):
        found.append(f"cloudevent: type {event.get('type')!r} is not org.monitor.*")
    return found


def check_buses(root: Path) -> list[str]:
    """Problems of the articles and matches records in every monitor state directory's bus.db
    under `root` (one beside a state.db)."""
    found: list[str] = []
    for path in root.rglob("bus.db"):
        if not (path.parent / "state.db").exists():
            continue  # a bus test's own records, not a monitor's state directory
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = db.execute(
                "SELECT topic, value FROM records WHERE topic IN ('articles', 'matches') LIMIT ?",
                (MAX_RECORDS,),
            ).fetchall()
        except sqlite3.Error:
            continue  # not a finished bus file (a test of a broken disk, say)
        finally:
            db.close()
        for topic, value in rows:
            try:
                data = json.loads(value)
            except ValueError as exc:
                found.append(f"{path}: {topic}: not JSON: {exc}")
                continue
            found.extend(f"{path}: {p}" for p in problems(TOPICS[topic], data))
    return found


def check_kafka(root: Path) -> list[str]:
    """Problems of the articles and matches records on the Kafka topics of every monitor config
    (a YAML file with a Kafka bus) directly in `root`; a broker that is gone is not read."""
    from monitor.bus.history import stored_records
    from monitor.kernel.errors import BusError, ConfigError
    from monitor.service.config import load_config

    found: list[str] = []
    seen: set[tuple[str, str]] = set()
    for path in sorted(root.glob("*.yaml")):
        if "kind: kafka" not in path.read_text(errors="replace"):
            continue
        try:
            config = load_config(os.environ, path)
        except ConfigError:
            continue  # a test of a broken config
        if config.bus is None or (config.bus.bootstrap_servers, config.bus.topic_prefix) in seen:
            continue
        seen.add((config.bus.bootstrap_servers, config.bus.topic_prefix))
        for topic, name in TOPICS.items():
            with ThreadPoolExecutor(1) as thread:  # a loop of its own, whatever the test ran
                reading = thread.submit(asyncio.run, stored_records(config, topic, 86400))
                try:
                    records = reading.result(timeout=60)
                except BusError:
                    continue  # the test stopped its broker
            for record in records[:MAX_RECORDS]:
                try:
                    data = json.loads(record.value)
                except ValueError as exc:
                    found.append(f"{path}: {topic}: not JSON: {exc}")
                    continue
                found.extend(f"{path}: {record.topic}: {p}" for p in problems(name, data))
    return found


def take_errors() -> list[str]:
    """The body problems seen since the last call."""
    errors = list(_errors)
    _errors.clear()
    return errors
