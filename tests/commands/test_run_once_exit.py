"""`monitor run --once` tells cron what it left undone by its exit code (docs/commands.md): 0 all
well, 3 a feed failed, 4 an alert was dead-lettered or waits for its channel, 5 both. The
monitor runs as a subprocess against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import MonitorProcess, write_rules
from tests.support.servers import FeedServer, Receiver, all_servers, free_port, rss

pytestmark = pytest.mark.timeout(120)

WATCHES = "rules:\n  - {id: floods, match: {any: [flood]}, severity: high}\n"


@dataclass
class Cron:
    """A rules directory, a monitor.yaml and the servers it talks to."""

    tmp: Path
    feeds: FeedServer
    receiver: Receiver

    def rules(self, *, failing: bool) -> None:
        """One good feed, and with `failing` one that answers 500."""
        urls = {"wire": self.feeds.url("/feeds/wire")}
        if failing:
            urls["broken"] = self.feeds.url("/status/500")
        write_rules(self.tmp, urls, WATCHES)

    async def once(self, give_up_after: str = "1d") -> tuple[int, str]:
        """`monitor run --once`: its exit code and what it logged."""
        port = free_port()
        config = self.tmp / "monitor.yaml"
        config.write_text(
            textwrap.dedent(f"""\
            rules_dir: rules
            state_dir: state
            poller: {{host_delay: 0s}}
            http: {{listen: "127.0.0.1:{port}"}}
            defaults: {{notify: [hook]}}
            delivery: {{attempts: 2, backoff: 100ms, max_backoff: 200ms,
                        give_up_after: {give_up_after}}}
            channels:
              hook: {{kind: webhook, url: "{self.receiver.url("/hook")}", timeout: 5s}}
            """)
        )
        proc = MonitorProcess(config, f"http://127.0.0.1:{port}", self.tmp / "logs")
        started = await proc.start("--once")
        code = await asyncio.wait_for(started.wait(), 60)
        return code, proc.stderr()


@pytest.fixture
async def cron(tmp_path: Path) -> AsyncIterator[Cron]:
    async with all_servers() as s:
        s.feeds.feeds["wire"] = rss("Flood closes Danube roads near Passau")
        yield Cron(tmp_path, s.feeds, s.receiver)


async def test_all_well_exits_0(cron: Cron) -> None:
    """Every feed read and the alert delivered: exit 0, and no warning of work undone."""
    cron.rules(failing=False)
    code, logged = await cron.once()
    assert 0 == code, logged[-2000:]
    assert 1 == len(cron.receiver.received)
    assert "run_once_incomplete" not in logged


async def test_a_failing_feed_exits_3(cron: Cron) -> None:
    """A feed answering 500 beside a good one: the alert goes out, and the run exits 3 naming
    the feed."""
    cron.rules(failing=True)
    code, logged = await cron.once()
    assert 3 == code, logged[-2000:]
    assert 1 == len(cron.receiver.received)
    assert "run_once_incomplete" in logged
    assert "broken" in logged


async def test_a_dead_lettered_alert_exits_4(cron: Cron) -> None:
    """`give_up_after: 0` and a receiver that always fails: the alert is dead-lettered, exit 4;
    the next run, the receiver back, redelivers it and exits 0."""
    cron.rules(failing=False)
    cron.receiver.always = 500
    code, logged = await cron.once(give_up_after="0")
    assert 4 == code, logged[-2000:]
    assert "alert_dead_lettered" in logged
    cron.receiver.always = None
    code, logged = await cron.once(give_up_after="0")
    assert 0 == code, logged[-2000:]


async def test_an_alert_waiting_for_its_channel_exits_4(cron: Cron) -> None:
    """A receiver that always fails, alerts kept for a day: the alert waits for the channel
    (not dead-lettered), and the run exits 4 all the same."""
    cron.rules(failing=False)
    cron.receiver.always = 500
    code, logged = await cron.once()
    assert 4 == code, logged[-2000:]
    assert "alert_waits_for_channel" in logged


async def test_a_failing_feed_and_an_undelivered_alert_exit_5(cron: Cron) -> None:
    """Both at once: exit 5."""
    cron.rules(failing=True)
    cron.receiver.always = 500
    code, logged = await cron.once(give_up_after="0")
    assert 5 == code, logged[-2000:]


async def test_the_once_round_counts_the_match_and_the_alert(cron: Cron) -> None:
    """The pass's `poll_round` line tells what the pass did: the one article matched and its
    alert delivered (today the round is closed when polling ends, before matching: 0 and 0)."""
    cron.rules(failing=False)
    code, logged = await cron.once()
    assert 0 == code, logged[-2000:]
    assert 1 == len(cron.receiver.received)
    rounds = [
        json.loads(ln) for ln in logged.splitlines() if ln.startswith("{") and "poll_round" in ln
    ]
    assert 1 == len(rounds), rounds
    assert (1, 1) == (rounds[0]["matched"], rounds[0]["alerts"]), rounds[0]["message"]
