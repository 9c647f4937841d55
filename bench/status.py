"""The status page on a large deployment: 100,000 watches (one in seven matched this week),
2,000 feeds and 50 recent alerts, with the metric series such a service exports (one per
matched rule, per feed). `build` runs on the service's event loop at each request,
`render` in a thread."""

from __future__ import annotations

import statistics
import time

from monitor.alerts.board import RecentAlerts
from monitor.feeds.board import FeedBoard
from monitor.feeds.spec import FeedSpec
from monitor.kernel.metrics import make_metrics
from monitor.kernel.models import Alert, make_article
from monitor.matching.board import MatchTally
from monitor.matching.spec import RuleSpec
from monitor.status.page import render
from monitor.status.view import Sources, build_view

WATCHES, FEEDS, ALERTS = 100_000, 2_000, 50


def sources() -> Sources:
    """A deployment of the size above, its boards filled."""
    now = int(time.time() * 1000)
    rules = [RuleSpec(id=f"r{i}", path="w.yaml", line=i) for i in range(WATCHES)]
    feeds = [
        FeedSpec(id=f"f{i}", path="f.yaml", line=i, url="https://x.test/") for i in range(FEEDS)
    ]
    tally, board, recent, metrics = MatchTally(), FeedBoard(), RecentAlerts(), make_metrics()
    for i in range(0, WATCHES, 7):
        tally.add([f"r{i}"], now)
        metrics.rule_matches.labels(f"r{i}").inc()
    for i, feed in enumerate(feeds):
        failed = i % 50 == 0
        metrics.polls.labels(feed.id, "http_error" if failed else "ok").inc()
        metrics.poll_duration.labels(feed.id).observe(0.2)
        board.polled(
            feed.id, result="http_error" if failed else "ok", reason="HTTP 500" if failed else "",
            items=20, new=3, at_ms=now,
        )  # fmt: skip
    for i in range(ALERTS):
        article = make_article(id=f"a{i}", title=f"Article {i}", url="https://x.test/a", feed="f1")
        alert = Alert(
            id=f"x{i}", channel="slack", rule_id=f"r{i}", description="", severity="high",
            article=article, evidence=(),
        )  # fmt: skip
        recent.settled(alert, "delivered", None, now)
    return Sources(
        role="all", metrics=metrics, feeds=lambda: feeds, rules=lambda: rules,
        problems=list, board=board, tally=tally, recent=recent,
    )  # fmt: skip


def status_rows() -> list[dict[str, str]]:
    """`make bench` rows: the page's cost per request."""
    from bench.run import row

    filled = sources()
    builds, renders, size = [], [], 0
    for _ in range(15):
        started = time.perf_counter()
        view = build_view(filled)
        built = time.perf_counter()
        size = len(render(view).encode())
        builds.append(built - started)
        renders.append(time.perf_counter() - built)
    return [
        row(
            f"status page, {WATCHES:,} watches and {FEEDS:,} feeds: build (on the event loop)",
            f"{statistics.median(builds) * 1000:.0f} ms",
            "< 100 ms",
        ),
        row(
            "status page: render (in a thread) and size",
            f"{statistics.median(renders) * 1000:.0f} ms, {size / 1000:.0f} kB",
            "-",
        ),
    ]
