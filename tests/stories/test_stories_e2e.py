"""Stories end to end: `monitor run` as a subprocess, real feed and webhook servers.

Three feeds carry one wire story (the Wikinews report of the October attack on Benazir Bhutto,
as three outlets would: retitled, datelined, cut) and a fourth carries a distinct story on the
same topic (her killing in December). One watch matches all four articles.
"""

from __future__ import annotations

import asyncio
import html
import json
import subprocess
import sys
from pathlib import Path

from bench.storyset import load_wikinews
from monitor.kernel.models import make_article
from tests.support.processes import ServiceRig, eventually, service_rig

WATCHES = "rules:\n  - {id: bhutto, match: {any: [Bhutto]}}\n"
STORIES = {str(r["url"]).rsplit("/", 1)[1]: r for r in load_wikinews()}
OCT = STORIES[
    "'Large-scale_attack'_against_ex-Prime_Minister_Bhutto_leaves_more_than_100_dead_in_Pakistan"
]
DEC = STORIES["Benazir_Bhutto_killed_in_suicide_attack"]
OCT_TEXT, OCT_TITLE = str(OCT["text"]), str(OCT["title"])


def rss(*items: tuple[str, str, str]) -> bytes:
    """A feed of (link, title, description) items."""
    body = "".join(
        f"<item><link>{html.escape(link)}</link><guid>{html.escape(link)}</guid>"
        f"<title>{html.escape(title)}</title><description>{html.escape(text)}</description></item>"
        for link, title, text in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'.encode()


COPY_ITEMS = {
    "wire-a": ("https://wire-a.example/bhutto", OCT_TITLE, OCT_TEXT),
    "wire-b": (
        "https://wire-b.example/world/2007/10/19/x",
        f"UPDATE 1-{OCT_TITLE}",
        "KARACHI, Oct 19 (Reuters) - " + OCT_TEXT[:700] + " [...]",
    ),
    "wire-c": (
        "https://wire-c.example/news/bhutto-attack",
        "Bombing targets Bhutto's homecoming | World News",
        OCT_TEXT.split("\n\n")[0] + "\n\n(Reporting by the Karachi bureau; Editing by the desk)",
    ),
}
COPIES = {feed: rss(item) for feed, item in COPY_ITEMS.items()}
COPIES_AS_ARTICLES = [
    make_article(id=f"copy-{feed}", feed=feed, url=url, title=title, summary=text)
    for feed, (url, title, text) in COPY_ITEMS.items()
]
DISTINCT = rss(("https://world.example/bhutto-killed", str(DEC["title"]), str(DEC["text"])))
EMPTY = rss()


def stories_cli(rig: ServiceRig, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "stories", "--config", str(rig.monitor.config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 0 == done.returncode, done.stderr
    return done.stdout


async def test_three_feeds_one_story_give_one_alert_and_a_distinct_story_another(
    tmp_path: Path,
) -> None:
    """--once: two alerts, not four. The wire story's alert names the two other feeds; the
    distinct story on the same topic alerts on its own; `monitor stories` lists both."""
    feeds = {**COPIES, "world": DISTINCT}
    async with service_rig(tmp_path, feeds, WATCHES, ServiceRig) as rig:
        proc = await rig.monitor.start("--once")
        assert 0 == await asyncio.wait_for(proc.wait(), timeout=60), rig.monitor.stderr()[-2000:]
        bodies = [json.loads(b) for _, b in rig.receiver.received]
        assert 2 == len(bodies)
        by_size = {b["story"]["articles"]: b for b in bodies}
        wire, alone = by_size[3], by_size[1]
        assert "alert" == wire["event"] == alone["event"]
        assert ["wire-a", "wire-b", "wire-c"] == sorted(wire["story"]["feeds"])
        assert wire["article"]["feed"] not in [r["feed"] for r in wire["story"]["also_reported"]]
        assert 2 == len(wire["story"]["also_reported"])
        assert ["world"] == alone["story"]["feeds"]
        assert alone["story"]["id"] != wire["story"]["id"]

        listed = [json.loads(line) for line in stories_cli(rig, "--json").splitlines()]
        assert [1, 3] == sorted(s["articles"] for s in listed)
        assert all(["bhutto"] == s["rules"] for s in listed)
        assert "" == stories_cli(rig, "--json", "--rule", "another")
        text = stories_cli(rig, "--since", "1h")
        assert "stories over 1h: 2 stories" in text
        assert "UPDATE 1-" in text


async def test_copies_arriving_later_and_after_a_restart_are_folded_not_sent(
    tmp_path: Path,
) -> None:
    """A running service alerts the first copy; a second feed's copy a poll later, and a third
    feed's after a restart, send nothing and are recorded on the story."""
    feeds = {"wire-a": COPIES["wire-a"], "wire-b": EMPTY, "wire-c": EMPTY}
    async with service_rig(tmp_path, feeds, WATCHES, ServiceRig) as rig:
        await rig.monitor.start()
        await eventually(lambda: len(rig.receiver.received) == 1, 30)

        async def joined(n: float) -> bool:
            count = await rig.monitor.metric("monitor_story_articles_total", {"outcome": "joined"})
            return count == n

        rig.feeds.feeds["wire-b"] = COPIES["wire-b"]
        await eventually(lambda: joined(1), 30, describe=lambda: rig.monitor.stderr()[-2000:])
        assert 0 == await rig.monitor.stop()

        rig.feeds.feeds["wire-c"] = COPIES["wire-c"]
        await rig.monitor.start()
        await eventually(lambda: joined(1), 30, describe=lambda: rig.monitor.stderr()[-2000:])
        assert 1.0 == await rig.monitor.metric(
            "monitor_alerts_total", {"channel": "hook", "result": "folded"}
        )
        assert 0 == await rig.monitor.stop()
        assert 1 == len(rig.receiver.received)
        (story,) = [json.loads(line) for line in stories_cli(rig, "--json").splitlines()]
        assert ["wire-a", "wire-b", "wire-c"] == story["feeds"]
        assert "alert_folded_into_story" in rig.monitor.stderr()
