"""The escape hatches and the explanations, end to end: `monitor run --once` as a subprocess,
real feed and webhook servers, and `monitor stories --explain` on the state.db the run made.

The three copies of one wire story (see test_stories_e2e) fold into one alert. A feed that says
`stories: false` alerts each of its items; a rule that says `stories: off` alerts each match
while another rule on the same articles still folds them.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry as Registry

from monitor.kernel.metrics import make_metrics
from monitor.kernel.models import Match, MatchedArticle, make_article
from monitor.store.state import StateStore
from monitor.stories.desk import StoryDesk
from monitor.stories.store import LocalStoryLog
from tests.stories.test_stories_e2e import COPY_ITEMS, rss
from tests.support.processes import ServiceRig, service_rig

FOLD = "  - {id: bhutto, match: {any: [Bhutto]}}\n"
EACH = "  - {id: each, match: {any: [Bhutto]}, stories: off}\n"


def stories_cli(rig: ServiceRig, *args: str) -> subprocess.CompletedProcess[str]:
    """`monitor stories ARGS` on the rig's config."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", "stories", "--config", str(rig.monitor.config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def run_once(rig: ServiceRig) -> list[dict[str, Any]]:
    """Run the service once over the feeds; the webhook bodies it sent."""
    proc = await rig.monitor.start("--once")
    assert 0 == await asyncio.wait_for(proc.wait(), timeout=60), rig.monitor.stderr()[-2000:]
    return [json.loads(body) for _, body in rig.receiver.received]


async def test_a_feed_with_stories_false_alerts_each_of_its_copies(tmp_path: Path) -> None:
    """Two copies in a `stories: false` feed alert twice, and neither becomes a story the
    third copy (in an ordinary feed) joins: three alerts where stories give one."""
    items = list(COPY_ITEMS.values())
    feeds = {"wires": rss(items[0], items[1]), "wire-c": rss(items[2])}
    async with service_rig(tmp_path, feeds, "rules:\n" + FOLD, ServiceRig) as rig:
        listed = (rig.rules / "feeds.yaml").read_text()
        (rig.rules / "feeds.yaml").write_text(
            listed.replace("{id: wires,", "{id: wires, stories: false,")
        )
        bodies = await run_once(rig)
        assert 3 == len(bodies), [b["article"]["title"] for b in bodies]
        assert all(1 == b["story"]["articles"] for b in bodies)
        by_feed: dict[str, list[dict[str, Any]]] = {}
        for b in bodies:
            by_feed.setdefault(b["article"]["feed"], []).append(b)
        for b in by_feed["wires"]:
            assert {
                "kind": "alone",
                "why": "feed wires has stories: false",
                "text": "stands alone: feed wires has stories: false",
            } == b["story"]["reason"]
            assert b["article"]["stories"] is False
        (plain,) = by_feed["wire-c"]
        assert "founded" == plain["story"]["reason"]["kind"]
        assert "stories" not in plain["article"]

        alone = by_feed["wires"][0]["article"]["id"]
        done = stories_cli(rig, "--explain", alone)
        assert 0 == done.returncode, done.stderr
        assert "stands alone: feed wires has stories: false" in done.stdout


async def test_a_rule_with_stories_off_alerts_every_copy_another_rule_folds(
    tmp_path: Path,
) -> None:
    """Three copies: the folding rule alerts once, the `stories: off` rule three times; each
    body's `story.reason` says why; `--explain` tells how each copy joined, from state.db."""
    feeds = {feed: rss(item) for feed, item in COPY_ITEMS.items()}
    async with service_rig(tmp_path, feeds, "rules:\n" + FOLD + EACH, ServiceRig) as rig:
        bodies = await run_once(rig)
        by_rule: dict[str, list[dict[str, Any]]] = {}
        for b in bodies:
            by_rule.setdefault(b["rule"]["id"], []).append(b)
        assert 1 == len(by_rule["bhutto"])
        assert 3 == len(by_rule["each"])
        assert 3 == len({b["alert_id"] for b in by_rule["each"]})
        for b in by_rule["each"]:
            assert b["story"]["id"] == b["article"]["id"]
            assert "rule each has stories: off" == b["story"]["reason"]["why"]
        (folded,) = by_rule["bhutto"]
        assert 3 == folded["story"]["articles"]
        reason = folded["story"]["reason"]
        assert reason["kind"] in ("founded", "text")
        assert reason["text"]

        listed = [json.loads(line) for line in stories_cli(rig, "--json").stdout.splitlines()]
        (story,) = listed
        explained = {}
        for member in story["members"]:
            done = stories_cli(rig, "--explain", member["article_id"], "--json")
            assert 0 == done.returncode, done.stderr
            explained[member["article_id"]] = json.loads(done.stdout)
        kinds = sorted(e["reason"]["kind"] for e in explained.values())
        assert ["founded", "text", "text"] == kinds
        founder = next(a for a, e in explained.items() if e["reason"]["kind"] == "founded")
        assert story["id"] == founder
        for e in explained.values():
            assert 3 == e["articles"]
            assert story["id"] == e["story"]
            if e["reason"]["kind"] == "text":
                assert e["reason"]["article_id"] in explained
                assert 0 < e["reason"]["share"] <= 1
                assert e["reason"]["facts"]

        joined = next(a for a, e in explained.items() if e["reason"]["kind"] == "text")
        done = stories_cli(rig, "--explain", joined)
        assert 0 == done.returncode, done.stderr
        text = done.stdout
        other = explained[joined]["reason"]["article_id"]
        assert f"story    {story['id']} · 3 articles" in text
        assert "shingles in common" in text
        assert f"matched  {other} · " in text  # the member, its feed and title
        assert "agreed: " in text

        done = stories_cli(rig, "--explain", "no-such-article")
        assert 2 == done.returncode
        assert "no-such-article: not in the story log" in done.stderr


async def test_an_alone_item_stays_alone_after_a_restart_and_no_copy_joins_it(
    tmp_path: Path,
) -> None:
    """The desk records a `stories: false` item as alone; a desk started again from the same
    log (a restart, or another dispatcher) still keeps it out of the index: a copy from an
    ordinary feed founds its own story, and the redelivered match is known, not first met."""
    url, title, text = COPY_ITEMS["wire-a"]
    alone = MatchedArticle(
        match=Match(rule_id="r", article_id="q1", severity="high"),
        article=make_article(id="q1", feed="quakes", url=url, title=title, summary=text),
    )
    alone = replace(alone, article=replace(alone.article, stories=False))
    copy = MatchedArticle(
        match=Match(rule_id="r", article_id="c1", severity="high"),
        article=make_article(id="c1", feed="wire-c", url=url + "?x", title=title, summary=text),
    )
    async with StateStore(tmp_path) as state:
        first = StoryDesk(LocalStoryLog(state), window_s=3600, metrics=make_metrics(Registry()))
        await first.start()
        assert {("r", "q1")} == await first.place([alone])
        story = first.story(alone.article)
        assert ("q1", 1) == (story.id, story.size)
        assert story.reason is not None
        assert "feed quakes has stories: false" == story.reason.why

        again = StoryDesk(LocalStoryLog(state), window_s=3600, metrics=make_metrics(Registry()))
        await again.start()
        assert again.index is not None
        assert again.index.story_of("q1") is None  # read back, and not indexed
        assert {("r", "c1")} == await again.place([alone, copy])
        founded = again.story(copy.article)
        assert ("c1", 1) == (founded.id, founded.size)
        assert founded.reason is not None
        assert "founded" == founded.reason.kind
        itself = again.story_for(copy, folds=False)
        assert itself.reason is not None
        assert "rule r has stories: off" == itself.reason.why
