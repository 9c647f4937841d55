"""End to end: `monitor run` as a subprocess against real feed, webhook and SMTP servers."""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import hmac
import json
import shutil
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor.bus.base import DLQ
from monitor.bus.local import LocalBus
from tests.conftest import SHIPPED_RULES
from tests.support.processes import MonitorProcess, eventually
from tests.support.servers import FeedServer, Receiver, all_servers, free_port

SECRET = "e2e-hook-secret"  # noqa: S105 - a test secret


@dataclass
class World:
    """The servers, the config and the monitor process of one test."""

    tmp: Path
    feeds: FeedServer
    receiver: Receiver
    mailbox: Any
    config: Path
    http: str
    monitor: MonitorProcess | None = None

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        self.monitor = MonitorProcess(self.config, self.http, self.tmp, env={"HOOK_SECRET": SECRET})
        return await self.monitor.start(*args)

    async def stop(self) -> int:
        assert self.monitor is not None
        return await self.monitor.stop()

    async def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        assert self.monitor is not None
        return await self.monitor.metric(name, labels)

    def logs(self) -> str:
        return (self.tmp / "stderr.log").read_text(errors="replace")


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with all_servers() as servers:
        feeds, receiver, port, box = (
            servers.feeds,
            servers.receiver,
            servers.smtp_port,
            servers.mailbox,
        )
        rules = tmp_path / "rules"
        shutil.copytree(SHIPPED_RULES, rules)
        (rules / "feeds.yaml").write_text(
            f'feeds:\n  - {{id: world, url: "{feeds.url("/feeds/world")}", interval: 1s, tags: [world]}}\n'
        )
        http_port = free_port()
        config = tmp_path / "monitor.yaml"
        config.write_text(
            textwrap.dedent(f"""\
            rules_dir: rules
            state_dir: state
            poller: {{host_delay: 0s, max_age: 3650d}}
            bus: local
            http: {{listen: "127.0.0.1:{http_port}"}}
            defaults: {{notify: [ops-hook, analysts, console]}}
            delivery: {{attempts: 3, backoff: 100ms, max_backoff: 200ms}}
            channels:
              console: {{kind: console}}
              ops-hook: {{kind: webhook, url: "{receiver.url("/hook")}", secret: "${{HOOK_SECRET}}"}}
              analysts: {{kind: email, host: 127.0.0.1, port: {port}, security: none,
                          from: "monitor@example.org", to: ["desk@example.org"]}}
            """)
        )
        w = World(tmp_path, feeds, receiver, box, config, f"http://127.0.0.1:{http_port}")
        try:
            yield w
        finally:
            if w.monitor is not None:
                await w.monitor.kill()


async def test_seed_article_alerts_once_per_channel_across_polls_and_restarts(world: World) -> None:
    """One webhook (signed) and one email for the seed article; no duplicates after more polls
    and a restart; /metrics shows the counts; SIGTERM exits 0."""
    await world.start()
    await eventually(lambda: len(world.receiver.received) >= 1 and len(world.mailbox.messages) >= 1)
    polls = world.feeds.count("/feeds/world")
    await eventually(
        lambda: world.feeds.count("/feeds/world") >= polls + 2
    )  # two more polls (304s)

    ((headers, body),) = world.receiver.received
    assert (
        "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        == headers["X-Monitor-Signature"]
    )
    alert = json.loads(body)
    assert "cis-defense-cooperation" == alert["rule"]["id"]
    assert alert["article"]["title"].startswith("Russia's Belousov")
    assert {"CIS", "andrei-belousov"} <= {e["value"] for e in alert["evidence"]}

    (msg,) = world.mailbox.messages
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert parsed["Subject"].startswith("[monitor] cis-defense-cooperation: Russia's Belousov Pins")
    plain, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert "CIS in title" in plain.get_content()
    assert "<b>CIS</b>" in html.get_content()

    assert 1.0 == await world.metric(
        "monitor_alerts_total", {"channel": "ops-hook", "result": "delivered"}
    )
    assert 1.0 == await world.metric(
        "monitor_alerts_total", {"channel": "analysts", "result": "delivered"}
    )
    assert 5.0 == await world.metric("monitor_articles_published_total", {"feed": "world"})
    assert 1.0 == await world.metric(
        "monitor_rule_matches_total", {"rule": "cis-defense-cooperation"}
    )
    assert (
        await world.metric("monitor_polls_total", {"feed": "world", "result": "not_modified"}) >= 1
    )
    assert 3.0 == await world.metric("monitor_fetch_to_alert_seconds_count")  # one per channel
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{world.http}/healthz") as health:
            assert 200 == health.status
        async with s.get(f"{world.http}/readyz") as ready:
            assert 200 == ready.status
            assert 6 == (await ready.json())["rules"]
    assert 0 == await world.stop()
    assert SECRET not in world.logs()
    assert world.receiver.url("/hook") not in world.logs()

    world.feeds.feeds["world"] += b"\n"  # changed bytes: parsed again, same items
    await world.start()
    polls = world.feeds.count("/feeds/world")
    await eventually(lambda: world.feeds.count("/feeds/world") >= polls + 2)
    assert 1 == len(world.receiver.received)
    assert 1 == len(world.mailbox.messages)
    assert 0 == await world.stop()
    stdout = (world.tmp / "stdout.log").read_text()
    assert 1 == stdout.count("ALERT HIGH cis-defense-cooperation")


async def test_once_retries_a_flaky_receiver(world: World) -> None:
    """--once: a receiver that fails twice then succeeds gets the alert exactly once; exit 0."""
    world.receiver.plan = [500, 503]
    proc = await world.start("--once")
    assert 0 == await asyncio.wait_for(proc.wait(), timeout=30)
    assert 3 == len(world.receiver.received)
    assert 1 == len({h["X-Monitor-Alert-Id"] for h, _ in world.receiver.received})
    assert 1 == len(world.mailbox.messages)


async def test_once_keeps_what_always_fails_waiting_for_the_next_run(world: World) -> None:
    """--once: a receiver that always fails marks the channel down (the health channel hears of
    it) and the alert waits (held, not dead-lettered), exit 4; the next --once run, with the
    receiver back, sends it once."""
    world.config.write_text(world.config.read_text() + "health: {notify: [analysts]}\n")
    world.receiver.always = 500
    proc = await world.start("--once")
    assert 4 == await asyncio.wait_for(proc.wait(), timeout=30)  # an alert waits: cron hears
    tried = len(world.receiver.received)  # 3 attempts, and a probe when the run ends
    assert tried >= 3
    async with LocalBus(world.tmp / "state" / "bus.db") as bus:
        assert [] == await bus.consumer(DLQ, "test").fetch(10, 0.1)
    assert "alert_waits_for_channel" in world.logs()
    assert "channel_down" in world.logs()
    (notice,) = [m for m in world.mailbox.messages if "Channel ops-hook is down" in m["Subject"]]
    assert "HTTP 500" in notice["Subject"]
    world.receiver.always = None
    proc = await world.start("--once")
    assert 0 == await asyncio.wait_for(proc.wait(), timeout=30)
    delivered = world.receiver.received[tried:]
    ((_, body),) = delivered
    assert "cis-defense-cooperation" == json.loads(body)["rule"]["id"]
    assert "waiting_alert_delivered" in world.logs()
    proc = await world.start("--once")  # nothing waits any more: nothing is sent again
    assert 0 == await asyncio.wait_for(proc.wait(), timeout=30)
    assert tried + 1 == len(world.receiver.received)


async def test_once_dead_letters_what_always_fails_with_give_up_after_0(world: World) -> None:
    """--once with `delivery: {give_up_after: 0}`: the alert goes to alerts.dlq with the reason
    after its last attempt, and the run exits 4."""
    world.config.write_text(
        world.config.read_text().replace(
            "max_backoff: 200ms}", "max_backoff: 200ms, give_up_after: 0}"
        )
    )
    world.receiver.always = 500
    proc = await world.start("--once")
    assert 4 == await asyncio.wait_for(proc.wait(), timeout=30)  # dead-lettered: cron hears
    assert 3 == len(world.receiver.received)
    async with LocalBus(world.tmp / "state" / "bus.db") as bus:
        records = await bus.consumer(DLQ, "test").fetch(10, 0.1)
    (dead,) = [json.loads(r.value) for r in records]
    assert "HTTP 500" in dead["reason"]
    assert "cis-defense-cooperation" == dead["alert"]["rule"]["id"]
    assert dead["retriable"] is True
    assert "alert_dead_lettered" in world.logs()


async def test_invalid_config_exits_non_zero(world: World) -> None:
    """A config naming an unset variable does not start, and says which variable."""
    world.config.write_text(
        world.config.read_text().replace("${HOOK_SECRET}", "${NOT_SET_ANYWHERE}")
    )
    proc = await world.start()
    assert 1 == await asyncio.wait_for(proc.wait(), timeout=15)
    assert "environment variable NOT_SET_ANYWHERE is not set" in world.logs()


async def test_kill_during_delivery_loses_no_alert(world: World) -> None:
    """SIGKILL while the alert is in flight: after a restart it is delivered, under one alert id."""
    hold = asyncio.Event()
    world.receiver.hold = hold
    world.config.write_text(
        world.config.read_text().replace("[ops-hook, analysts, console]", "[ops-hook]")
    )
    await world.start()
    await eventually(lambda: len(world.receiver.received) >= 1)  # the request is being held
    assert world.monitor is not None
    await world.monitor.kill()
    world.receiver.hold = None
    hold.set()  # the killed process's request completes at the server, unknown to the monitor
    await world.start()
    await eventually(lambda: len(world.receiver.received) >= 2)  # the restart sends it again
    await eventually(lambda: "alert_delivered" in world.logs())
    ids = {h["X-Monitor-Alert-Id"] for h, _ in world.receiver.received}
    assert 1 == len(ids)  # at least once at the edge: a receiver drops the repeat by its id
    assert 0 == await world.stop()


async def test_sigterm_during_a_hanging_poll_exits_within_10s(world: World) -> None:
    """A poll stuck on a slow server does not hold the stop past the 10-second bound."""
    world.feeds.slow_s = 30
    (world.tmp / "rules" / "feeds.yaml").write_text(
        f'feeds:\n  - {{id: slow, url: "{world.feeds.url("/slow")}", interval: 1s}}\n'
    )
    await world.start()
    await eventually(lambda: world.feeds.count("/slow") >= 1)
    started = asyncio.get_running_loop().time()
    assert 0 == await world.stop()
    assert asyncio.get_running_loop().time() - started < 10
    assert "stop_forced" in world.logs()
