"""Readiness follows the Kafka broker: a `monitor run` turns /readyz 503 (and
`monitor_bus_connected` 0, and the status page says so) while its broker is away or frozen
(SIGSTOP: connections open, no answer), stays alive, and turns ready again, alerting as before,
when it is back."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time

import lxml.html
import pytest

from monitor.bus.probe import BUS_PROBE_EVERY_S, BUS_PROBE_FAILURES, BUS_PROBE_TIMEOUT_S
from tests.bus.test_kafka_pipeline import Fleet, fleet  # noqa: F401 - the fixture, shared
from tests.conftest import KafkaUnderTest
from tests.support.processes import MonitorProcess, eventually

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]
BOUND_S = BUS_PROBE_FAILURES * (BUS_PROBE_EVERY_S + BUS_PROBE_TIMEOUT_S)  # 10 s, documented
GENEROUS_S = 30.0  # the bound, with room for a busy machine
BUS_LINE = re.compile(r"Bus: not connected since \d\d:\d\d:\d\d UTC \(.+\)")


async def readyz(proc: MonitorProcess) -> tuple[int, dict[str, object]]:
    status, body = await proc.get("/readyz")
    return status, (json.loads(body) if body else {})


async def seconds_until(proc: MonitorProcess, status: int, limit_s: float) -> float:
    """How long until /readyz answers `status` (failing past `limit_s`)."""
    started = time.monotonic()

    async def answered() -> bool:
        return (await readyz(proc))[0] == status

    await eventually(answered, limit_s, describe=lambda: proc.stderr()[-3000:])
    return time.monotonic() - started


async def test_readiness_follows_the_broker_away_and_back(
    fleet: Fleet,  # noqa: F811 - the fixture imported above
    kafka: KafkaUnderTest,
) -> None:
    """Broker stopped: 503 within the bound, gauge 0, /healthz 200, the page's line, the process
    alive. Broker back: 200, gauge 1, and an article found meanwhile is alerted."""
    if kafka.broker is None:
        pytest.skip("an external broker (KAFKA_BOOTSTRAP_SERVERS) cannot be restarted by the test")
    broker = kafka.broker
    fleet.notify = "[ops-hook]"
    fleet.stories_window = "0"  # the second item is a copy of the first: it must alert too
    fleet.rules()
    proc = fleet.process("all")
    await proc.start()
    await fleet.ready(proc)
    await eventually(lambda: len(fleet.receiver.received) >= 1, 60)
    status, body = await readyz(proc)
    assert (200, "connected") == (status, body["bus"])
    assert "bus_error" not in body
    assert 1.0 == await proc.metric("monitor_bus_connected")
    stopped = False
    try:
        await asyncio.to_thread(broker.stop)
        stopped = True
        took_s = await seconds_until(proc, 503, GENEROUS_S)
        print(f"\n/readyz 503 {took_s:.1f}s after the broker stopped (bound {BOUND_S:g}s)")
        status, body = await readyz(proc)
        assert 503 == status
        assert "not connected" == body["bus"]
        assert body["bus_error"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(body["bus_since"]))
        assert 0.0 == await proc.metric("monitor_bus_connected")
        assert 200 == (await proc.get("/healthz"))[0]
        page_status, page = await proc.get("/")
        assert 200 == page_status
        line = str(lxml.html.document_fromstring(page).xpath("string(//*[@id='bus'])"))
        assert BUS_LINE.search(" ".join(line.split())), line
        second = fleet.feeds.feeds["world"].replace(
            b"seed-cis-defense-2025", b"seed-cis-defense-2025-b"
        )
        fleet.feeds.feeds["world"] = second.replace(b"belousov-cis", b"belousov-cis-b")
        await asyncio.sleep(BUS_PROBE_EVERY_S * 2)  # polls fail to publish while it is away
        assert proc.proc is not None
        assert proc.proc.returncode is None, "still running while the broker is away"
        assert 503 == (await proc.get("/readyz"))[0]
        await asyncio.to_thread(broker.start)
        stopped = False
        back_s = await seconds_until(proc, 200, 90)
        print(f"/readyz 200 {back_s:.1f}s after the broker listened again")
        status, body = await readyz(proc)
        assert "connected" == body["bus"]
        assert "bus_error" not in body
        assert 1.0 == await proc.metric("monitor_bus_connected")
        await eventually(lambda: len(fleet.receiver.received) >= 2, 90)
        assert 2 == len(set(fleet.alert_ids()))
        assert 0 == await proc.stop(timeout_s=15)
    finally:
        if stopped:  # the other tests on this worker need their broker
            await asyncio.to_thread(broker.start)


async def test_a_frozen_broker_turns_readiness_off_within_the_bound(
    fleet: Fleet,  # noqa: F811 - the fixture imported above
    kafka: KafkaUnderTest,
) -> None:
    """A broker that keeps its connections but stops answering (SIGSTOP): the probe's timeout
    counts, 503 within the bound; SIGCONT: ready again."""
    if kafka.broker is None or kafka.broker.process is None:
        pytest.skip("an external broker (KAFKA_BOOTSTRAP_SERVERS) cannot be frozen by the test")
    pid = kafka.broker.process.pid
    fleet.rules()
    proc = fleet.process("all")
    await proc.start()
    await fleet.ready(proc)
    os.kill(pid, signal.SIGSTOP)
    try:
        took_s = await seconds_until(proc, 503, GENEROUS_S)
        print(f"\n/readyz 503 {took_s:.1f}s after the broker froze (bound {BOUND_S:g}s)")
        _, body = await readyz(proc)
        assert "did not answer" in str(body["bus_error"]), body
        assert 200 == (await proc.get("/healthz"))[0]
    finally:
        os.kill(pid, signal.SIGCONT)
    back_s = await seconds_until(proc, 200, 60)
    print(f"/readyz 200 {back_s:.1f}s after the broker thawed")
    assert 0 == await proc.stop(timeout_s=15)
