"""Feed health as states and events (pure), and end to end: `monitor run` alerting the health
channel once when a feed fails, once when one goes silent, once when each recovers, across a
restart, on a clock the test moves."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.feeds.health import FAILING, RECOVERED, SILENT, Health, due, observed
from monitor.kernel.clock import CLOCK_FILE_ENV, set_clock_file
from monitor.kernel.errors import ConfigError
from monitor.service.config import load_config
from tests.support.helpers import read_rule_set
from tests.support.processes import MonitorProcess, eventually
from tests.support.servers import FeedServer, Receiver, free_port, rss, serve

H = 3600 * 1000


def step(
    health: Health, at_h: float, *, ok: bool | None = None, new: int = 0
) -> tuple[Health, str]:
    """Observe a poll (when `ok` is given) at hour `at_h`, then say what is due."""
    now = int(at_h * H)
    if ok is not None:
        health = observed(health, ok=ok, new=new, reason="HTTP 500", now_ms=now)
    health, event = due(health, failing_after_s=3600, expect_every_s=6 * 3600, now_ms=now)
    return health, event.kind if event else ""


def test_failing_alerts_once_after_failing_after_and_recovers_once() -> None:
    """Failures under an hour say nothing; past it, one "failing"; more failures, nothing;
    a success, one "recovered"; then nothing."""
    h = Health(feed_id="f", last_new_ms=0)
    h, said = step(h, 0.1, ok=False)
    assert "" == said
    h, said = step(h, 1.0, ok=False)
    assert "" == said
    h, said = step(h, 1.11, ok=False)
    assert FAILING == said
    assert [""] * 3 == [step(h, t, ok=False)[1] for t in (1.5, 3, 5)]
    h, said = step(h, 5.5, ok=True, new=1)
    assert RECOVERED == said
    h, said = step(h, 5.6, ok=True)
    assert "" == said


def test_silence_alerts_once_and_a_new_item_recovers() -> None:
    """No new item for expect_every: one "silent"; polls without news say nothing more; a new
    item: one "recovered"."""
    h = Health(feed_id="f", last_new_ms=0)
    h, said = step(h, 5.9, ok=True)
    assert "" == said
    h, said = step(h, 6.0, ok=True)
    assert SILENT == said
    assert "" == step(h, 9, ok=True)[1]
    h, said = step(h, 10, ok=True, new=2)
    assert RECOVERED == said
    assert "" == step(h, 11)[1]


def test_each_episode_has_its_own_alert_ids() -> None:
    """Two failures of one feed a day apart give different ids; one episode, one id."""
    h = Health(feed_id="f", last_new_ms=0)
    ids = []
    for start in (0.0, 24.0):
        h = observed(h, ok=False, new=0, reason="x", now_ms=int(start * H))
        h, failing = due(h, failing_after_s=3600, expect_every_s=None, now_ms=int((start + 2) * H))
        h = observed(h, ok=True, new=1, reason="", now_ms=int((start + 3) * H))
        h, recovered = due(
            h, failing_after_s=3600, expect_every_s=None, now_ms=int((start + 3) * H)
        )
        assert failing is not None
        assert recovered is not None
        ids += [failing.id, recovered.id]
    assert 4 == len(set(ids))


WATCHES = "rules:\n  - {id: never, match: {any: [zzzqqq]}}\n"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@asynccontextmanager
async def running(tmp: Path, feeds: FeedServer, receiver: Receiver) -> AsyncIterator[Rig]:
    """The servers and a rig whose monitor (once started) is killed on the way out."""
    async with serve(feeds.app()) as feed_base, serve(receiver.app()) as hook_base:
        feeds.base, receiver.base = feed_base, hook_base
        rig = Rig(tmp, feeds, receiver)
        try:
            yield rig
        finally:
            await rig.monitor.kill()


class Rig:
    def __init__(self, tmp: Path, feeds: FeedServer, receiver: Receiver) -> None:
        self.tmp, self.feeds, self.receiver = tmp, feeds, receiver
        rules = tmp / "rules"
        (rules / "entities").mkdir(parents=True)
        (rules / "watches.yaml").write_text(WATCHES)
        (rules / "feeds.yaml").write_text(
            textwrap.dedent(f"""\
            feeds:
              - {{id: world, url: "{feeds.url("/feeds/world")}", interval: 1s}}
              - {{id: down, url: "{feeds.url("/status/500")}", interval: 1s}}
              - {{id: quiet, url: "{feeds.url("/feeds/quiet")}", interval: 1s, expect_every: 6h}}
            """)
        )
        port = free_port()
        (tmp / "monitor.yaml").write_text(
            textwrap.dedent(f"""\
            rules_dir: rules
            state_dir: state
            http: {{listen: "127.0.0.1:{port}"}}
            poller: {{max_backoff: 2s, host_delay: 0s, max_age: 3650d}}
            health: {{notify: [ops], failing_after: 1h}}
            channels:
              ops: {{kind: webhook, url: "{receiver.url("/hook")}"}}
            """)
        )
        set_clock_file(tmp / "clock", T0)
        self.monitor = MonitorProcess(
            tmp / "monitor.yaml",
            f"http://127.0.0.1:{port}",
            tmp / "logs",
            env={CLOCK_FILE_ENV: str(tmp / "clock")},
        )

    def at(self, later: timedelta) -> None:
        set_clock_file(self.tmp / "clock", T0 + later)

    def said(self) -> list[dict[str, Any]]:
        return [json.loads(body)["health"] for _, body in self.receiver.received]

    def states(self) -> list[tuple[str, str]]:
        return [(h["feed"], h["state"]) for h in self.said()]


@pytest.mark.long
@pytest.mark.timeout(120)
async def test_feed_health_alerts_once_per_state_across_a_restart(tmp_path: Path) -> None:
    """A feed failing past `failing_after` and one silent past `expect_every` each alert once
    (the reason named), nothing repeats while they last or after a restart, and each alerts
    once when it recovers."""
    feeds, receiver = FeedServer(), Receiver()
    feeds.feeds["quiet"] = rss("Only item, long ago")
    async with running(tmp_path, feeds, receiver) as rig:
        await rig.monitor.start()
        await eventually(lambda: feeds.count("/status/500") >= 2, 20, rig.monitor.stderr)
        # The quiet feed's first poll (its silence is counted from it) must be at T0: the three
        # feeds share one host's turns, so on a busy machine it can come after the others'.
        polled_quiet = '"event": "feed_polled", "feed": "quiet"'
        await eventually(lambda: polled_quiet in rig.monitor.stderr(), 20, rig.monitor.stderr)
        assert [] == rig.said()  # failing, but not for an hour yet

        rig.at(timedelta(hours=1, minutes=1))
        await eventually(lambda: len(rig.said()) == 1, 20, rig.monitor.stderr)
        (failing,) = rig.said()
        assert ("down", "failing") == (failing["feed"], failing["state"])
        assert "HTTP 500" in failing["reason"]
        body = json.loads(receiver.received[0][1])
        assert "feed_health" == body["event"]
        assert body["article"]["title"].startswith("Feed down has been failing for 1h ")
        assert "HTTP 500" in body["article"]["title"]

        rig.at(timedelta(hours=6, minutes=2))
        await eventually(lambda: len(rig.said()) == 2, 20)
        assert ("quiet", "silent") == rig.states()[1]
        polls = feeds.count("/status/500")
        await eventually(lambda: feeds.count("/status/500") >= polls + 3, 20)
        assert 2 == len(rig.said())  # not repeated while it lasts

        assert 0 == await rig.monitor.stop()
        await rig.monitor.start()
        polls = feeds.count("/status/500")
        await eventually(lambda: feeds.count("/status/500") >= polls + 2, 20)
        # Hours on: a service that had forgotten would find both past their limits again.
        rig.at(timedelta(hours=13))
        polls = feeds.count("/status/500")
        await eventually(lambda: feeds.count("/status/500") >= polls + 3, 20)
        await asyncio.sleep(6)  # a health check or more
        assert 2 == len(rig.said())  # nor after a restart

        feeds.feeds["quiet"] = rss("Only item, long ago", "News at last from the quiet feed")
        await eventually(lambda: len(rig.said()) == 3, 20)
        assert ("quiet", "recovered") == rig.states()[2]
        (tmp_path / "rules" / "feeds.yaml").write_text(
            (tmp_path / "rules" / "feeds.yaml")
            .read_text()
            .replace(feeds.url("/status/500"), feeds.url("/feeds/world") + "?fixed")
        )
        await eventually(lambda: len(rig.said()) == 4, 30, rig.monitor.stderr)
        assert ("down", "recovered") == rig.states()[3]
        await rig.monitor.stop()
    ids = [h["X-Monitor-Alert-Id"] for h, _ in receiver.received]
    assert 4 == len(set(ids))


@pytest.mark.parametrize(
    ("health", "line", "words"),
    [
        ("health: {notify: [pager]}", 3, "health.notify names unknown channel 'pager'"),
        ("health: {notify: [ops], failing_after: 10s}", 3, "at least 1m"),
        ("health: {notify: [ops], after: 1h}", 3, "unknown key 'after' in health"),
    ],
)
def test_health_settings_are_checked(tmp_path: Path, health: str, line: int, words: str) -> None:
    """`health:` names configured channels and a sensible period, at its line."""
    path = tmp_path / "monitor.yaml"
    path.write_text(f"channels:\n  ops: {{kind: console}}\n{health}\n")
    with pytest.raises(ConfigError) as failed:
        load_config({}, path)
    assert f"{path}:{line}: " in str(failed.value)
    assert words in str(failed.value)


def test_expect_every_is_a_duration_of_a_minute_or_more() -> None:
    """feeds.yaml's `expect_every` is read as a duration, and checked."""
    feeds = "feeds:\n  - {id: a, url: 'https://e.org/f', expect_every: %s}\n"
    rule_set, problems = read_rule_set("rules: []", feeds=feeds % "6h")
    assert [] == problems
    assert 6 * 3600 == rule_set.feeds[0].expect_every_s
    for bad, words in (("soon", "feed `expect_every`"), ("10s", "at least 1m")):
        _, problems = read_rule_set("rules: []", feeds=feeds % bad)
        assert [2] == [p.line for p in problems]
        assert words in problems[0].message


@pytest.mark.timeout(90)
async def test_a_stuck_health_channel_does_not_hold_up_polling(tmp_path: Path) -> None:
    """While the health channel sits on a failing-feed alert, every feed is still polled."""
    feeds, receiver = FeedServer(), Receiver(hold=asyncio.Event())
    feeds.feeds["quiet"] = rss("Only item")
    async with running(tmp_path, feeds, receiver) as rig:
        await rig.monitor.start()
        await eventually(lambda: feeds.count("/status/500") >= 2, 20, rig.monitor.stderr)
        rig.at(timedelta(hours=1, minutes=1))
        await eventually(lambda: len(receiver.received) == 1, 20, rig.monitor.stderr)
        polls = feeds.count("/feeds/world"), feeds.count("/status/500")
        await eventually(
            lambda: (
                feeds.count("/feeds/world") >= polls[0] + 3
                and feeds.count("/status/500") >= polls[1] + 2
            ),
            8,  # under the channel's 10 s timeout: the request is still held
        )
        assert 1 == len(receiver.received)
        assert receiver.hold is not None
        receiver.hold.set()
        await rig.monitor.stop()


async def test_run_once_keeps_feed_health_between_runs(tmp_path: Path) -> None:
    """`monitor run --once` from cron: a feed failing across runs for over an hour alerts once,
    at the first run past the hour, and not again at the next."""
    feeds, receiver = FeedServer(), Receiver()
    feeds.feeds["quiet"] = rss("Only item")
    async with running(tmp_path, feeds, receiver) as rig:
        for hours in (0, 2, 3):
            rig.at(timedelta(hours=hours))
            proc = await rig.monitor.start("--once")
            assert 3 == await asyncio.wait_for(proc.wait(), 30), rig.monitor.stderr()  # failed
            assert (hours >= 2) == (len(rig.said()) >= 1)
    assert [("down", "failing")] == rig.states()
