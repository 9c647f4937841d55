"""Dead letters redelivered by themselves once their channel is back (`delivery.redeliver`), on
both buses, the service as subprocesses: each goes out once; one the channel refused for good
(a 400) stays for a person; `redeliver: false` leaves them all."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.commands.test_dlq import TITLES, WATCHES
from tests.conftest import KafkaUnderTest
from tests.support.processes import MonitorProcess, eventually
from tests.support.servers import FeedServer, Receiver, all_servers, free_port, rss

pytestmark = [pytest.mark.timeout(240), pytest.mark.long]


@dataclass
class Setup:
    tmp: Path
    feeds: FeedServer
    receiver: Receiver
    bus: str  # the `bus:` line of the config
    processes: list[MonitorProcess] = field(default_factory=list)

    def process(self, name: str, redeliver: bool = True) -> MonitorProcess:
        port = free_port()
        config = self.tmp / f"{name}.yaml"
        config.write_text(
            textwrap.dedent(f"""\
            rules_dir: rules
            state_dir: state
            poller: {{host_delay: 0s, max_age: 3650d}}
            bus: {self.bus}
            http: {{listen: "127.0.0.1:{port}"}}
            defaults: {{notify: [hook]}}
            stories: {{window: 0}}
            delivery: {{attempts: 2, backoff: 100ms, max_backoff: 200ms, give_up_after: 0,
                        redeliver: {str(redeliver).lower()}}}
            channels:
              hook: {{kind: webhook, url: "{self.receiver.url("/hook")}", timeout: 5s}}
            """)
        )
        proc = MonitorProcess(config, f"http://127.0.0.1:{port}", self.tmp / name)
        self.processes.append(proc)
        return proc

    def delivered(self) -> Counter[str]:
        return Counter(
            json.loads(a.body)["article"]["title"]
            for a in self.receiver.answered
            if a.status == 200
        )

    async def open_letters(self) -> list[dict[str, object]]:
        """`monitor dlq list --json` (a subprocess that does not block the servers)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "dlq", "list", "--json",
            "--config", str(self.processes[0].config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 90)
        assert 0 == proc.returncode, err.decode()
        return [json.loads(line) for line in out.decode().splitlines() if line.strip()]

    async def letters(self, n: int) -> bool:
        return len(await self.open_letters()) == n


@pytest.fixture(params=["local", "kafka"])
async def setup(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Setup]:
    bus = "local"
    if request.param == "kafka":
        kafka: KafkaUnderTest = request.getfixturevalue("kafka")
        bus = (
            f'{{kind: kafka, bootstrap_servers: "{kafka.bootstrap}", '
            f'topic_prefix: "{kafka.prefix()}", partitions: 2}}'
        )
    async with all_servers() as s:
        rules = tmp_path / "rules"
        (rules / "entities").mkdir(parents=True)
        (rules / "watches.yaml").write_text(WATCHES)
        (rules / "feeds.yaml").write_text(
            f'feeds:\n  - {{id: wire, url: "{s.feeds.url("/feeds/wire")}", interval: 1s}}\n'
        )
        s.feeds.feeds["wire"] = rss()
        made = Setup(tmp_path, s.feeds, s.receiver, bus)
        try:
            yield made
        finally:
            for proc in made.processes:
                await proc.kill()


async def test_dead_letters_go_out_again_once_when_the_channel_is_back(setup: Setup) -> None:
    """A 503 dead-letters the first item (`give_up_after: 0`); a 400 the second. The channel
    then takes the third: within a reading of the DLQ the first goes out again, once, and
    leaves the list; the refused one stays. Two dispatchers on Kafka: still once."""
    first = setup.process("first")
    await first.start()
    if "kafka" in setup.bus:
        await setup.process("second").start("--role", "dispatcher")
    for proc in setup.processes:
        await eventually(lambda p=proc: _ready(p), 90)  # type: ignore[misc]
    setup.receiver.always = 503
    setup.feeds.feeds["wire"] = rss(TITLES[0])
    await eventually(lambda: setup.letters(1), 60)
    setup.receiver.always = 400
    setup.feeds.feeds["wire"] = rss(TITLES[0], TITLES[1])
    await eventually(lambda: setup.letters(2), 60)
    setup.receiver.always = None
    setup.feeds.feeds["wire"] = rss(*TITLES)
    await eventually(lambda: setup.delivered()[TITLES[2]] == 1, 60)
    await eventually(lambda: setup.delivered()[TITLES[0]] >= 1, 60)
    await eventually(lambda: setup.letters(1), 60)
    (left,) = await setup.open_letters()
    assert "HTTP 400" in str(left["reason"])
    await eventually(lambda: _logged(setup, "dead_letter_redelivered"), 30)
    await _quiet(12)  # another reading of the DLQ: nothing more goes out
    assert {TITLES[0]: 1, TITLES[2]: 1} == dict(setup.delivered())
    assert 1 == len(await setup.open_letters())
    for proc in setup.processes:
        assert "Traceback" not in proc.stderr()


@pytest.mark.parametrize("setup", ["local"], indirect=True)  # the same code on both buses
async def test_redeliver_false_leaves_dead_letters_for_a_person(setup: Setup) -> None:
    """`delivery: {redeliver: false}`: the channel back, the dead letter stays listed."""
    proc = setup.process("only", redeliver=False)
    await proc.start()
    await eventually(lambda: _ready(proc), 60)
    setup.receiver.always = 503
    setup.feeds.feeds["wire"] = rss(TITLES[0])
    await eventually(lambda: setup.letters(1), 60)
    setup.receiver.always = None
    setup.feeds.feeds["wire"] = rss(TITLES[0], TITLES[2])
    await eventually(lambda: setup.delivered()[TITLES[2]] == 1, 60)
    await _quiet(12)
    assert 0 == setup.delivered()[TITLES[0]]
    assert 1 == len(await setup.open_letters())


@pytest.mark.parametrize("setup", ["local"], indirect=True)
async def test_run_once_redelivers_what_its_channel_took_this_run(setup: Setup) -> None:
    """cron: a `--once` run dead-letters the item its channel refused (503) and exits 4; a
    later run whose channel takes a new item sends the dead letter again, once."""
    proc = setup.process("cron")
    setup.receiver.always = 503
    setup.feeds.feeds["wire"] = rss(TITLES[0])
    await proc.start("--once")
    assert proc.proc is not None
    assert 4 == await asyncio.wait_for(proc.proc.wait(), 60)
    assert 1 == len(await setup.open_letters())
    setup.receiver.always = None
    setup.feeds.feeds["wire"] = rss(TITLES[0], TITLES[2])
    await proc.start("--once")
    assert 0 == await asyncio.wait_for(proc.proc.wait(), 60)
    assert {TITLES[0]: 1, TITLES[2]: 1} == dict(setup.delivered())
    assert [] == await setup.open_letters()


async def _ready(proc: MonitorProcess) -> bool:
    return (await proc.get("/readyz"))[0] == 200


def _logged(setup: Setup, event: str) -> bool:
    return any(event in p.stderr() for p in setup.processes)


async def _quiet(seconds: float) -> None:
    await asyncio.sleep(seconds)
