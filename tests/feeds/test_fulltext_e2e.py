"""Full text end to end: the service as a subprocess, a news site and a webhook receiver."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.processes import eventually, webhook_service
from tests.support.servers import Receiver, free_port, serve
from tests.support.site import Site, article_page, feed

BODY = [
    "Air defence chiefs of the Commonwealth met in Minsk on Tuesday.",
    "General Aidarbek Zhumabekov said the joint system would reach the southern members next year.",
]
WATCH = """\
rules:
  - id: zhumabekov
    match: {any: [Zhumabekov]}
"""


async def test_a_name_only_in_the_page_alerts_only_with_fulltext(tmp_path: Path) -> None:
    """Two feeds carry a teaser without the name; only the one with `fulltext: true` alerts,
    and its evidence says the name was found in `content`. The page's language is detected and
    counted, and the page read is counted."""
    site, receiver = Site(), Receiver()
    async with serve(site.app()) as base, serve(receiver.app()) as hook:
        site.base, receiver.base = base, hook
        for name in ("with", "without"):
            site.pages[name] = article_page(f"Ministers meet ({name})", BODY)
            site.feeds[name] = feed(
                [(f"Ministers meet ({name})", site.url(f"/news/{name}"), "Ministers met in Minsk.")]
            )
        rules = tmp_path / "rules"
        (rules / "entities").mkdir(parents=True)
        (rules / "feeds.yaml").write_text(
            "feeds:\n"
            f'  - {{id: with, url: "{site.url("/feeds/with")}", interval: 1s, fulltext: true}}\n'
            f'  - {{id: without, url: "{site.url("/feeds/without")}", interval: 1s}}\n'
        )
        (rules / "watches.yaml").write_text(WATCH)
        monitor = webhook_service(tmp_path, receiver.url("/hook"), free_port())
        await monitor.start()
        try:
            await eventually(lambda: len(receiver.received) >= 1, 30, monitor.stderr)
            await eventually(lambda: site.count("/feeds/without") >= 3, 30)
            await eventually(lambda: site.count("/feeds/with") >= 3, 30)
            ((_, body),) = receiver.received
            alert = json.loads(body)
            assert "with" == alert["article"]["feed"]
            assert "Ministers met in Minsk." == alert["article"]["summary"]
            assert "en" == alert["article"]["language"]
            (evidence,) = alert["evidence"]
            assert ("content", "Zhumabekov") == (evidence["field"], evidence["text"])
            assert 0 == site.count("/news/without")
            assert 1 == site.count("/news/with")
            assert 1.0 == await monitor.metric("monitor_fulltext_total", {"result": "fetched"})
            assert 1.0 <= await monitor.metric("monitor_articles_total", {"language": "en"})
            assert 2.0 == await monitor.metric_sum("monitor_articles_total")
        finally:
            await monitor.kill()
