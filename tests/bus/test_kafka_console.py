"""The console across a role deployment on a real Kafka broker (issue 34): an action sent to any
role's listener reaches the role that does the work (through the `control` topic), and the
history, the silences and the dead letters are read from their topics, not one process's memory.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from tests.bus.test_kafka_pipeline import Fleet, fleet  # noqa: F401  (the fixture)
from tests.support.processes import MonitorProcess, eventually
from tests.support.servers import rss

pytestmark = pytest.mark.kafka
WATCHES = "rules:\n  - {id: floods, match: {any: [flood]}}\n"
FIRST = "Flood closes Danube roads near Passau"
MUTED = "Flash flood sweeps cars off bridges in Valencia"
DEAD = "River flood warning for the lower Rhine"


async def call(
    proc: MonitorProcess, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    """A console endpoint of `proc`'s listener, as a script calls it: (status, JSON answer)."""
    headers = {"X-Monitor-Request": "1"}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=40)) as s,
        s.request(method, proc.http + path, json=body or {}, headers=headers) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


def titles(rig: Fleet) -> list[str]:
    """The article titles of the alerts the receiver got (test messages left out)."""
    bodies = [json.loads(b) for _, b in rig.receiver.received]
    return [b["article"]["title"] for b in bodies if b["rule"]["id"] == "floods"]


@pytest.mark.timeout(150)
async def test_console_actions_reach_the_role_that_does_the_work(fleet: Fleet) -> None:  # noqa: F811
    """Poller, matcher and dispatcher as processes: poll now asked of the dispatcher is done by
    the poller; a channel test and a mute asked of the poller are done by (and silence) the
    dispatcher; the poller lists the history and the dead letters from their topics and a DLQ
    retry asked of it is sent once by the dispatcher; with no poller left, poll now is 504."""
    fleet.notify = "[ops-hook]"
    fleet.rules(WATCHES)
    fleet.feeds.feeds["world"] = rss(FIRST)
    feeds = f'feeds:\n  - {{id: world, url: "{fleet.feeds.url("/feeds/world")}", interval: 1h}}\n'
    (fleet.tmp / "rules" / "feeds.yaml").write_text(feeds)
    poller, matcher, dispatcher = (fleet.process(n) for n in ("poller", "matcher", "dispatcher"))
    for proc, role in ((poller, "poller"), (matcher, "matcher"), (dispatcher, "dispatcher")):
        await proc.start("--role", role)
    await fleet.ready(poller, matcher, dispatcher)
    for proc, lease in ((poller, "leases_assigned"), (dispatcher, "partitions_assigned")):
        await eventually(lambda p=proc, w=lease: _said(p, "control_listening", w), 30)  # type: ignore[misc]
    assert poller.proc is not None
    assert dispatcher.proc is not None

    # 1. Poll now, asked of the dispatcher: the poller polls at once (the interval is 1h, its
    # first poll at a random time within it).
    polls = fleet.feeds.count("/feeds/world")
    status, answer = await call(dispatcher, "POST", "/-/feeds/world/poll")
    assert 200 == status, answer
    assert polls + 1 == fleet.feeds.count("/feeds/world")
    assert answer["by"].endswith(f":{poller.proc.pid}"), answer
    await eventually(lambda: titles(fleet) == [FIRST], 30, dispatcher.stderr)

    # 2. A channel's test, asked of the poller: sent by the dispatcher, the receiver's answer back.
    before = len(fleet.receiver.received)
    status, answer = await call(poller, "POST", "/-/channels/ops-hook/test")
    assert 200 == status, answer
    assert (True, 200) == (answer["ok"], answer["status"]), answer
    assert answer["by"].endswith(f":{dispatcher.proc.pid}"), answer
    assert before + 1 == len(fleet.receiver.received)

    # 3. A mute asked of the poller silences the dispatcher; the poller reads the history.
    status, answer = await call(
        poller, "POST", "/-/watches/floods/mute", {"until": "2h", "reason": "drill"}
    )
    assert 200 == status, answer
    await eventually(lambda: _muted_at(dispatcher), 15)
    await asyncio.sleep(2.5)  # the dispatcher reads its silences again at most every 2 s
    fleet.feeds.feeds["world"] = rss(FIRST, MUTED)
    assert 200 == (await call(poller, "POST", "/-/feeds/world/poll"))[0]
    states: dict[str, str] = {}

    async def listed() -> bool:
        status, answer = await call(poller, "GET", "/-/alerts?watch=floods")
        states.update({a["title"]: a["state"] for a in answer.get("alerts", [])})
        return status == 200 and MUTED in states

    await eventually(listed, 30, lambda: states)
    assert {FIRST: "sent", MUTED: "muted"} == states
    assert [FIRST] == titles(fleet)
    assert 200 == (await call(poller, "DELETE", "/-/watches/floods/mute"))[0]
    await eventually(lambda: _muted_at(dispatcher, False), 15)
    await asyncio.sleep(2.5)

    # 4. A dead letter (a final 400), listed and retried from the poller, sent once.
    fleet.receiver.plan = [400]
    fleet.feeds.feeds["world"] = rss(FIRST, MUTED, DEAD)
    assert 200 == (await call(poller, "POST", "/-/feeds/world/poll"))[0]
    letters: list[dict[str, Any]] = []

    async def dead_lettered() -> bool:
        letters[:] = (await call(poller, "GET", "/-/dlq"))[1].get("letters", [])
        return bool(letters)

    await eventually(dead_lettered, 30, lambda: letters)
    ((letter),) = letters
    assert (DEAD, "ops-hook") == (letter["title"], letter["channel"])
    status, answer = await call(poller, "POST", "/-/dlq/retry", {"ids": [letter["alert_id"]]})
    assert 200 == status, answer
    assert {letter["alert_id"]: "sent"} == answer["results"]
    await asyncio.sleep(1)
    assert [FIRST, DEAD, DEAD] == titles(fleet)  # refused once, then sent once
    assert [("dlq-retry", "ops-hook")] == _ran(dispatcher, "dlq-retry")  # by the dispatcher
    assert [] == (await call(poller, "GET", "/-/dlq"))[1]["letters"]

    # 5. No poller left: poll now is refused 504 in time, saying no poller answered.
    assert 0 == await poller.stop()
    started = time.monotonic()
    status, answer = await call(dispatcher, "POST", "/-/feeds/world/poll")
    assert 504 == status, answer
    assert time.monotonic() - started < 25
    assert "no poller answered" in answer["error"], answer
    for proc in (matcher, dispatcher):
        assert 0 == await proc.stop()


async def _muted_at(proc: MonitorProcess, muted: bool = True) -> bool:
    """Whether `proc`'s console lists `floods` as muted (or, `muted` False, no longer)."""
    status, answer = await call(proc, "GET", "/-/mutes")
    watches = [s["watch"] for s in answer.get("silences", [])]
    return status == 200 and ("floods" in watches) == muted


def _said(proc: MonitorProcess, *events: str) -> bool:
    """Whether `proc` logged each of `events`."""
    logged = proc.stderr()
    return all(f'"event": "{e}"' in logged for e in events)


def _ran(proc: MonitorProcess, action: str) -> list[tuple[str, str]]:
    """(action, target) of each routed command `proc` ran."""
    lines = [json.loads(ln) for ln in proc.stderr().splitlines() if '"control_command_run"' in ln]
    return [(e["action"], e["target"]) for e in lines if e["action"] == action]
