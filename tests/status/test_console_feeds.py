"""The console's "add a feed" against a real feed server: the candidates of a page naming two
feeds are shown and nothing is written until one is chosen; a feed URL is added at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.feeds.settings import PollerConfig
from monitor.kernel.console import ActionRefused
from monitor.matching.loader import read_rules_dir
from monitor.status.feeddesk import FeedDesk
from monitor.status.watchdesk import RulesFiles
from tests.status.test_watchdesk import WATCHES, WHO
from tests.support.servers import FeedServer, rss, serve

FEEDS = "# our feeds\nfeeds:\n  - id: wire  # the wire\n    url: https://wire.example/feed.xml\n"


def page(base: str) -> bytes:
    """A web page naming two feeds, one by a relative link."""
    return (
        "<!doctype html><html><head><title>News</title>"
        f'<link rel="alternate" type="application/rss+xml" title="World" href="{base}/feeds/world">'
        '<link rel="alternate" type="application/atom+xml" title="Science" href="/feeds/science">'
        "</head><body>news</body></html>"
    ).encode()


def rules_at(tmp_path: Path) -> Path:
    """A rules directory with a watch and one feed."""
    rules = tmp_path / "rules"
    rules.mkdir(parents=True)
    (rules / "watches.yaml").write_text(WATCHES)
    (rules / "feeds.yaml").write_text(FEEDS)
    return rules


def test_add_shows_candidates_and_writes_the_chosen_one(tmp_path: Path) -> None:
    """Two candidates: shown, nothing written; the second chosen by number: appended with the
    comments kept, and the rule set loads it; a repeat is 409; a feed URL is added at once."""
    rules = rules_at(tmp_path)
    desk = FeedDesk(RulesFiles(rules, environ={}), PollerConfig(allow_private=True))
    server = FeedServer()
    server.feeds["science"] = rss("Comet seen")

    async def run() -> None:
        async with serve(server.app()) as base:
            server.feeds["page"] = page(base)
            shown = await desk.add(f"{base}/feeds/page", WHO)
            assert shown["added"] is None
            assert [(c["url"], c["title"], c["kind"]) for c in shown["candidates"]] == [
                (f"{base}/feeds/world", "World", "rss"),
                (f"{base}/feeds/science", "Science", "atom"),
            ]
            assert (rules / "feeds.yaml").read_text() == FEEDS
            with pytest.raises(ActionRefused) as other:
                await desk.add(f"{base}/feeds/page", WHO, choose="https://elsewhere.example/x")
            assert other.value.status == 422
            chosen = await desk.add(f"{base}/feeds/page", WHO, choose="2")
            added = chosen["added"]
            assert added["url"] == f"{base}/feeds/science"
            assert added["file"] == "feeds.yaml"
            text = (rules / "feeds.yaml").read_text()
            assert text.startswith(FEEDS)
            assert text.splitlines()[added["line"] - 1].endswith(f"id: {added['id']}")
            with pytest.raises(ActionRefused) as again:
                await desk.add(f"{base}/feeds/science", WHO)
            assert again.value.status == 409
            direct = await desk.add(f"{base}/feeds/world", WHO)
            assert [c["url"] for c in direct["candidates"]] == [f"{base}/feeds/world"]
            assert direct["added"]["url"] == f"{base}/feeds/world"

    asyncio.run(run())
    rule_set, problems = read_rules_dir(rules)
    assert problems == []
    ids = [f.id for f in rule_set.feeds]
    assert ids[0] == "wire"
    assert len(ids) == 3
    # the feeds the console added stay judged as a web client's URL at every poll (rebinding)
    assert [f.public_only for f in rule_set.feeds] == [False, True, True]
    assert (rules / "feeds.yaml").read_text().count("    public_only: true\n") == 2
