"""`monitor dlq list | retry | drop` against a running service: dead letters listed with their
reason, retried at most once per alert (even when the DLQ holds one twice), dropped, and
`monitor_dlq_size{channel}` following along. The Kafka bus runs the same scenario in
test_kafka_pipeline.py."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.alerts.deadletters import open_letters
from monitor.bus.base import DLQ, DLQ_DONE, Record
from monitor.bus.history import stored_records
from monitor.bus.kafka import KafkaBus
from monitor.bus.local import LocalBus
from monitor.service.config import load_config
from tests.support.processes import MonitorProcess, ServiceRig, eventually, service_rig
from tests.support.servers import Receiver, rss

WATCHES = "rules:\n  - {id: floods, match: {any: [flood]}, severity: high}\n"
TITLES = [
    "Flood closes Danube roads near Passau",
    "Flash flood sweeps cars off bridges in Valencia",
    "River flood warning for the lower Rhine",
]


@dataclass
class Cli:
    """Runs `monitor dlq ...` for one config, without blocking the servers' event loop."""

    config: Path
    env: dict[str, str]

    async def __call__(self, *args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "monitor",
            "dlq",
            *args,
            "--config",
            str(self.config),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **self.env},
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def listed(self) -> list[dict[str, Any]]:
        code, out, err = await self("list", "--json")
        assert 0 == code, err
        return [json.loads(line) for line in out.splitlines()]


def sent_ids(receiver: Receiver) -> list[str]:
    return [h["X-Monitor-Alert-Id"] for h, _ in receiver.received]


async def republish(config_path: Path, key: str) -> None:
    """Dead-letter `key` a second time (as a dispatcher that redid a batch would): its newest
    DLQ record again, failed later."""
    config = load_config(dict(os.environ), config_path)
    records = await stored_records(config, DLQ, time.time())
    body = json.loads(next(r.value for r in reversed(records) if r.key == key))
    body["failed_at"] = datetime.now(UTC).isoformat()
    value = json.dumps(body).encode()
    bus = KafkaBus(config.bus) if config.bus else LocalBus(config.state_dir / "bus.db")
    async with bus:
        await bus.publish(DLQ, [(key, value)])


async def dlq_scenario(
    monitor: MonitorProcess, receiver: Receiver, channel: str, cli: Cli, attempts: int
) -> None:
    """Three alerts refused with 400 (final) are listed; a retry into 500s fails again and
    stays listed; a retry into 200 sends once; the same dead letter twice is not sent twice;
    a dropped one is never sent; the gauge comes down to 0."""

    async def dead(n: int) -> bool:
        got = await monitor.metric("monitor_alerts_total", {"channel": channel, "result": "dead"})
        return got == n

    await eventually(lambda: dead(3), 60, lambda: monitor.stderr()[-2000:])
    listed = await cli.listed()
    assert 3 == len(listed)
    assert {(channel, "alert", "floods", "HTTP 400 Bad Request", 1)} == {
        (d["channel"], d["kind"], d["rule"], d["reason"], d["attempts"]) for d in listed
    }
    assert all(datetime.fromisoformat(d["when"]).tzinfo for d in listed)
    assert set(sent_ids(receiver)) == {d["alert_id"] for d in listed}
    await eventually(lambda: _gauge(monitor, channel, 3), 30)
    a, b, c = (str(d["alert_id"]) for d in listed)

    receiver.always = 500
    code, out, _ = await cli("retry", "--id", a)
    assert 1 == code
    assert f"{a} {channel}: failed again: HTTP 500" in out
    again = {d["alert_id"]: d for d in await cli.listed()}
    assert 3 == len(again)
    assert 1 + attempts == again[a]["attempts"]

    receiver.always = 200
    before = len(receiver.received)
    code, out, _ = await cli("retry", "--id", a)
    assert (0, f"{a} {channel}: sent\n") == (code, out)
    assert [a] == sent_ids(receiver)[before:]

    await republish(cli.config, a)  # a dispatcher dead-lettered it twice
    code, out, err = await cli("drop", "--id", c, "--id", "nosuch")
    assert (2, f"{c} {channel}: dropped\n") == (code, out), err  # done, but an id was wrong
    assert "nosuch: no open dead letter with this id" in err
    before = len(receiver.received)
    code, out, _ = await cli("retry", "--channel", channel)
    assert 0 == code
    assert {f"{a} {channel}: already delivered", f"{b} {channel}: sent"} == set(out.splitlines())
    assert [b] == sent_ids(receiver)[before:]
    assert [] == await cli.listed()
    code, _, err = await cli("retry", "--id", c)
    assert 2 == code
    assert f"{c}: no open dead letter with this id" in err
    await eventually(lambda: _gauge(monitor, channel, 0), 30)


async def _gauge(monitor: MonitorProcess, channel: str, n: float) -> bool:
    return n == await monitor.metric("monitor_dlq_size", {"channel": channel})


async def test_dead_letters_are_listed_retried_once_and_dropped(tmp_path: Path) -> None:
    """The scenario on the local bus, the service running throughout."""
    async with service_rig(
        tmp_path, {"world": rss(*TITLES)}, WATCHES, ServiceRig, channel=", timeout: 5s"
    ) as rig:
        (tmp_path / "monitor.yaml").write_text(
            (tmp_path / "monitor.yaml").read_text() + "delivery: {attempts: 2, backoff: 0.1}\n"
        )
        rig.receiver.always = 400
        await rig.monitor.start()
        cli = Cli(tmp_path / "monitor.yaml", {})
        await dlq_scenario(rig.monitor, rig.receiver, "hook", cli, attempts=2)


def test_a_done_record_closes_the_letter_it_names_whatever_the_clocks() -> None:
    """A retry recorded by a host whose clock is behind still closes its letter; the same
    alert dead-lettered again afterwards is open again."""

    def dead(failed_at: str, ts: int) -> Record:
        body = {"alert": {"channel": "hook", "rule": {"id": "r"}}, "failed_at": failed_at}
        return Record(DLQ, 0, ts, "a1", json.dumps(body).encode(), ts)

    def done(closes: str, ts: int) -> Record:
        return Record(DLQ_DONE, 0, ts, "a1", json.dumps({"closes": closes}).encode(), ts)

    first_at = "2026-01-01T10:00:00+00:00"
    first = dead(first_at, 5_000)
    assert ["a1"] == [d.id for d in open_letters([first], [])]
    assert [] == open_letters([first], [done(first_at, 1_000)])
    again = dead("2026-01-01T11:00:00+00:00", 9_000)
    (reopened,) = open_letters([first, again], [done(first_at, 1_000)])
    assert "2026-01-01T11:00:00+00:00" == reopened.failed_at
