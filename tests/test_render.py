"""Rendering alerts per channel: the content users see, and escaping of untrusted feed text."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.alerts.channels.console import console_line
from monitor.alerts.channels.discord import discord_payload
from monitor.alerts.channels.email import email_message
from monitor.alerts.channels.mattermost import mattermost_payload
from monitor.alerts.channels.slack import slack_payload
from monitor.alerts.channels.teams import teams_payload
from monitor.alerts.channels.webhook import webhook_body
from monitor.alerts.render import html_text, safe_url
from monitor.kernel.models import Alert, Evidence, Match, MatchedArticle, Reported, Story
from tests.support.helpers import article

HOSTILE = (
    "Breaking <!channel> <@U123> @all @here & <script>alert(1)</script>\r\nBcc: victim@example.org"
)


def make_alert(
    title: str = "CIS ministers meet on air defense",
    url: str = "https://example.org/a?x=1",
    also: tuple[Reported, ...] = (),
) -> Alert:
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


SEEN = datetime(2025, 10, 31, 15, 5, tzinfo=UTC)
COPIES = (
    Reported(article_id="c1", feed="wire-a", title="Copy", url="https://a.example/1", seen_at=SEEN),
    Reported(article_id="c2", feed="<!channel>", title="Copy", url="", seen_at=SEEN),
)


def test_an_alert_carries_its_story_and_names_the_copies_known() -> None:
    """The webhook body has event, story id, article count and feeds; every channel's message
    says "also reported by" with the other feeds and times, escaped for the channel."""
    alone, copied = make_alert(), make_alert(also=COPIES)
    body = webhook_body(copied)
    assert "alert" == body["event"]
    assert {"id": "art1", "articles": 3, "feeds": ["world", "wire-a", "<!channel>"]} == {
        k: body["story"][k] for k in ("id", "articles", "feeds")
    }
    assert ["c1", "c2"] == [r["article_id"] for r in body["story"]["also_reported"]]
    assert 1 == webhook_body(alone)["story"]["articles"]
    also = "Also reported by: wire-a (2025-10-31 15:05 UTC)"
    assert also in console_line(copied)
    assert "Also reported by" not in console_line(alone)
    texts = {
        "slack": json.dumps(slack_payload(copied)),
        "mattermost": mattermost_payload(copied)["text"],
        "discord": discord_payload(copied)["embeds"][0]["footer"]["text"],
        "teams": json.dumps(teams_payload(copied)),
        "email": email_message(copied, sender="m@example.org", to=("d@example.org",)).as_string(),
    }
    for channel, text in texts.items():
        assert "wire-a (2025-10-31 15:05 UTC)" in text, channel
    assert "<!channel>" not in texts["slack"]
    assert "&lt;!channel&gt;" in texts["slack"]
    for payload in (slack_payload(alone), teams_payload(alone)):
        assert "Also reported by" not in json.dumps(payload)


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


def test_console_line() -> None:
    """One readable line with severity, rule, title, link, feed and evidence."""
    line = console_line(make_alert())
    expected = (
        "ALERT HIGH cis-defense: CIS ministers meet on air defense "
        "<https://example.org/a?x=1> [world] — air defense"
    )
    assert expected == line


def test_webhook_body_has_rule_article_evidence() -> None:
    """The generic webhook body carries the rule, the article and the evidence."""
    body = webhook_body(make_alert())
    assert {"id": "cis-defense", "description": "CIS", "severity": "high"} == body["rule"]
    assert "art1" == body["article"]["id"]
    assert "air defense" == body["evidence"][0]["text"]
    json.dumps(body)


def test_slack_payload_shape() -> None:
    """Slack gets text and blocks: the title as a link, facts, highlighted evidence."""
    payload = slack_payload(make_alert())
    assert payload["text"].startswith("[high] cis-defense: ")
    first = payload["blocks"][0]["text"]["text"]
    assert "*<https://example.org/a?x=1|CIS ministers meet on air defense>*" == first
    facts = payload["blocks"][1]["elements"][0]["text"]
    assert "*Feed:* world" in facts
    assert "*Published:* 2025-10-31T15:02+00:00" in facts
    assert "unified *air defense* system" in payload["blocks"][2]["text"]["text"]


def test_slack_escapes_mentions_and_markup() -> None:
    """An article title cannot ping a Slack channel or user, nor break the link."""
    payload = slack_payload(make_alert(title=HOSTILE + " |x>"))
    text = json.dumps(payload)
    assert "<!channel>" not in text
    assert "<@U123>" not in text
    assert "&lt;!channel&gt;" in payload["text"]
    assert "|x&gt;" in payload["blocks"][0]["text"]["text"]


def test_mattermost_defuses_at_mentions() -> None:
    """@all and @here from a feed do not notify anyone in Mattermost."""
    text = mattermost_payload(make_alert(title=HOSTILE))["text"]
    assert "@all" not in text
    assert "@here" not in text
    assert "@\u200ball" in text


def test_discord_allows_no_mentions() -> None:
    """Discord is told to parse no mentions at all."""
    payload = discord_payload(make_alert(title=HOSTILE))
    assert {"parse": []} == payload["allowed_mentions"]
    assert "https://example.org/a?x=1" == payload["embeds"][0]["url"]


def test_teams_card() -> None:
    """Teams gets an Adaptive Card with the title, facts and a link."""
    card = teams_payload(make_alert())["attachments"][0]["content"]
    assert "AdaptiveCard" == card["type"]
    assert "https://example.org/a?x=1" == card["actions"][0]["url"]


def test_email_subject_and_parts() -> None:
    """The subject names the rule and the title; plain and HTML parts carry the evidence."""
    msg = email_message(make_alert(), sender="monitor@example.org", to=("desk@example.org",))
    assert "[monitor] cis-defense: CIS ministers meet on air defense" == msg["Subject"]
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert "air defense in content" in plain.get_content()
    assert "unified <b>air defense</b> system" in html.get_content()


def test_email_resists_header_and_html_injection() -> None:
    """A hostile title cannot add headers, and its markup is escaped in the HTML part."""
    msg = email_message(
        make_alert(title=HOSTILE), sender="monitor@example.org", to=("desk@example.org",)
    )
    assert msg["Bcc"] is None
    assert "\n" not in msg["Subject"]
    assert "\r" not in msg["Subject"]
    raw = msg.as_bytes()
    assert b"\nBcc:" not in raw
    html = msg.get_body(("html",))
    assert html is not None
    assert "<script>" not in html.get_content()
    assert "&lt;script&gt;" in html.get_content()


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


MARKDOWN_ATTACK = "See [Reset password](http://evil.example/p) and ![t](http://evil.example/t.png)"


def attack_alert() -> Alert:
    """An alert whose matched snippet and evidence value carry Markdown links and images."""
    alert = make_alert(title=MARKDOWN_ATTACK, url="")  # no link of our own to tell apart
    evidence = Evidence(
        kind="term",
        value="[x](http://evil.example/v)",
        field="content",
        text="password",
        snippet=MARKDOWN_ATTACK + " @here",
        start=18,
        end=26,
    )
    return replace(alert, evidence=(evidence,))


# A Markdown link or image: `](` not escaped by a backslash.
MARKDOWN_LINK = re.compile(r"(?<!\\)\]\(")


@pytest.mark.parametrize(
    ("channel", "text_of"),
    [
        ("mattermost", lambda a: mattermost_payload(a)["text"]),
        ("discord", lambda a: discord_payload(a)["embeds"][0]["description"]),
        ("teams", lambda a: json.dumps(teams_payload(a), ensure_ascii=False)),
        ("slack", lambda a: json.dumps(slack_payload(a)["blocks"][2:], ensure_ascii=False)),
    ],
)
def test_markdown_in_feed_text_makes_no_link_image_or_mention(channel: str, text_of: Any) -> None:
    """Evidence snippets and values are escaped like titles: `[text](url)` and `![t](url)`
    from an article make no link and no tracking image, bare addresses do not link
    themselves, and `@here` pings nobody (Slack's links and mentions need `<`, escaped)."""
    text = text_of(attack_alert())
    if channel != "slack":
        assert not MARKDOWN_LINK.search(text), text
        assert "@here" not in text, text
    assert "http://evil" not in text, text
    assert "<http" not in text, text


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
