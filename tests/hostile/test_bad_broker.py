"""A Kafka bootstrap address where no broker speaks Kafka: a port that accepts and never answers,
or one that answers random bytes. The service stays up, /healthz 200, /readyz 503 saying why,
and its log grows by a bounded number of lines a minute (at most one traceback, aiokafka's, per
connection attempt)."""

from __future__ import annotations

import asyncio
import json
import random
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.support.processes import MonitorProcess, eventually, write_rules
from tests.support.servers import free_port

pytestmark = [pytest.mark.timeout(120), pytest.mark.long]
WATCH_S = 30.0  # long enough for two of the bus's connection attempts (each up to 10 s)
MAX_LINES_PER_MINUTE = 60  # measured: 9 (silent) and 23 (garbage) a minute


@asynccontextmanager
async def fake_broker(kind: str) -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 that reads and never replies ("silent"), or replies to each
    read with random bytes ("garbage"); yields its port."""
    noise = random.Random(7)
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            while data := await reader.read(4096):
                if kind == "garbage":
                    writer.write(noise.randbytes(len(data) + 16))
                    await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


def kafka_service(tmp_path: Path, bootstrap_port: int) -> MonitorProcess:
    """A monitor on the Kafka bus at 127.0.0.1:`bootstrap_port`, with no feed."""
    write_rules(tmp_path, {}, "rules:\n  - {id: word, match: {any: [alpha]}}\n")
    port = free_port()
    config = tmp_path / "monitor.yaml"
    config.write_text(
        textwrap.dedent(f"""\
        rules_dir: rules
        state_dir: state
        bus: {{kind: kafka, bootstrap_servers: "127.0.0.1:{bootstrap_port}"}}
        http: {{listen: "127.0.0.1:{port}"}}
        defaults: {{notify: [hook]}}
        channels:
          hook: {{kind: webhook, url: "http://127.0.0.1:9/hook"}}
        """)
    )
    return MonitorProcess(config, f"http://127.0.0.1:{port}", tmp_path / "logs")


@pytest.mark.parametrize("kind", ["silent", "garbage"])
async def test_a_port_that_does_not_speak_kafka_keeps_the_service_up_and_not_ready(
    tmp_path: Path, kind: str
) -> None:
    """Up, alive, not ready (bus not connected, with the reason), and a quiet log."""
    async with fake_broker(kind) as broker_port:
        monitor = kafka_service(tmp_path, broker_port)
        await monitor.start()
        started = time.monotonic()
        try:

            async def listening() -> bool:
                return (await monitor.get("/healthz"))[0] == 200

            await eventually(listening, 20, describe=lambda: monitor.stderr()[-3000:])
            deadline = started + WATCH_S
            while time.monotonic() < deadline:
                assert monitor.proc is not None
                assert monitor.proc.returncode is None, monitor.stderr()[-3000:]
                assert 200 == (await monitor.get("/healthz"))[0]
                status, body = await monitor.get("/readyz")
                assert 503 == status, body
                ready = json.loads(body)
                assert "not connected" == ready["bus"]
                assert ready["bus_error"]
                assert 0.0 == await monitor.metric("monitor_bus_connected")
                await asyncio.sleep(2)
            lines = monitor.stderr().splitlines()
            minutes = (time.monotonic() - started) / 60
            print(f"\n{kind}: {len(lines)} log lines in {minutes * 60:.0f}s; /readyz said {ready}")
            assert len(lines) / minutes < MAX_LINES_PER_MINUTE, "\n".join(lines[-20:])
            attempts = sum(1 for line in lines if "kafka_unavailable" in line)
            assert attempts >= 2, "\n".join(lines[-20:])
            # aiokafka logs garbage it cannot read with a traceback, once a connection: the
            # bus's backoff (up to 10 s) bounds them.
            tracebacks = sum(1 for line in lines if "Traceback" in line)
            assert tracebacks <= attempts + 1, "\n".join(lines[-20:])
            assert 0 == await monitor.stop(timeout_s=15)
        finally:
            await monitor.kill()
