"""Article pages that take the extractor seconds and hundreds of megabytes each, read by a
full-text feed while five ordinary feeds alert: the service as a subprocess stays responsive,
the other feeds' alerts come promptly, memory stays bounded (worker processes counted) and no
CPU is spent on a page after the poll's deadline."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.support.processes import eventually, webhook_service
from tests.support.servers import Receiver, free_port, serve
from tests.support.site import Site, feed

# Memory (PSS). The service never holds a page's extraction; each worker may take up to the
# configured page budget (256 MiB) above what it holds at start, and is killed past it.
SERVICE_MB = 350
WORKER_MB = 256 * 1.048576 + 80
PROMPT_S = 15.0  # the ordinary feeds' alerts, while the pages are read (20 s: the deadline)
PAGES = 8  # of 2.5 MB of paragraphs, and one of 100,000 links
ORDINARY = [f"plain-{n}" for n in range(1, 6)]
WORDS = ["the", "minister", "said", "markets", "rose", "sharply", "after", "talks", "in"]
WORDS += ["capital", "while", "reporters", "waited", "near", "river", "bank", "for", "news"]
WATCH = "rules:\n  - {id: word, match: {any: [alpha]}}\n"


def paragraphs_page(seed: int, size: int = 2_500_000) -> bytes:
    """An article page of distinct paragraphs (the extractor folds repeated ones)."""
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0
    while total < size:
        text = f"<p>Paragraph {len(parts)}: " + " ".join(rng.choices(WORDS, k=14)) + ".</p>\n"
        parts.append(text)
        total += len(text)
    return f"<html><head><title>Page {seed}</title></head><body><article>{''.join(parts)}</article></body></html>".encode()


def links_page(count: int = 100_000) -> bytes:
    """A page of nothing but links (3.4 MB)."""
    links = "".join(f'<a href="/p/{i}">link {i}</a>\n' for i in range(count))
    return f"<html><head><title>Links</title></head><body>{links}</body></html>".encode()


def family(pid: int) -> list[int]:
    """The process and every process below it (its extraction workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def pss_kb(pid: int) -> int:
    """The process's proportional set size: its resident memory, pages shared with the other
    workers counted once across them (RSS would count the libraries they share twice)."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return 0
    return next((int(ln.split()[1]) for ln in lines if ln.startswith("Pss:")), 0)


def family_mb(pid: int) -> tuple[float, float, str]:
    """The memory of the service itself, of its largest worker, and each process's."""
    each = [(p, pss_kb(p) / 1024) for p in family(pid)]
    worker = max((mb for p, mb in each if p != pid), default=0.0)
    service = next(mb for p, mb in each if p == pid) if each else 0.0
    return service, worker, ", ".join(f"{p}: {mb:.0f} MB" for p, mb in each)


def cpu_ticks(pids: Iterable[int]) -> int:
    """User and system CPU ticks spent so far by these processes."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


async def healthz_s(http: str) -> float:
    """How long /healthz takes to answer 200 (at most a second)."""
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=1.0)
    async with aiohttp.ClientSession(timeout=timeout) as s, s.get(http + "/healthz") as resp:
        assert 200 == resp.status
    return time.monotonic() - started


@dataclass
class Watch:
    """The service's memory and /healthz, sampled every half second while the pages are read."""

    pid: int
    http: str
    worst_service_mb: float = 0.0
    worst_worker_mb: float = 0.0
    worst_each: str = ""
    worst_healthz_s: float = 0.0

    async def run(self) -> None:
        while True:
            self.worst_healthz_s = max(self.worst_healthz_s, await healthz_s(self.http))
            service, worker, each = family_mb(self.pid)
            if service > self.worst_service_mb or worker > self.worst_worker_mb:
                self.worst_each = each
            self.worst_service_mb = max(self.worst_service_mb, service)
            self.worst_worker_mb = max(self.worst_worker_mb, worker)
            await asyncio.sleep(0.5)


def alerted(receiver: Receiver) -> set[str]:
    """The titles alerted so far."""
    return {json.loads(body)["article"]["title"] for _, body in receiver.received}


@pytest.mark.long
async def test_slow_pages_do_not_stall_the_other_feeds(tmp_path: Path) -> None:
    """Eight 2.5 MB pages of paragraphs and a page of 100,000 links behind one full-text feed:
    five ordinary feeds' new items alert within 15 s (before the poll's 20 s deadline),
    /healthz answers within a second, the service stays under 350 MB and each worker within its page budget (PSS), and
    once the pages' poll is over nothing burns CPU on them."""
    site, receiver = Site(), Receiver()
    for n in range(PAGES):
        site.pages[f"p{n}"] = paragraphs_page(n)
    site.pages["links"] = links_page()
    async with serve(site.app()) as base, serve(receiver.app()) as hook:
        site.base, receiver.base = base, hook
        names = [f"p{n}" for n in range(PAGES)] + ["links"]
        site.feeds["pages"] = feed([])
        for name in ORDINARY:
            site.feeds[name] = feed([(f"alpha warm {name}", site.url(f"/w/{name}"), "alpha")])
        rules = tmp_path / "rules"
        (rules / "entities").mkdir(parents=True)
        pages_url = site.url("/feeds/pages")
        lines = [f'  - {{id: pages, url: "{pages_url}", interval: 1s, fulltext: true}}']
        lines += [
            f'  - {{id: {n}, url: "{site.url(f"/feeds/{n}")}", interval: 1s}}' for n in ORDINARY
        ]
        (rules / "feeds.yaml").write_text("feeds:\n" + "\n".join(lines) + "\n")
        (rules / "watches.yaml").write_text(WATCH)
        monitor = webhook_service(tmp_path, receiver.url("/hook"), free_port())
        proc = await monitor.start()
        watch = Watch(proc.pid, monitor.http)
        sampling: asyncio.Task[None] | None = None
        try:
            # Warm first: the service's own first matches (models loaded) are not the pages'.
            warm = {f"alpha warm {name}" for name in ORDINARY}
            await eventually(lambda: warm <= alerted(receiver), 60, monitor.stderr)
            sampling = asyncio.create_task(watch.run())
            site.feeds["pages"] = feed([(f"Page {n}", site.url(f"/news/{n}"), "x") for n in names])
            await eventually(lambda: sum(site.count(f"/news/{n}") for n in names) >= 2, 30)
            await asyncio.sleep(2.0)  # the extraction under way
            for name in ORDINARY:
                site.feeds[name] = feed([(f"alpha from {name}", site.url(f"/a/{name}"), "alpha")])
            asked = time.monotonic()
            wanted = {f"alpha from {name}" for name in ORDINARY}
            await eventually(
                lambda: wanted <= alerted(receiver),
                PROMPT_S,
                describe=lambda: f"alerted {alerted(receiver)}; {monitor.stderr()[-2000:]}",
            )
            print(f"alerts in {time.monotonic() - asked:.1f}s")
            assert 2 == await monitor.metric("monitor_fulltext_jobs", {"state": "running"})

            async def pages_done() -> bool:  # each page counted: read, failed or late
                return await monitor.metric_sum("monitor_fulltext_total") >= len(names)

            await eventually(pages_done, 60, monitor.stderr)
            sampling.cancel()
            print(f"healthz at worst {watch.worst_healthz_s:.2f}s")
            print(f"memory at worst: {watch.worst_each}")
            assert watch.worst_healthz_s < 1.0
            assert watch.worst_service_mb < SERVICE_MB, watch.worst_each
            assert watch.worst_worker_mb < WORKER_MB, watch.worst_each
            await asyncio.sleep(5.0)  # the killed workers' successors started (1 s of CPU each)
            before = cpu_ticks(family(proc.pid))
            await asyncio.sleep(3.0)
            spent_s = (cpu_ticks(family(proc.pid)) - before) / 100  # USER_HZ
            print(f"{spent_s:.2f}s of CPU in the 3 s after the pages' deadline")
            assert spent_s < 1.0, f"{spent_s:.1f}s of CPU in 3s after the pages' deadline"
            _, ready = await monitor.get("/readyz")
            assert "fulltext_pool" in json.loads(ready)
            assert proc.returncode is None
        finally:
            if sampling is not None:
                sampling.cancel()
            await monitor.kill()
