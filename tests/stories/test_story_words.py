"""`monitor stories` counts in words that agree: a story of one article says `1 article`."""

from __future__ import annotations

import io

from monitor.kernel.models import Reason
from monitor.stories.listing import Explained, Listed, print_explained, print_stories
from monitor.stories.store import StoredMember


def _member(article_id: str) -> StoredMember:
    return StoredMember(
        article_id=article_id, story_id="s1", url_key="", shingles=b"", feed="world",
        title="Ministers meet", url="", seen_ms=0, reason=Reason(kind="founded"),
    )  # fmt: skip


def test_a_story_of_one_article_says_one_article() -> None:
    """The listing's heading and the story's line use the singular for one."""
    out = io.StringIO()
    print_stories([Listed("s1", (_member("a"),))], as_json=False, label="stories", out=out)
    text = out.getvalue()
    assert "stories: 1 story\n" in text
    assert "story s1 · 1 article · feeds: world" in text
    assert "1 articles" not in text


def test_explain_says_one_article_and_counts_two() -> None:
    """`--explain` names its story's size in agreeing words, singular and plural."""
    one, two = io.StringIO(), io.StringIO()
    member = _member("a")
    print_explained(Explained(member, Listed("s1", (member,)), None), as_json=False, out=one)
    pair = Listed("s1", (member, _member("b")))
    print_explained(Explained(member, pair, None), as_json=False, out=two)
    assert "s1 · 1 article · feeds: world" in one.getvalue()
    assert "s1 · 2 articles · feeds: world" in two.getvalue()
