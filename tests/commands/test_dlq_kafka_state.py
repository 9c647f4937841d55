"""`monitor dlq retry` on Kafka keeps no state of its own: the deliveries and the claims are
topics, so (as before issue 32's wiring) it neither needs nor creates state_dir. An operator
runs it from any machine that reaches the broker."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.bus.base import DLQ
from monitor.bus.kafka import KafkaBus
from monitor.commands.dlq import dlq_command
from monitor.service.config import load_config
from tests.conftest import KafkaUnderTest
from tests.support.alerts import make_alert

pytestmark = pytest.mark.kafka


async def _dead_letter(config_path: Path, key: str, body: dict[str, object]) -> None:
    config = load_config({}, config_path)
    assert config.bus is not None
    async with KafkaBus(config.bus) as bus:
        await bus.publish(DLQ, [(key, json.dumps(body).encode())])


def test_dlq_retry_on_kafka_needs_no_state_dir(tmp_path: Path, kafka: KafkaUnderTest) -> None:
    """A state_dir that cannot be created (under a regular file) does not stop a retry."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "not-a-dir").write_text("a file\n")
    state_dir = tmp_path / "not-a-dir" / "state"
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"rules_dir: {tmp_path / 'rules'}\n"
        f"state_dir: {state_dir}\n"
        f'bus: {{kind: kafka, bootstrap_servers: "{kafka.bootstrap}", '
        f'topic_prefix: "{kafka.prefix()}"}}\n'
        "channels:\n  ops: {kind: console}\n"
    )
    alert = make_alert()
    body: dict[str, object] = {
        "alert": alert.to_dict(),
        "attempts": 1,
        "reason": "HTTP 500",
        "failed_at": datetime.now(UTC).isoformat(),
        "retriable": True,
    }
    asyncio.run(_dead_letter(config, alert.id, body))
    out, err = io.StringIO(), io.StringIO()
    code = dlq_command(
        config,
        "retry",
        ids=[alert.id],
        every=False,
        channel=None,
        as_json=False,
        out=out,
        err=err,
    )
    assert (0, f"{alert.id} ops: sent\n") == (code, out.getvalue()), err.getvalue()
    assert not state_dir.exists()
