"""A feed built to hurt story folding's facts, next to ordinary feeds: items whose titles are
tens of thousands of numbers and whose leads are nothing but identifiers, times and
dates, and a flood of one template with every fact changed. The service as a subprocess stays
up, answers /healthz, alerts every distinct item once and keeps the other feeds alerting."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.support.processes import eventually, webhook_service
from tests.support.servers import Receiver, free_port, serve
from tests.support.site import Site, feed

WATCH = "rules:\n  - {id: word, match: {any: [alpha]}}\n"
TEMPLATE = 40  # items from one template, every fact other


def numbers_title(n: int) -> str:
    """A title of 20,000 numbers (about 110 KB)."""
    return f"alpha {n} " + " ".join(str(k) for k in range(20_000))


def identifiers_lead(n: int) -> str:
    """A lead of 5,000 identifiers, 5,000 times and 5,000 dates (about 175 KB), every one a fact."""
    parts = (f"CVE-2026-{n}{k} 10:{k % 60:02d} 2026-12-{k % 28 + 1:02d}" for k in range(5_000))
    return " ".join(parts)


def templated(n: int) -> tuple[str, str]:
    """One template, every fact changed: each is its own event."""
    return (
        f"alpha M {n % 9}.{n % 10} - {n + 3} km N of Town{n}",
        f"A magnitude {n % 9}.{n % 10} earthquake struck {n + 3} km N of Town{n} at "
        f"{n % 24:02d}:{n % 60:02d} UTC, at a depth of {n % 30}.5 km, the survey said today.",
    )


def alerted(receiver: Receiver) -> list[str]:
    """The titles alerted so far, one per alert."""
    return [json.loads(body)["article"]["title"] for _, body in receiver.received]


def links(receiver: Receiver) -> list[str]:
    """The links of the articles alerted so far, one per alert."""
    return [json.loads(body)["article"]["url"] for _, body in receiver.received]


async def test_hostile_facts_do_not_stall_or_fold_distinct_events(tmp_path: Path) -> None:
    site, receiver = Site(), Receiver()
    async with serve(site.app()) as base, serve(receiver.app()) as hook:
        site.base, receiver.base = base, hook
        huge = [(numbers_title(n), site.url(f"/h/{n}"), identifiers_lead(n)) for n in range(4)]
        site.feeds["huge"] = feed(huge)
        events = [templated(n) for n in range(TEMPLATE)]
        site.feeds["template"] = feed(
            [(title, site.url(f"/t/{n}"), body) for n, (title, body) in enumerate(events)]
        )
        site.feeds["plain"] = feed([("alpha plain one", site.url("/p/1"), "alpha")])
        rules = tmp_path / "rules"
        (rules / "entities").mkdir(parents=True)
        lines = [
            f'  - {{id: {name}, url: "{site.url(f"/feeds/{name}")}", interval: 1s}}'
            for name in ("huge", "template", "plain")
        ]
        (rules / "feeds.yaml").write_text("feeds:\n" + "\n".join(lines) + "\n")
        (rules / "watches.yaml").write_text(WATCH)
        monitor = webhook_service(tmp_path, receiver.url("/hook"), free_port())
        proc = await monitor.start()
        try:
            templates = {templated(n)[0] for n in range(TEMPLATE)}
            await eventually(
                lambda: templates <= set(alerted(receiver)),
                40,
                describe=lambda: (
                    f"{len(set(alerted(receiver)) & templates)} of {TEMPLATE}"
                    f" templated events alerted; {monitor.stderr()[-1500:]}"
                ),
            )
            huge_links = {site.url(f"/h/{n}") for n in range(4)}
            await eventually(lambda: huge_links <= set(links(receiver)), 20, monitor.stderr)
            # The feeds go on: a new plain item after all that still alerts promptly.
            site.feeds["plain"] = feed([("alpha plain two", site.url("/p/2"), "alpha")])
            await eventually(lambda: "alpha plain two" in alerted(receiver), 15, monitor.stderr)
            status, _ = await monitor.get("/healthz")
            assert status == 200
            assert proc.returncode is None
            titles = alerted(receiver)
            assert all(titles.count(t) == 1 for t in templates), "a templated event alerted twice"
            assert all(links(receiver).count(link) == 1 for link in huge_links)
        finally:
            await monitor.kill()
            await asyncio.sleep(0)
