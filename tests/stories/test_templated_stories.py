"""Templated feeds end to end: every distinct event alerts, a copy of one still folds.

`monitor run --once` as a subprocess, a real feed server and webhook receiver. Per feed shape, a
source feed serves real events written from one template (tests/data/templated/: USGS
earthquakes as its Atom feed writes them, NVD advisories as its RSS feed did, Premier League
results) and a second feed republishes one of them as a news desk or mirror would. One watch
matches them all. Each event must give exactly one alert (the copy or its original, whichever
the service meets first): the copy folded.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from html import escape
from pathlib import Path

import pytest

from bench.templated import SHAPES, Event, build_templated, load, plain
from tests.support.processes import ServiceRig, service_rig

NUMBER = re.compile(r"\d+(?:\.\d+)?")
QUAKE_WATCH = "rules:\n  - {id: quakes, match: {any: [epicenter]}}\n"
ADVISORY_WATCH = 'rules:\n  - {id: advisories, match: {any: ["vulnerab*", "allow*"]}}\n'
RESULTS_WATCH = "rules:\n  - {id: results, match: {any: [league]}}\n"


def atom(events: list[Event]) -> bytes:
    """The USGS Atom feed of `events`: the summary is HTML, the link the event page."""
    entries = "".join(
        f"<entry><id>urn:earthquake-usgs-gov:{e.event}</id><title>{escape(e.title)}</title>"
        f"<updated>{e.published}</updated>"
        f'<link rel="alternate" type="text/html" href="{escape(e.url)}"/>'
        f'<summary type="html">{escape(e.summary)}</summary></entry>'
        for e in events
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>USGS Magnitude 4.5+ Earthquakes, Past Week</title>"
        f"<updated>2018-06-12T04:51:32Z</updated><id>usgs-4.5-week</id>{entries}</feed>"
    ).encode()


def rss(events: list[Event], title: str = "feed") -> bytes:
    """An RSS feed of `events` (the NVD RSS feed's shape: title, link, description)."""
    items = "".join(
        f"<item><title>{escape(e.title)}</title><link>{escape(e.url)}</link>"
        f"<guid>{escape(e.url)}</guid><description>{escape(e.summary)}</description></item>"
        for e in events
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}'
        f"</title>{items}</channel></rss>"
    ).encode()


async def one_alert_each(
    tmp_path: Path,
    events: list[Event],
    source: bytes,
    copy: Event,
    of: Event,
    mirror: bytes,
    watch: str,
) -> None:
    """Serve `source` (the events) on feed "source" and `mirror` (`copy`, a copy of event `of`)
    on feed "mirror"; run once; check one alert per event, and the copy folded into `of`'s."""
    event_of = {e.url: e.event for e in events} | {copy.url: of.event}
    feeds = {"source": source, "mirror": mirror}
    async with service_rig(tmp_path, feeds, watch, ServiceRig) as rig:
        proc = await rig.monitor.start("--once")
        assert 0 == await asyncio.wait_for(proc.wait(), timeout=60), rig.monitor.stderr()[-2000:]
        bodies = [json.loads(b) for _, b in rig.receiver.received]
    alerted = Counter(event_of[b["article"]["url"]] for b in bodies)
    silenced = [e.title for e in events if alerted[e.event] == 0]
    assert not silenced, (
        f"{len(silenced)} of {len(events)} distinct events never alerted "
        f"(folded into another event's story): {silenced}"
    )
    # The copy alerting too would make two alerts for its event: one is the proof it folded.
    # (Which of the two alerts, and whether its story lists both feeds yet, depends on which
    # feed the service reads first.)
    assert all(n == 1 for n in alerted.values()), [e for e, n in alerted.items() if n > 1]
    assert alerted[of.event] == 1


async def test_earthquakes_each_alert_and_a_desk_copy_folds(tmp_path: Path) -> None:
    """71 USGS quakes (M 4.5+, one week; several at one place, most at the fixed 10 km depth)
    and a news desk's copy of one: "BREAKING:" on the title, the summary as datelined text."""
    events = load("quake")
    of = next(e for e in events if e.title == "M 4.9 - 26km SE of Ohara, Japan")
    copy = Event(
        of.event,
        f"BREAKING: {of.title}",
        f"GOLDEN, Colorado (Reuters) - {plain(of.summary)}",
        "https://quake-desk.example/2018/06/11/ohara",
        of.published,
    )
    await one_alert_each(
        tmp_path, events, atom(events), copy, of, rss([copy], "quake desk"), QUAKE_WATCH
    )


async def test_advisories_each_alert_and_a_mirror_copy_folds(tmp_path: Path) -> None:
    """The NVD records of July 2021 in templates ("Windows DNS Server Remote Code Execution
    Vulnerability This CVE ID is unique from ...", one Siemens sentence over many products) that
    the watch matches, and a mirror republishing one under a title of its own."""
    events = [e for e in load("advisory") if re.search(r"\b(vulnerab|allow)", e.summary, re.I)]
    of = next(e for e in events if e.event == "CVE-2021-34525")
    copy = Event(
        of.event,
        f"{of.title} - Windows DNS Server Remote Code Execution Vulnerability",
        f"{of.title}: {of.summary}",
        "https://cve-mirror.example/vuln/CVE-2021-34525",
        of.published,
    )
    await one_alert_each(
        tmp_path, events, rss(events, "NVD"), copy, of, rss([copy], "mirror"), ADVISORY_WATCH
    )


async def test_results_each_alert_and_a_wire_copy_folds(tmp_path: Path) -> None:
    """107 Premier League results (the same teams every week, one sentence frame) and a wire's
    copy of one: "UPDATE 1-" on the title, a dateline on the summary."""
    events = load("results")
    of = next(e for e in events if e.title == "Arsenal FC 3-1 Manchester United FC")
    copy = Event(
        of.event,
        f"UPDATE 1-{of.title}",
        f"LONDON (Reuters) - {of.summary}",
        "https://wire.example/sport/arsenal-manchester-united",
        of.published,
    )
    await one_alert_each(
        tmp_path, events, rss(events, "results"), copy, of, rss([copy], "wire"), RESULTS_WATCH
    )


def numbers(text: str) -> set[str]:
    return set(NUMBER.findall(re.sub(r"^UPDATE \d-", "", text)))


@pytest.mark.parametrize("shape", SHAPES)
def test_the_labelled_set_copies_keep_the_facts_and_negatives_change_them(shape: str) -> None:
    """The bench's labels are right: a copy carries no number its original lacks, and each
    synthetic negative has numbers (a figure, an id, a time or a score) its template lacks."""
    items, synthetic = build_templated(shape, seed=17)
    events = load(shape)
    originals = {i.story: i.article for i in items if i.original}
    copies = [i for i in items if not i.original]
    assert copies
    assert synthetic
    for item in copies:
        a, o = item.article, originals[item.story]
        assert numbers(f"{a.title} {a.summary}") <= numbers(f"{o.title} {o.summary}"), a
    for story in synthetic:
        a, source = originals[story], events[story - len(events)]
        assert numbers(f"{a.title} {a.summary}") != numbers(
            f"{source.title} {plain(source.summary)}"
        )
        assert a.title != source.title
