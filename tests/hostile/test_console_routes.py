"""Hostile console routes: a garbage control record, a command for an unknown feed or channel,
a reply that never comes, a platform answer echoing the webhook URL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web

from monitor.alerts.channels import Tools
from monitor.alerts.channels.webhook import WebhookSettings
from monitor.alerts.channeltest import send_test
from monitor.bus.base import CONTROL_REPLIES, Record
from monitor.bus.control import Handler, KafkaControl, command
from monitor.bus.kafka import KafkaBus
from monitor.bus.local import LocalBus
from monitor.feeds.spec import FeedSpec
from monitor.kernel.console import ActionRefused, Answer, Who
from monitor.service.console import Hands, service_console
from tests.support.servers import serve

WHO = Who("127.0.0.1", "loopback")


class FakeBus:
    """Takes what is published; nobody ever answers."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []
        self.got = asyncio.Event()

    async def publish(self, topic: str, items: Sequence[tuple[str, bytes]]) -> None:
        self.published += [(topic, value) for _, value in items]
        self.got.set()

    async def next(self) -> bytes:
        """The next record published."""
        await self.got.wait()
        self.got.clear()
        return self.published[-1][1]


@pytest.fixture
async def tools() -> AsyncIterator[Tools]:
    with ThreadPoolExecutor(max_workers=1) as executor:
        async with aiohttp.ClientSession() as session:
            yield Tools(session, executor)


def control(bus: FakeBus, timeout_s: float = 0.2) -> KafkaControl:
    ctl = KafkaControl(cast(KafkaBus, bus), name="me", timeout_s=timeout_s)
    ctl._ready.set()
    return ctl


async def test_a_garbage_control_record_is_skipped() -> None:
    """Bytes that are no command (not JSON, a list, fields of the wrong type, deep nesting)
    run nothing and stop nothing; a reply that is garbage is skipped too."""
    ran: list[str] = []

    async def run(target: str, ids: Sequence[str] | None, who: Who) -> Answer:
        ran.append(target)
        return {}

    ctl = control(FakeBus())
    ctl.handle("poll", Handler(lambda _: True, run))
    for value in (
        b"\xff\xfe",
        b"[1,2]",
        b'{"id": 1, "action": "poll", "target": "f"}',
        b"[" * 10000,
        b'{"id": "x", "action": "poll", "target": "f", "ids": "no"}',
        b'{"id": "x", "action": "poll", "target": "f", "at": "soon"}',  # it once raised
        b'{"id": "x", "action": "poll", "target": "f", "at": 1e999}',
        b'{"id": "x", "action": "poll", "target": "f", "at": true}',
        b'{"id": "x", "action": "poll", "target": "f"}',
    ):
        ctl.take(Record("control", 0, 0, "f", value, 0), replies=False)
        ctl.take(Record(CONTROL_REPLIES, 0, 0, "f", value, 0), replies=True)
    assert [] == ran


async def test_a_command_not_owned_here_is_left_to_its_owner() -> None:
    """A command for a target another process owns is not run here."""
    bus = FakeBus()
    ctl = control(bus)
    ctl.handle("poll", Handler(lambda _: False, lambda *_: None))  # type: ignore[arg-type]
    ctl.take(Record("control", 0, 0, "f", json.dumps(command("poll", "f", None, WHO)).encode(), 0), replies=False)  # fmt: skip
    assert [] == bus.published


async def test_a_reply_never_coming_is_a_504() -> None:
    """The asker waits its timeout, then refuses 504 naming the action."""
    bus = FakeBus()
    with pytest.raises(ActionRefused) as refused:
        await control(bus).ask("poll", "world", None, WHO)
    assert 504 == refused.value.status
    assert "poll world" in refused.value.message
    assert 1 == len(bus.published)


async def test_unknown_feed_and_channel_are_404_before_any_routing(tmp_path: Path) -> None:
    """A poll-now of a feed not in feeds.yaml, a paused one, a test of a channel not configured:
    refused at once (nothing published on the control topic)."""
    bus = FakeBus()
    paused = FeedSpec(id="quiet", path="feeds.yaml", line=1, url="http://x/", enabled=False)
    config: Any = type("C", (), {"channels": {}, "bus": None, "state_dir": tmp_path})()
    async with LocalBus(tmp_path / "bus.db") as local:
        hands = Hands(feeds=lambda: [paused], channels={}, config=config, bus=local,
                      runs_poller=False, runs_dispatcher=False, control=control(bus))  # fmt: skip
        console = service_console(hands)
        assert console.polls is not None
        assert console.channels is not None
        with pytest.raises(ActionRefused) as unknown:
            await console.polls.poll_now("nope", WHO)
        with pytest.raises(ActionRefused) as quiet:
            await console.polls.poll_now("quiet", WHO)
        with pytest.raises(ActionRefused) as channel:
            await console.channels.test("nope", WHO)
        assert console.letters is not None
        with pytest.raises(ActionRefused) as letter:
            await console.letters.retry(["nope"], WHO)
    assert (404, 409, 404, 404) == tuple(e.value.status for e in (unknown, quiet, channel, letter))
    assert [] == bus.published


async def test_a_refusal_where_it_ran_is_told_to_the_asker() -> None:
    """The owner's ActionRefused travels back in the reply and is raised by the asker."""
    bus = FakeBus()
    ctl = control(bus, timeout_s=5)

    async def run(target: str, ids: Sequence[str] | None, who: Who) -> Answer:
        raise ActionRefused(409, f"feed {target} is paused")

    ctl.handle("poll", Handler(lambda _: True, run))
    asking = asyncio.create_task(ctl.ask("poll", "f", None, WHO))
    ctl.take(Record("control", 0, 0, "f", await bus.next(), 0), replies=False)
    ctl.take(Record(CONTROL_REPLIES, 0, 1, "x", await bus.next(), 0), replies=True)
    with pytest.raises(ActionRefused) as refused:
        await asking
    assert 409 == refused.value.status


async def test_an_answer_echoing_the_webhook_url_is_cut(tools: Tools) -> None:
    """Hostile: a platform that echoes the secret webhook URL (and its path) in its answer has
    it cut from the answer and the error."""

    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=404, text=f"no hook {request.url} at {request.path_qs}")

    app = web.Application()
    app.router.add_post("/services/T000/B000/XXXXsecretXXXX", echo)
    async with serve(app) as base:
        url = f"{base}/services/T000/B000/XXXXsecretXXXX"
        answer = await send_test(WebhookSettings(name="chat", kind="webhook", url=url), tools)
    assert 404 == answer["status"]
    assert "XXXXsecretXXXX" not in json.dumps(answer)
    assert "[redacted]" in answer["answer"]


async def test_the_control_reader_waits_for_a_broker_that_is_away(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No broker (or topics it does not know yet): the control reader says so and tries again
    until stop, instead of ending the process (it once crashed a poller at start)."""
    from monitor.bus.control import KafkaControl
    from monitor.bus.kafka import KafkaBus
    from monitor.bus.settings import KafkaConfig

    control = KafkaControl(KafkaBus(KafkaConfig(bootstrap_servers="127.0.0.1:1")))
    stop = asyncio.Event()
    running = asyncio.create_task(control.run(stop))
    for _ in range(200):
        await asyncio.sleep(0.1)
        if "control_unavailable" in capsys.readouterr().out:
            break
    else:
        raise AssertionError("control_unavailable was never logged")
    assert not running.done()
    stop.set()
    await asyncio.wait_for(running, 40)


async def test_a_command_older_than_its_asker_waits_is_not_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A command read after its asker answered 504 (a lagging reader, a late broker) is not
    run: the operator, told nothing answered, may have asked again, and would get it twice."""
    ran: list[str] = []

    async def run(target: str, ids: Sequence[str] | None, who: Who) -> Answer:
        ran.append(target)
        return {}

    ctl = control(FakeBus())
    ctl.handle("poll", Handler(lambda _: True, run))
    old = command("poll", "late", None, Who("127.0.0.1", "token"))
    old["at"] -= int((ctl.timeout_s + 1) * 1000)
    fresh = command("poll", "fresh", None, Who("127.0.0.1", "token"))
    for cmd in (old, fresh):
        ctl.take(Record("control", 0, 0, cmd["target"], json.dumps(cmd).encode(), 0), replies=False)
    await asyncio.sleep(0.05)
    assert ["fresh"] == ran
    assert "control_command_stale" in capsys.readouterr().out
