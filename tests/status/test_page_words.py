"""The status page in an analyst's words: folded copies counted apart from alerts, a copy's
story line naming the report it repeats, and counts whose nouns agree."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import lxml.html
import pytest

from monitor.alerts.board import RecentAlert, RecentAlerts
from monitor.kernel.models import Reason, Reported, Story
from monitor.status.page import render
from tests.status.test_status_page import NOW, alert, text, view_with


def _story_of(*titles: str) -> Story:
    """A story whose members are articles titled `titles`, ids a0, a1, ..., from feeds f0, f1."""
    return Story(
        id="story-1",
        articles=tuple(
            Reported(article_id=f"a{i}", feed=f"f{i}", title=t, url="", seen_at=datetime.now(UTC))
            for i, t in enumerate(titles)
        ),
    )


def _heading(alerts: list[RecentAlert]) -> str:
    page = render(dataclasses.replace(view_with("plain"), alerts=alerts))
    document = lxml.html.document_fromstring(page)
    return " ".join(text(document, "//h2[starts-with(., 'Recent alerts')]").split())


@pytest.mark.parametrize(
    ("stories", "said"),
    [
        (1, "1 alert, 1 copy folded into its story, since the service started"),
        (2, "2 alerts, 2 copies folded into their stories, since the service started"),
    ],
)
def test_the_heading_counts_folded_copies_apart_from_alerts(stories: int, said: str) -> None:
    """A copy folded into an alerted story was not sent: the heading counts it apart, not as an
    alert ("2 alerts" for one alert and its copy misled)."""
    recent = RecentAlerts()
    for i in range(stories):
        story = dataclasses.replace(_story_of("Seed"), id=f"story-{i}")
        first = dataclasses.replace(alert("r", f"Seed {i}", "hook"), story=story)
        copy = dataclasses.replace(alert("r", f"Copy {i}", "hook"), story=story)
        recent.settled(first, "delivered", None, NOW + i)
        recent.settled(copy, "folded", "a copy of a story already alerted", NOW + i)
    assert f"Recent alerts {said}" == _heading(recent.newest_first())


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        (Reason(kind="founded"), "story of 2 articles · its first report"),
        (
            Reason(kind="text", article_id="a0", share=1.0, facts=("15:02", "Photo", "Go")),
            "story of 2 articles · the same report as “Ministers meet in Minsk” from f0 "
            "(100% of its text alike; both give 15:02)",
        ),
        (
            Reason(kind="text", article_id="a0", share=0.84, facts=tuple("ABCDEFGH")),
            "story of 2 articles · the same report as “Ministers meet in Minsk” from f0 "
            "(84% of its text alike)",
        ),
        (
            Reason(kind="text", article_id="gone", share=0.9),
            "story of 2 articles · the same report as an earlier article (90% of its text alike)",
        ),
        (
            Reason(kind="url", article_id="a0"),
            "story of 2 articles · the same report as “Ministers meet in Minsk” from f0 "
            "(the same URL)",
        ),
        (Reason(kind="alone", why="feed f1 has stories: false"), "story of 2 articles · "
         "stands alone: feed f1 has stories: false"),
    ],
)  # fmt: skip
def test_the_story_line_says_which_report_a_copy_repeats(reason: Reason, said: str) -> None:
    """On the page a copy names the article it repeats by title and feed and how alike their
    texts are, not "text like c111df54…: 100% of shingles in common"; facts only when few and
    numeric (a name like "Go" that starts a sentence is noise)."""
    story = dataclasses.replace(_story_of("Ministers meet in Minsk", "Copy"), reason=reason)
    recent = RecentAlerts()
    recent.settled(dataclasses.replace(alert("r", "Copy", "hook"), story=story), "folded", "", NOW)
    (row,) = recent.newest_first()
    assert said == row.story
    assert "shingles" not in row.story


def test_counts_on_the_page_agree_with_their_nouns() -> None:
    """One watch in force is `1 watch`, one more feed or watch not listed is `1 more feed`."""
    view = dataclasses.replace(view_with("plain"), feeds_more=1, watches_more=1)
    document = lxml.html.document_fromstring(render(view))
    assert "1 more feed not listed" in text(document, "//*[@id='feeds-more']")
    assert "1 more watch in force" in text(document, "//*[@id='watches-more']")
