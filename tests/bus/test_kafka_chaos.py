"""Kafka chaos (issue 39): while a feed keeps gaining items, the broker is stopped and started,
a dispatcher is frozen past its session timeout, and the receiver fails for longer than the
old give-up time. Every article must alert exactly once, and /readyz must follow the broker.

The phases' expectations are gathered and asserted together at the end, so one run says what
held and what did not in every phase (the counts are printed: run with -s to see them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from monitor.feeds.parse import article_id
from monitor.kernel import models
from tests.bus.test_kafka_pipeline import Fleet, fleet, lag_partitions  # noqa: F401  (fixture)
from tests.commands.test_dlq import Cli
from tests.conftest import KafkaUnderTest
from tests.support.processes import MonitorProcess, eventually
from tests.support.servers import Answer, FeedServer, Receiver, rss
from tools.kafka_harness import Broker

pytestmark = [pytest.mark.kafka, pytest.mark.long]

CHANNEL = "ops-hook"
# Four watches whose rule ids land on the four partitions of `matches` (keyed by rule id), so
# both dispatchers have work; item N is about alphaN%4 and so matches exactly one of them.
WATCHES = "rules:\n" + "".join(
    f"  - {{id: watch-{k}, match: {{any: [alpha{k}]}}}}\n" for k in range(4)
)
BROKER_DOWN_S = 15.0  # at least; longer until every process has said it is not ready
READY_BOUND_S = 30.0  # every /readyz 503 within this of the broker's stop
FROZEN_S = 15.0  # the dispatcher's session timeout is 10 s (and until the other holds all)
RECEIVER_DOWN_S = 25.0  # attempts 5, backoff 1 s: the old code gave up after about 15 s
DRAIN_S = 120.0


@dataclass
class Stream:
    """The feed `world`: a new distinct item every `every_s`, the newest `keep` of them served.

    The window covers 100 s, longer than any phase keeps the poller from publishing; an item
    that still leaves it before any poll fetched it is `unseen`, told apart from one the
    monitor fetched and then lost.
    """

    feeds: FeedServer
    every_s: float = 0.5
    keep: int = 200
    phase: str = "warm-up"
    titles: list[str] = field(default_factory=list)
    phase_of: dict[str, str] = field(default_factory=dict)
    polls_at_add: dict[str, int] = field(default_factory=dict)
    unseen: set[str] = field(default_factory=set)

    def polls(self) -> int:
        """Requests for the feed so far."""
        return self.feeds.count("/feeds/world")

    async def run(self, stop: asyncio.Event) -> None:
        """Add items until `stop` is set."""
        while not stop.is_set():
            n = len(self.titles)
            title = f"Chaos item {n} about alpha{n % 4}"
            self.titles.append(title)
            self.phase_of[title] = self.phase
            self.polls_at_add[title] = self.polls()
            self.feeds.feeds["world"] = rss(*reversed(self.titles[-self.keep :]))
            if (
                n >= self.keep
                and self.polls() == self.polls_at_add[gone := self.titles[-1 - self.keep]]
            ):
                self.unseen.add(gone)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every_s)


@dataclass
class Findings:
    """What each phase saw: notes printed as they come, problems asserted at the end."""

    started: float = field(default_factory=time.monotonic)
    problems: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        """Print `text` with the seconds since the start and the time of day (UTC, as in the
        processes' logs)."""
        clock = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
        print(f"[{time.monotonic() - self.started:6.1f}s {clock}] {text}", flush=True)

    def expect(self, ok: bool, problem: str) -> None:
        """Record `problem` unless `ok`."""
        if not ok:
            self.problems.append(problem)
            self.note("PROBLEM: " + problem)


async def gauge(proc: MonitorProcess, sample: str) -> list[float]:
    """The values of the /metrics samples named `sample` (with any labels); [] when absent."""
    _, text = await proc.get("/metrics")
    return [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((sample + " ", sample + "{"))
    ]


async def status(proc: MonitorProcess, path: str) -> int:
    """The status of GET `path`; 0 when the process does not answer within 5 s."""
    try:
        return (await asyncio.wait_for(proc.get(path), 5))[0]
    except TimeoutError:
        return 0


async def channel_up(proc: MonitorProcess) -> list[float]:
    """`monitor_channel_up` of the webhook channel; [] when absent."""
    return await gauge(proc, f'monitor_channel_up{{channel="{CHANNEL}"}}')


async def channel_settles(proc: MonitorProcess, wanted: float, timeout_s: float) -> list[float]:
    """`monitor_channel_up` once it is `wanted`, or as it is after `timeout_s`."""
    up: list[float] = []

    async def reached() -> bool:
        up[:] = await channel_up(proc)
        return up == [wanted]

    with contextlib.suppress(AssertionError):
        await eventually(reached, timeout_s)
    return up


@pytest.mark.timeout(480)
async def test_no_alert_lost_or_repeated_through_broker_dispatcher_and_receiver_outages(
    fleet: Fleet,  # noqa: F811
    kafka: KafkaUnderTest,
) -> None:
    """Broker down 15 s, a dispatcher frozen 15 s, the receiver failing 25 s, items arriving
    all along: each article is answered 200 exactly once, no dead letter is left open, and
    every process is alive but not ready while the broker is away."""
    if kafka.broker is None:
        pytest.skip("an external broker (KAFKA_BOOTSTRAP_SERVERS) cannot be restarted by the test")
    broker = kafka.broker
    fleet.notify = f"[{CHANNEL}]"
    fleet.stories_window = "0"  # every item its own alert
    fleet.delivery = "{attempts: 5, backoff: 1s}"
    fleet.rules(WATCHES)
    stream, found = Stream(fleet.feeds), Findings()
    stream.feeds.feeds["world"] = rss()
    roles = ("poller", "matcher", "matcher", "dispatcher", "dispatcher")
    names = ["poller", "matcher-1", "matcher-2", "dispatcher-1", "dispatcher-2"]
    procs = {name: fleet.process(name) for name in names}
    for name, role in zip(names, roles, strict=True):
        await procs[name].start("--role", role)
    await fleet.ready(*procs.values())
    await shared_out(procs, "matcher", 60)
    await shared_out(procs, "dispatcher", 60)
    stop_stream = asyncio.Event()
    feeding = asyncio.create_task(stream.run(stop_stream))
    try:
        await eventually(lambda: delivered(fleet.receiver) >= 5, 60)
        found.note(f"warm-up: {delivered(fleet.receiver)} alerts delivered")
        stream.phase = "broker down"
        await broker_outage(broker, procs, found)
        stream.phase = "after the broker"
        await all_ready(procs, found, "after the broker's restart", bus=True)
        stream.phase = "dispatcher frozen"
        await frozen_dispatcher(procs, found)
        stream.phase = "after the frozen dispatcher"
        try:
            await shared_out(procs, "dispatcher", 60)
        except AssertionError as exc:
            found.expect(False, f"the dispatchers did not share the partitions again: {exc}")
        stream.phase = "receiver down"
        await receiver_outage(fleet.receiver, procs, found)
        stream.phase = "after the receiver"
        await asyncio.sleep(2)  # a few items after the recovery too
    finally:
        stop_stream.set()
        await feeding
        if broker.process is None:  # other tests on this worker use the broker
            await asyncio.to_thread(broker.start)
    found.note(f"stopped adding items: {len(stream.titles)} in all")
    await drain(fleet.receiver, stream, procs, found)
    await check_deliveries(fleet.receiver, stream, procs, found)
    letters = await Cli(procs["dispatcher-2"].config, fleet.env).listed()
    found.note(f"open dead letters: {len(letters)}")
    found.expect(not letters, f"{len(letters)} open dead letters after the outages")
    for name, proc in procs.items():
        code = await proc.stop(timeout_s=20)
        found.expect(code == 0, f"{name} exited {code}")
        tracebacks = [ln[:300] for ln in proc.stderr().splitlines() if "Traceback" in ln]
        found.expect(not tracebacks, f"{name} logged tracebacks: {tracebacks[:3]}")
    assert not found.problems, "\n".join(found.problems)


def delivered(receiver: Receiver) -> int:
    """Requests answered 200 so far."""
    return sum(1 for a in receiver.answered if a.status == 200)


async def shared_out(procs: dict[str, MonitorProcess], group: str, timeout_s: float) -> None:
    """Wait until both members of `group` hold some of its four partitions."""
    members = [p for n, p in procs.items() if n.startswith(group)]
    held: list[set[str]] = []

    async def split() -> bool:
        held[:] = [await lag_partitions(p, group) for p in members]
        return all(held) and len(set().union(*held)) == 4 and held[0].isdisjoint(held[1])

    await eventually(split, timeout_s, lambda: held)


async def broker_outage(broker: Broker, procs: dict[str, MonitorProcess], found: Findings) -> None:
    """Stop the broker for BROKER_DOWN_S, and until every process has answered /readyz 503
    and exported `monitor_bus_connected` 0 (at most READY_BOUND_S); /healthz stays 200."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    lines = {name: len(proc.stderr().splitlines()) for name, proc in procs.items()}
    await asyncio.to_thread(broker.stop)
    found.note(f"broker stopped (in {loop.time() - began:.1f}s)")
    unready: dict[str, float] = {}
    disconnected: dict[str, float] = {}
    unhealthy: list[tuple[str, float, int]] = []
    try:
        while True:
            elapsed = loop.time() - began
            for name, proc in procs.items():
                health = await status(proc, "/healthz")
                if health != 200:
                    unhealthy.append((name, round(elapsed, 1), health))
                if name not in unready and await status(proc, "/readyz") == 503:
                    unready[name] = round(elapsed, 1)
                if name not in disconnected and (await gauge(proc, "monitor_bus_connected")) == [
                    0.0
                ]:
                    disconnected[name] = round(elapsed, 1)
            seen_all = len(unready) == len(disconnected) == len(procs)
            if elapsed >= BROKER_DOWN_S and (seen_all or elapsed >= READY_BOUND_S):
                break
            await asyncio.sleep(0.5)
    finally:
        restart = loop.time()
        await asyncio.to_thread(broker.start)
        found.note(
            f"broker started after {restart - began:.1f}s down (in {loop.time() - restart:.1f}s)"
        )
    logged = {n: len(p.stderr().splitlines()) - lines[n] for n, p in procs.items()}
    found.note(f"log lines while the broker was down: {logged}")
    found.note(f"/readyz 503 seen at (s after the stop): {unready}")
    found.note(f"monitor_bus_connected 0 seen at: {disconnected}")
    found.expect(not unhealthy, f"/healthz not 200 while the broker was down: {unhealthy[:10]}")
    for name in procs:
        found.expect(name in unready, f"{name}: /readyz never 503 within {READY_BOUND_S:g}s")
        found.expect(name in disconnected, f"{name}: monitor_bus_connected never 0 while down")


async def all_ready(
    procs: dict[str, MonitorProcess], found: Findings, when: str, *, bus: bool = False
) -> None:
    """Record a problem unless every process answers /readyz 200 (and, with `bus`, exports
    `monitor_bus_connected` 1) within 60 s."""
    waiting: list[str] = []

    async def ready() -> bool:
        waiting[:] = [n for n, p in procs.items() if (await p.get("/readyz"))[0] != 200]
        if bus:
            waiting.extend(
                [
                    f"{n} (bus gauge)"
                    for n, p in procs.items()
                    if await gauge(p, "monitor_bus_connected") != [1.0]
                ]
            )
        return not waiting

    began = time.monotonic()
    try:
        await eventually(ready, 60)
    except AssertionError:
        found.expect(False, f"{when}: not ready within 60s: {waiting}")
    else:
        found.note(f"{when}: every process ready in {time.monotonic() - began:.1f}s")


async def frozen_dispatcher(procs: dict[str, MonitorProcess], found: Findings) -> None:
    """SIGSTOP dispatcher-1 for FROZEN_S, and until dispatcher-2 holds every partition
    (at most 45 s), then SIGCONT it."""
    frozen, other = procs["dispatcher-1"], procs["dispatcher-2"]
    assert frozen.proc is not None
    began = time.monotonic()
    frozen.proc.send_signal(signal.SIGSTOP)
    found.note(f"dispatcher-1 (pid {frozen.proc.pid}) stopped")
    took_over: float | None = None
    try:
        while True:
            elapsed = time.monotonic() - began
            if took_over is None and await lag_partitions(other, "dispatcher") == set("0123"):
                took_over = round(elapsed, 1)
            if elapsed >= FROZEN_S and (took_over is not None or elapsed >= 45):
                break
            await asyncio.sleep(0.5)
    finally:
        os.kill(frozen.proc.pid, signal.SIGCONT)
    found.note(f"dispatcher-1 continued after {time.monotonic() - began:.1f}s")
    found.expect(took_over is not None, "dispatcher-2 never held every partition")
    found.note(f"dispatcher-2 held every partition {took_over}s after the stop")
    await all_ready(procs, found, "after the frozen dispatcher")


async def receiver_outage(
    receiver: Receiver, procs: dict[str, MonitorProcess], found: Findings
) -> None:
    """The receiver answers 503 for RECEIVER_DOWN_S; every dispatcher marks the channel
    down (`monitor_channel_up` 0) meanwhile."""
    dispatchers = {n: p for n, p in procs.items() if n.startswith("dispatcher")}
    receiver.always = 503
    began = time.monotonic()
    marked_down: dict[str, float] = {}
    try:
        while (elapsed := time.monotonic() - began) < RECEIVER_DOWN_S:
            for name, proc in dispatchers.items():
                if name not in marked_down and await channel_up(proc) == [0.0]:
                    marked_down[name] = round(elapsed, 1)
            await asyncio.sleep(0.5)
    finally:
        receiver.always = None
    failed = sum(1 for a in receiver.answered if a.status != 200)
    found.note(f"receiver back after {time.monotonic() - began:.1f}s; {failed} requests refused")
    found.note(f"monitor_channel_up 0 seen at: {marked_down}")
    for name in dispatchers:
        found.expect(name in marked_down, f"{name}: monitor_channel_up never 0 while refused")


async def drain(
    receiver: Receiver, stream: Stream, procs: dict[str, MonitorProcess], found: Findings
) -> None:
    """Wait (up to DRAIN_S) until every item has been answered 200, then for the channel to be
    up again and the consumers to have no lag left (so a late duplicate would have come)."""
    titles = set(stream.titles)

    def answered_titles() -> set[str]:
        return {
            json.loads(a.body)["article"]["title"] for a in receiver.answered if a.status == 200
        }

    began = time.monotonic()
    try:
        await eventually(lambda: titles <= answered_titles(), DRAIN_S)
        found.note(f"every item answered 200, {time.monotonic() - began:.1f}s after the end")
    except AssertionError:
        missing = len(titles - answered_titles())
        found.note(f"after {DRAIN_S:g}s, {missing} items still not answered 200")
        for group in ("matcher", "dispatcher"):  # a partition nobody holds has no lag to show
            held = {n: sorted(await lag_partitions(p, group)) for n, p in procs.items()}
            found.note(f"  {group} partitions held: {held}")
    names = ("dispatcher-1", "dispatcher-2")
    ups = await asyncio.gather(*(channel_settles(procs[n], 1.0, 30) for n in names))
    for name, up in zip(names, ups, strict=True):
        found.expect(up == [1.0], f"{name}: monitor_channel_up is {up or 'absent'}, not 1")

    async def no_lag() -> bool:
        lags = [await p.metric_sum("monitor_consumer_lag{") for p in procs.values()]
        return sum(lags) == 0

    try:
        await eventually(no_lag, 30)
    except AssertionError:
        found.note("consumer lag not back to 0 within 30s")
    await asyncio.sleep(2)  # a redelivered copy in flight arrives by now


async def check_deliveries(
    receiver: Receiver, stream: Stream, procs: dict[str, MonitorProcess], found: Findings
) -> None:
    """Per article: exactly one alert (one X-Monitor-Alert-Id) answered 200; counts printed."""
    ok_by_title: dict[str, list[Answer]] = defaultdict(list)
    tries: Counter[str] = Counter()
    for answer in receiver.answered:
        body = json.loads(answer.body)
        alert_id = answer.headers["X-Monitor-Alert-Id"]
        found.expect(alert_id == body["alert_id"], f"header {alert_id} != body's alert id")
        tries[alert_id] += 1
        if answer.status == 200:
            ok_by_title[body["article"]["title"]].append(answer)
    article_ids = {json.loads(a.body)["article"]["id"] for a in receiver.answered}
    unknown = set(ok_by_title) - set(stream.titles)
    found.expect(not unknown, f"alerts for items never fed: {sorted(unknown)[:5]}")
    items, lost, unseen, repeated = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
    copies: list[str] = []
    for title in stream.titles:
        phase, answers = stream.phase_of[title], ok_by_title.get(title, [])
        items[phase] += 1
        unseen[phase] += title in stream.unseen
        lost[phase] += not answers and title not in stream.unseen
        if len(answers) > 1:
            repeated[phase] += 1
            copies.append(title)
    found.note(
        f"items {len(stream.titles)}, requests {len(receiver.answered)}, answered 200 "
        f"{delivered(receiver)}, articles {len(article_ids)}, alerts retried "
        f"{sum(1 for n in tries.values() if n > 1)} ({sum(tries.values()) - len(tries)} retries)"
    )
    for phase in items:
        found.note(
            f"  added {phase:28} items {items[phase]:4}  lost {lost[phase]:3}  "
            f"duplicated {repeated[phase]:3}  never polled {unseen[phase]:3}"
        )
    found.expect(not stream.unseen, f"{len(stream.unseen)} items left the feed before any poll")
    found.expect(not sum(lost.values()), f"lost (by phase added): {dict(+lost)}")
    gone = [t for t in stream.titles if t not in ok_by_title and t not in stream.unseen]
    if gone:
        found.note(f"lost by watch: {dict(Counter(t.rsplit(' ', 1)[1] for t in gone))}")
    for title in gone[:6]:  # where each got to, to tell a stuck partition from a dropped alert
        watch = f"watch-{title.rsplit('alpha', 1)[1]}"
        article = article_id("world", guid=title)
        found.note(f"lost {title!r} ({watch}), article {article}:")
        found.note(f"  the article in the logs: {who_sent(article, procs)}")
        found.note(f"  in the logs: {who_sent(models.alert_id(watch, article, CHANNEL), procs)}")
    found.expect(not copies, f"duplicated (by phase added): {dict(+repeated)}")
    for title in copies[:10]:
        answers = ok_by_title[title]
        alert_ids = sorted({a.headers["X-Monitor-Alert-Id"] for a in answers})
        found.note(f"{title!r} (added: {stream.phase_of[title]}) answered 200 at {clocks(answers)}")
        for alert_id in alert_ids:
            found.note(f"  alert {alert_id} in the logs: {who_sent(alert_id, procs)}")


def clocks(answers: list[Answer]) -> list[str]:
    """The times of day (UTC) the answers were given."""
    return [datetime.fromtimestamp(a.at, UTC).strftime("%H:%M:%S.%f")[:-3] for a in answers]


def who_sent(alert_id: str, procs: dict[str, MonitorProcess]) -> list[tuple[str, str, str]]:
    """(process, time, event) of every log line about `alert_id`, in time order."""
    seen = []
    for name, proc in procs.items():
        for line in proc.stderr().splitlines():
            if alert_id not in line:
                continue
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                seen.append((event.get("timestamp", "")[11:23], name, event.get("event", "")))
    return [(name, at, event) for at, name, event in sorted(seen)]
