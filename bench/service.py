"""Service benchmarks: the cost of polling, poll-to-webhook latency, memory over a soak.

The monitor runs as its own process (`monitor run`, the embedded bus), fed by a feed server and
watched by a webhook receiver that both live in this process, so the CPU and memory measured
are the monitor's alone (read from /proc).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.processes import MonitorProcess, eventually
from tests.support.servers import free_port, serve

WORDS = [
    "the",
    "minister",
    "said",
    "talks",
    "on",
    "trade",
    "and",
    "energy",
    "would",
    "resume",
    "next",
    "week",
    "after",
    "a",
    "pause",
    "in",
    "which",
    "both",
    "sides",
    "traded",
    "accusations",
    "over",
    "tariffs",
    "shipping",
    "and",
    "the",
    "price",
    "of",
    "grain",
]
TICK_S = 0.01  # the feed server adds items in ticks: 100 ticks a second


@dataclass
class Feeds:
    """Feeds at /f/N (RSS 2.0, the newest `keep` items), with ETags and 304s."""

    count: int
    keep: int = 10
    items: list[list[int]] = field(default_factory=list)
    docs: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    answers: dict[int, int] = field(default_factory=dict)  # status -> count
    serial: int = 0
    # An item's RSS by its serial number (every one about zeppelins, by default).
    item: Callable[[int], str] | None = None

    def __post_init__(self) -> None:
        self.items = [[] for _ in range(self.count)]
        for n in range(self.count):
            for _ in range(self.keep):
                self.publish(n)

    def publish(self, n: int) -> None:
        """Add a new item to feed `n`."""
        self.serial += 1
        self.items[n] = [*self.items[n][-(self.keep - 1) :], self.serial]
        self.docs.pop(n, None)

    def _doc(self, n: int) -> tuple[str, bytes]:
        found = self.docs.get(n)
        if found is None:
            make = self.item or _item
            items = "".join(make(serial) for serial in self.items[n])
            body = (
                '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>Feed {n}</title><link>http://127.0.0.1/f/{n}</link>"
                f"<description>bench</description>{items}</channel></rss>"
            ).encode()
            found = self.docs[n] = (f'"{n}-{self.items[n][-1]}"', body)
        return found

    def app(self) -> web.Application:
        async def feed(request: web.Request) -> web.Response:
            etag, body = self._doc(int(request.match_info["n"]))
            if request.headers.get("If-None-Match") == etag:
                status, response = 304, web.Response(status=304, headers={"ETag": etag})
            else:
                status = 200
                response = web.Response(
                    body=body, content_type="application/rss+xml", headers={"ETag": etag}
                )
            self.answers[status] = self.answers.get(status, 0) + 1
            return response

        app = web.Application()
        app.router.add_get("/f/{n}", feed)
        return app


@functools.lru_cache(maxsize=1 << 16)  # a document is remade on every new item: cache its items
def _item(serial: int) -> str:
    """A zeppelin item with words of its own: items sharing runs of words would be copies of
    one story, and alert once between them."""
    rng = random.Random(serial)
    words = " ".join(rng.choice(WORDS) for _ in range(150))
    return (
        f"<item><title>Zeppelin sighting {serial}</title>"
        f"<link>http://127.0.0.1/a/{serial}</link><guid>http://127.0.0.1/a/{serial}</guid>"
        f"<pubDate>Sat, 28 Nov 2026 00:00:00 GMT</pubDate>"
        f"<description>&lt;p&gt;{words}&lt;/p&gt;</description></item>"
    )


@dataclass
class Hooks:
    """A webhook receiver that notes, for each alert, how long after the poll it arrived."""

    latencies_s: list[float] = field(default_factory=list)
    received: int = 0

    def app(self) -> web.Application:
        async def hook(request: web.Request) -> web.Response:
            body: dict[str, Any] = json.loads(await request.read())
            arrived = time.time()
            fetched = datetime.fromisoformat(body["article"]["fetched_at"]).timestamp()
            self.latencies_s.append(arrived - fetched)
            self.received += 1
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/hook", hook)
        return app


@dataclass
class Usage:
    """CPU seconds and memory of a process, from /proc."""

    cpu_s: float
    rss_mb: float
    peak_mb: float


def usage(pid: int) -> Usage:
    """Read a process's CPU time so far, resident memory and peak resident memory."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return Usage(
        cpu, int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024
    )


@contextlib.asynccontextmanager
async def monitor(
    feeds: Feeds,
    feed_base: str,
    hook_url: str,
    interval: str,
    *args: str,
    extra: str = "",
) -> AsyncIterator[MonitorProcess]:
    """A `monitor run` with one feed per `feeds`, one rule for every item, a webhook channel
    and `extra` configuration (YAML)."""
    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
        root = Path(tmp)
        rules = root / "rules"
        rules.mkdir()
        (rules / "feeds.yaml").write_text(
            "feeds:\n"
            + "".join(
                f'  - {{id: f{n}, url: "{feed_base}/f/{n}", interval: {interval}}}\n'
                for n in range(feeds.count)
            )
        )
        (rules / "watch.yaml").write_text(
            "rules:\n  - {id: zeppelins, match: {any: [zeppelin]}, severity: high}\n"
        )
        config = write_config(
            root,
            f"""\
            defaults: {{notify: [hook]}}
            channels:
              hook: {{kind: webhook, url: "{hook_url}"}}
            """
            + extra,
        )
        process = MonitorProcess(config, http_of(config), root / "logs")
        await process.start(*args)
        try:
            await eventually(lambda: _ready(process), timeout_s=60, describe=process.stderr)
            yield process
        finally:
            with contextlib.suppress(Exception):
                await process.stop(timeout_s=30)
            await process.kill()


def write_config(root: Path, extra: str = "") -> Path:
    """`root`/monitor.yaml: rules in `root`/rules, state in `root`/state, the embedded bus,
    HTTP on a free port of 127.0.0.1, and `extra` (YAML, indented as written)."""
    config = root / "monitor.yaml"
    config.write_text(
        textwrap.dedent(f"""\
        rules_dir: rules
        state_dir: state
        bus: local
        # Every feed is on one local server, which a deployment's feeds are not: no host turns.
        poller: {{per_host: 16, host_delay: 0s}}
        http: {{listen: "127.0.0.1:{free_port()}"}}
        """)
        + textwrap.dedent(extra)
    )
    return config


def http_of(config: Path) -> str:
    """The base URL of the listener `write_config` chose."""
    listen = config.read_text().split('listen: "', 1)[1].split('"', 1)[0]
    return f"http://{listen}"


def _pid(process: MonitorProcess) -> int:
    if process.proc is None:
        raise RuntimeError("the monitor is not running")
    return process.proc.pid


async def _ready(process: MonitorProcess) -> bool:
    status, _ = await process.get("/healthz")
    return status == 200


async def _publish(feeds: Feeds, per_s: float, stop: asyncio.Event) -> None:
    """Add `per_s` items a second, round robin over the feeds, in ticks of TICK_S."""
    loop = asyncio.get_running_loop()
    start, done, n = loop.time(), 0, 0
    while not stop.is_set():
        due = int((loop.time() - start) * per_s)
        for _ in range(due - done):
            feeds.publish(n % feeds.count)
            n += 1
        done = due
        await asyncio.sleep(TICK_S)


@contextlib.asynccontextmanager
async def _running(
    feeds: Feeds,
    interval: str,
    per_s: float,
    *args: str,
    extra: str = "",
) -> AsyncIterator[tuple[MonitorProcess, Hooks]]:
    """A monitor over `feeds` (polled every `interval`), its webhook receiver, and new items
    published at `per_s` a second until the block ends."""
    hooks = Hooks()
    async with (
        serve(feeds.app()) as feed_base,
        serve(hooks.app()) as hook_base,
        monitor(feeds, feed_base, f"{hook_base}/hook", interval, *args, extra=extra) as m,
    ):
        stop = asyncio.Event()
        task = asyncio.create_task(_publish(feeds, per_s, stop))
        try:
            yield m, hooks
        finally:
            stop.set()
            await task


async def polling(count: int = 10_000, window_s: float = 330.0) -> dict[str, Any]:
    """The poller alone keeping `count` feeds on a 5-minute interval, over one interval and
    its warm-up: every feed's first poll (a full document), then its second (mostly a 304)."""
    feeds = Feeds(count)
    # 5% of the feeds get a new item in an interval: the rest answer 304.
    async with _running(feeds, "5m", count * 0.05 / 300, "--role", "poller") as (m, _):
        before = usage(_pid(m))
        await asyncio.sleep(window_s)
        after = usage(_pid(m))
    cpu = (after.cpu_s - before.cpu_s) / window_s
    polls = sum(feeds.answers.values())
    return {
        "cpu_core": cpu,
        "rss_mb": after.rss_mb,
        "peak_mb": after.peak_mb,
        "polls_per_s": polls / window_s,
        "not_modified": feeds.answers.get(304, 0) / max(1, polls),
    }


async def latency(
    per_s: float = 100.0, feed_count: int = 50, warmup_s: float = 15.0, window_s: float = 60.0
) -> dict[str, Any]:
    """Poll-to-webhook latency with `per_s` new articles a second, every one of them alerting."""
    async with _running(Feeds(feed_count), "1s", per_s) as (m, hooks):
        await asyncio.sleep(warmup_s)
        hooks.latencies_s.clear()
        await asyncio.sleep(window_s)
        got = sorted(hooks.latencies_s)
        rss_mb = usage(_pid(m)).rss_mb
    return {
        "alerts_per_s": len(got) / window_s,
        "p50_ms": 1000 * statistics.median(got),
        "p99_ms": 1000 * got[int(0.99 * (len(got) - 1))],
        "rss_mb": rss_mb,
    }


STRUCTURE_SAMPLE = re.compile(
    r'^monitor_dispatcher_(entries|bytes|bound)\{structure="(\w+)"\} (\S+)$', re.M
)


@dataclass
class Sample:
    """One look at the monitor during a soak: seconds since the start, RSS, PSS and peak RSS
    in MB, alerts received so far, and each structure's entries, bytes and bound."""

    at_s: float
    rss_mb: float
    pss_mb: float
    peak_mb: float
    alerts: int
    structures: dict[str, dict[str, float]]


def pss_mb(pid: int) -> float:
    """A process's proportional set size (its share of pages shared with others), in MB."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _look(m: MonitorProcess, at_s: float, alerts: int) -> Sample:
    pid = _pid(m)
    now = usage(pid)
    _, text = await m.get("/metrics")
    structures: dict[str, dict[str, float]] = {}
    for kind, name, value in STRUCTURE_SAMPLE.findall(text):
        structures.setdefault(name, {})[kind] = float(value)
    return Sample(at_s, now.rss_mb, pss_mb(pid), now.peak_mb, alerts, structures)


async def soak(
    duration_s: float,
    per_s: float = 100.0,
    max_articles: int = 8_000,
    feed_count: int = 50,
    every_s: float = 5.0,
) -> dict[str, Any]:
    """The monitor at `per_s` alerting articles a second (each its own story) for
    `duration_s`, with `stories.max_articles` set to `max_articles`, sampled every `every_s`:
    when each structure the dispatcher keeps filled to its bound, resident memory once they
    all had (the plateau) and its peak, and what the plateau is made of (the structures'
    estimated bytes against RSS)."""
    samples: list[Sample] = []
    # Each feed shows its newest items: enough for 2.5 polls' worth, so none is missed.
    feeds = Feeds(feed_count, keep=max(10, int(2.5 * per_s / feed_count)))
    stories = f"stories: {{window: 48h, max_articles: {max_articles}}}\n"
    async with _running(feeds, "1s", per_s, extra=stories) as (m, hooks):
        start = time.monotonic()
        first = await _look(m, 0.0, 0)
        while (elapsed := time.monotonic() - start) < duration_s:
            samples.append(await _look(m, elapsed, hooks.received))
            await asyncio.sleep(every_s)
        received = hooks.received
    found = soak_summary(first, samples, received, duration_s)
    found["language_model_mb"] = language_model_mb()
    return found


LANGUAGE_MODEL = """\
import monitor.kernel.language as language

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

before = rss_mb()
language.detect_language("the minister said talks on trade would resume next week")
print(rss_mb() - before)
"""


def language_model_mb() -> float:
    """What loading the language model adds to a process's RSS: the service loads it at its
    first article of undeclared language, after the soak's reading at start."""
    out = subprocess.run(  # noqa: S603 - our own interpreter running our own code
        [sys.executable, "-c", LANGUAGE_MODEL], capture_output=True, text=True, check=True
    )
    return float(out.stdout)


def soak_summary(
    first: Sample, samples: list[Sample], alerts: int, duration_s: float
) -> dict[str, Any]:
    """The figures of a soak: fill times, plateau, peak, and what the plateau holds."""
    last = samples[-1]
    filled: dict[str, float | None] = {}
    for name, figures in last.structures.items():
        bound = figures.get("bound", 0)
        filled[name] = next(
            (s.at_s for s in samples if s.structures.get(name, {}).get("entries", 0) >= bound > 0),
            None,
        )
    reached = [t for t in filled.values() if t is not None]
    full_s = max(reached) if reached else duration_s
    plateau = [s for s in samples if s.at_s >= full_s] or samples[-1:]
    rss = [s.rss_mb for s in plateau]
    span_min = max(1e-9, (plateau[-1].at_s - plateau[0].at_s) / 60)
    tenth = max(1, len(rss) // 10)
    drift = statistics.median(rss[-tenth:]) - statistics.median(rss[:tenth])
    made_of = {name: f.get("bytes", 0) / 2**20 for name, f in last.structures.items()}
    return {
        "duration_s": duration_s,
        "alerts": alerts,
        "alerts_per_s": alerts / max(1e-9, last.at_s),
        "start_mb": first.rss_mb,
        "filled_s": filled,
        "full_s": full_s,
        "plateau_mb": statistics.median(rss),
        "plateau_min_mb": min(rss),
        "plateau_max_mb": max(rss),
        "plateau_pss_mb": statistics.median(s.pss_mb for s in plateau),
        "plateau_drift_mb_per_min": drift / span_min,
        "plateau_minutes": span_min,
        "peak_mb": max(s.peak_mb for s in samples),
        "structures_mb": made_of,
        "curve": [(round(s.at_s), round(s.rss_mb), s.alerts) for s in samples],
    }
