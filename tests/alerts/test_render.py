"""What rendering shares across channels: alert ids, safe links, markup read as text.

Each kind's own message is tested in tests/channels/."""

from __future__ import annotations

import pytest

from monitor.alerts.render import html_text, safe_url
from monitor.kernel.models import Alert, Match, MatchedArticle
from tests.support.alerts import make_alert


def test_alert_id_is_stable_per_rule_article_channel() -> None:
    """The same (rule, article, channel) always gives the same alert id; another channel not."""
    m = make_alert()
    assert m.id == make_alert().id
    other = Alert.for_channel(
        MatchedArticle(
            match=Match(rule_id=m.rule_id, article_id=m.article.id, severity="high"),
            article=m.article,
        ),
        "desk",
        m.story,
    )
    assert m.id != other.id


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/a b", "https://example.org/a%20b"),
        ("javascript:alert(1)", None),
        ("https://example.org/a|b>c", "https://example.org/a%7Cb%3Ec"),
        ("", None),
    ],
)
def test_safe_url(url: str, expected: str | None) -> None:
    """Only http(s) URLs become links, with markup-breaking characters encoded."""
    assert expected == safe_url(url)


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<b>Flood</b> near <i>Passau</i><br>roads closed", "Flood near Passau\nroads closed"),
        ("<p>one</p><p>two &amp; three</p>", "one\ntwo & three"),
        ("a\x0bb\x00c", "abc"),  # characters XML cannot hold: dropped, not an error
        ("   ", ""),
    ],
)
def test_html_text_is_what_the_markup_shows(markup: str, text: str) -> None:
    """The plain part of a templated email and the body of a templated Matrix message."""
    assert text == html_text(markup)
