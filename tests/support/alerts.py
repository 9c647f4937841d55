"""A sample alert for the channels' tests, and hostile feed text to put in it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from monitor.kernel.models import Alert, Evidence, Match, MatchedArticle, Reported, Story
from tests.support.helpers import article

HOSTILE = (
    "Breaking <!channel> <@U123> @all @here & <script>alert(1)</script>\r\nBcc: victim@example.org"
)
SEEN = datetime(2025, 10, 31, 15, 5, tzinfo=UTC)


def make_alert(
    title: str = "CIS ministers meet on air defense",
    url: str = "https://example.org/a?x=1",
    also: tuple[Reported, ...] = (),
) -> Alert:
    """An alert of rule cis-defense on one article of feed "world", for channel "ops"."""
    a = article(
        id="art1",
        feed="world",
        url=url,
        title=title,
        content="The unified air defense system was discussed.",
        published=datetime(2025, 10, 31, 15, 2, tzinfo=UTC),
    )
    evidence = Evidence(
        kind="term",
        value="air defense",
        field="content",
        text="air defense",
        snippet="The unified air defense system was discussed.",
        start=12,
        end=23,
    )
    match = Match(rule_id="cis-defense", article_id="art1", severity="high", evidence=(evidence,))
    # The title is set after normalization: `&lt;!channel&gt;` in a feed decodes to `<!channel>`,
    # so whatever the article holds, the renderers must make safe.
    raw = replace(a, title=title)
    first = Reported(article_id="art1", feed="world", title=title, url=url, seen_at=SEEN)
    story = Story(id="art1", articles=(first, *also))
    return Alert.for_channel(
        MatchedArticle(match=match, article=raw, description="CIS"), "ops", story
    )


MARKDOWN_ATTACK = "See [Reset password](http://evil.example/p) and ![t](http://evil.example/t.png)"
