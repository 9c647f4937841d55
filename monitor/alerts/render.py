"""The parts every channel kind's message is made of: escaping, headline, facts, "also reported
by". Pure. Each kind's own message is in `monitor.alerts.channels.<kind>`.

Text from feeds is untrusted: every kind escapes it for its channel, so an article title
cannot ping a Slack channel (`<!channel>`), a Mattermost channel (`@all`) or a Discord server
(`@everyone`), inject an email header, or inject HTML into the HTML part.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import lxml.html

from monitor.kernel.models import Alert, Evidence
from monitor.kernel.text import one_line

SUBJECT_MAX = 180


def safe_url(url: str) -> str | None:
    """Return the URL if it is http(s), with characters that break markup percent-encoded."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return quote(url.strip(), safe=":/?#[]@!$&'()*+,;=%~-._")


def headline(alert: Alert) -> str:
    """The article's title, or the start of its text when it has none."""
    a = alert.article
    return one_line(a.title or a.summary or a.content or "(untitled)", 200)


def evidence_words(alert: Alert) -> list[str]:
    """A short list of what matched: terms as written, entities by id."""
    return [one_line(e.value, 60) for e in alert.evidence]


ALSO_MAX = 10


def also_reported(alert: Alert) -> str:
    """ "Also reported by: feed (time), ..." for the story's other articles, or "" when none."""
    others = alert.also_reported()
    if not others:
        return ""
    shown = [f"{r.feed or 'a feed'} ({r.seen_at:%Y-%m-%d %H:%M} UTC)" for r in others[:ALSO_MAX]]
    unlisted = alert.story.unlisted() if alert.story else 0  # a big story lists only some
    hidden = len(others) - len(shown) + unlisted
    more = f" and {hidden} more" if hidden > 0 else ""
    return one_line("Also reported by: " + ", ".join(shown) + more, 1000)


_AUTOLINK_RE = re.compile(r"(?i)\b(https?|ftp)://|\b(www)\.")
_MARKDOWN_RE = re.compile(r"([\\`*_~\[\]<>|])")


def defuse_links(text: str) -> str:
    """Break what a chat client would turn into a link by itself (`http://...`, `www.`) with a
    zero-width space: feed text may show an address, never make one clickable."""
    return _AUTOLINK_RE.sub(lambda m: f"{m[1]}:\u200b//" if m[1] else f"{m[2]}\u200b.", text)


def slack_escape(text: str) -> str:
    """Escape text for Slack mrkdwn: &, < and > (which also defuses <!channel> and <@U1>)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return defuse_links(escaped)


def markdown_escape(text: str) -> str:
    """Escape feed text for Markdown (Mattermost, Discord): every character that could open a
    link, an image, emphasis, code or HTML is backslash-escaped, @-mentions are defused with a
    zero-width space, and bare addresses cannot link themselves."""
    return defuse_links(_MARKDOWN_RE.sub(r"\\\1", text)).replace("@", "@\u200b")


def teams_escape(text: str) -> str:
    """Defuse feed text for an Adaptive Card's Markdown subset, which has no backslash escapes:
    `](` cannot close a link's text, and bare addresses cannot link themselves."""
    return defuse_links(text.replace("](", "]\u200b(")).replace("@", "@\u200b")


def highlight(e: Evidence, escape: Callable[[str], str], start: str, end: str) -> str:
    """The snippet, escaped, with the matched words between `start` and `end` marks."""
    before, hit, after = one_line(e.snippet).partition(one_line(e.text))
    if not hit:
        return escape(one_line(e.snippet))
    return f"{escape(before)}{start}{escape(hit)}{end}{escape(after)}"


def fields(alert: Alert) -> list[tuple[str, str]]:
    a = alert.article
    rows = [("Rule", alert.rule_id), ("Severity", alert.severity)]
    if a.feed:
        rows.append(("Feed", a.feed))
    when = a.published or a.fetched_at
    if when:
        rows.append(("Published", when.isoformat(timespec="minutes")))
    return rows


def teams_message(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    """A Teams (Workflows) message holding one Adaptive Card of `body` and `actions`."""
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


_NOT_XML_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_BREAK_RE = re.compile(r"(?i)<br\s*/?>|</p>|</li>|</h[1-6]>|</div>")


def html_text(markup: str) -> str:
    """The text an HTML fragment shows (line breaks kept): the plain part of a templated
    email, the `body` of a templated Matrix message."""
    markup = _NOT_XML_RE.sub("", markup)  # lxml refuses what XML cannot hold
    if not markup.strip():
        return ""
    broken = _BREAK_RE.sub(lambda m: m[0] + "\n", markup)
    text: str = lxml.html.fragment_fromstring(broken, create_parent="div").text_content()
    return "\n".join(line.strip() for line in text.splitlines()).strip()


def json_string(text: str) -> str:
    """Escape text to stand inside a JSON string (a webhook template's `"{{ ... }}"`)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


FEEDBACK_LABELS = (("relevant", "Relevant"), ("not_relevant", "Not relevant"))


def feedback_pairs(feedback: Mapping[str, str] | None) -> list[tuple[str, str]]:
    """`[("Relevant", URL), ("Not relevant", URL)]` of an alert's (or digest item's) feedback
    links, each URL made safe for markup (`safe_url`); [] when it has none."""
    if not feedback:
        return []
    pairs = [(label, safe_url(feedback.get(key, ""))) for key, label in FEEDBACK_LABELS]
    return [(label, url) for label, url in pairs if url]


def feedback_line(
    feedback: Mapping[str, str] | None, link: Callable[[str, str], str], sep: str = " · "
) -> str:
    """The links as one line in a kind's syntax, `link(url, label)` making each: "" if none."""
    return sep.join(link(url, label) for label, url in feedback_pairs(feedback))
