"""Kafka throughput: poller -> matchers -> dispatchers on a real broker, on this machine.

A feed server holds 1,000 feeds of 100 items (100,000 articles, one in ten about zeppelins),
polled every 10 s (a first poll of each within its first second, then 304s);
the watches are one about zeppelins and 1,000 that never match; alerts go to a webhook receiver.
Two runs, each on topics of its own:

- **Backlog.** The poller alone publishes every article; then two matchers and two
  dispatchers start and drain it. Recorded: the poller's rate, the drain's rate and the
  matchers' consumer lag (sampled every half second) while it drains.
- **End to end.** The poller, two matchers and two dispatchers start together: articles per
  second from the first process's start to the last alert.

The broker (Apache Kafka, from Maven Central by `tools.kafka_harness`) and the monitor
processes share the machine's cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.service import Feeds, Hooks
from tests.support.processes import MonitorProcess
from tests.support.servers import free_port, serve
from tools.kafka_harness import Broker

FEEDS = 1_000
PER_FEED = 100
ARTICLES = FEEDS * PER_FEED
SAMPLE_S = 0.5


def _item(serial: int) -> str:
    """An RSS item; one in ten is about zeppelins. Each has words of its own: items that shared
    runs of words would be copies of one story, and alert once between them."""
    rng = random.Random(serial)
    words = " ".join(f"word{rng.randrange(5000)}" for _ in range(60))
    title = f"Zeppelin sighting {serial}" if serial % 10 == 0 else f"Market report {serial}"
    return (
        f"<item><title>{title}</title>"
        f"<link>http://127.0.0.1/a/{serial}</link><guid>http://127.0.0.1/a/{serial}</guid>"
        f"<pubDate>Sat, 28 Nov 2026 00:00:00 GMT</pubDate>"
        f"<description>{words}</description></item>"
    )


@dataclass
class Run:
    """The monitor processes of one run, on one topic prefix."""

    root: Path
    bootstrap: str
    prefix: str
    feed_base: str
    hook_url: str
    processes: list[MonitorProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        rules = self.root / "rules"
        rules.mkdir(parents=True)
        (rules / "feeds.yaml").write_text(
            "feeds:\n"
            + "".join(
                f'  - {{id: f{n}, url: "{self.feed_base}/f/{n}", interval: 10s}}\n'
                for n in range(FEEDS)
            )
        )
        (rules / "watches.yaml").write_text(
            "rules:\n  - {id: zeppelins, match: {any: [zeppelin]}}\n"
            + "".join(f"  - {{id: w{n}, match: {{any: [quokka{n}]}}}}\n" for n in range(1000))
        )

    def process(self, name: str) -> MonitorProcess:
        port = free_port()
        config = self.root / f"{name}.yaml"
        config.write_text(
            textwrap.dedent(f"""\
            rules_dir: rules
            state_dir: state-{name}
            poller: {{per_host: 16, host_delay: 0s}}  # every feed on one local server
            bus: {{kind: kafka, bootstrap_servers: "{self.bootstrap}",
                   topic_prefix: "{self.prefix}", partitions: 4, poller_partitions: 4}}
            http: {{listen: "127.0.0.1:{port}"}}
            defaults: {{notify: [hook]}}
            channels:
              hook: {{kind: webhook, url: "{self.hook_url}"}}
            """)
        )
        proc = MonitorProcess(config, f"http://127.0.0.1:{port}", self.root / name)
        self.processes.append(proc)
        return proc

    async def start(self, *roles: str) -> list[MonitorProcess]:
        procs = []
        for role in roles:
            proc = self.process(f"{role}-{len(self.processes)}")
            await proc.start("--role", role)
            procs.append(proc)
        return procs


async def _sum(proc: MonitorProcess, family: str, label: str = "") -> float:
    """The sum of a metric family's samples (those whose labels contain `label`)."""
    _, text = await proc.get("/metrics")
    total = 0.0
    for line in text.splitlines():
        if line.startswith(family) and label in line and not line.startswith("#"):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name == family:
                total += float(line.rsplit(" ", 1)[1])
    return total


async def _lag(matchers: list[MonitorProcess]) -> float:
    return sum([await _sum(m, "monitor_consumer_lag", 'group="matcher"') for m in matchers])


async def _until(check: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {timeout_s} s")
        await asyncio.sleep(SAMPLE_S)


@contextlib.asynccontextmanager
async def _world() -> AsyncIterator[tuple[Broker, Feeds, Hooks, str, str, Path]]:
    with tempfile.TemporaryDirectory(prefix="monitor-kafka-bench-") as tmp:
        root = Path(tmp)
        broker = Broker(root / "kafka").start()
        try:
            feeds, hooks = Feeds(FEEDS, keep=PER_FEED, item=_item), Hooks()
            async with serve(feeds.app()) as feed_base, serve(hooks.app()) as hook_base:
                yield broker, feeds, hooks, feed_base, f"{hook_base}/hook", root
        finally:
            broker.stop()


async def throughput() -> dict[str, Any]:
    """Both runs; see the module's comment."""
    async with _world() as (broker, _, hooks, feed_base, hook_url, root):
        alerts = ARTICLES // 10
        backlog = Run(root / "backlog", broker.bootstrap, "b.", feed_base, hook_url)
        try:
            started = time.monotonic()
            (poller,) = await backlog.start("poller")

            async def published() -> bool:
                return await _sum(poller, "monitor_articles_published_total") >= ARTICLES

            await _until(published, 600)
            poll_s = time.monotonic() - started
            await poller.stop(timeout_s=30)
            started = time.monotonic()
            matchers = await backlog.start("matcher", "matcher")
            await backlog.start("dispatcher", "dispatcher")
            lags: list[tuple[float, float]] = []

            async def drained() -> bool:
                lag = await _lag(matchers)
                lags.append((time.monotonic() - started, lag))
                return hooks.received >= alerts and lag == 0 and len(lags) > 2

            await _until(drained, 900)
            drain_s = time.monotonic() - started
        finally:
            for proc in backlog.processes:
                await proc.kill()
        received = hooks.received
        together = Run(root / "together", broker.bootstrap, "e.", feed_base, hook_url)
        try:
            started = time.monotonic()
            await together.start("matcher", "matcher", "dispatcher", "dispatcher", "poller")

            async def delivered() -> bool:
                return hooks.received >= received + alerts

            await _until(delivered, 900)
            end_to_end_s = time.monotonic() - started
        finally:
            for proc in together.processes:
                await proc.kill()
    return {
        "articles": ARTICLES,
        "alerts": alerts,
        "poll_per_s": ARTICLES / poll_s,
        "drain_per_s": ARTICLES / drain_s,
        "drain_s": drain_s,
        "peak_lag": max(lag for _, lag in lags),
        "lag_curve": [(round(t), lag) for t, lag in lags[:: max(1, len(lags) // 12)]],
        "end_to_end_per_s": ARTICLES / end_to_end_s,
        "end_to_end_s": end_to_end_s,
        "duplicates": hooks.received - 2 * alerts,
    }
