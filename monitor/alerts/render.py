"""Turn an Alert into what each channel kind receives. Pure.

Text from feeds is untrusted: every renderer escapes it for its channel, so an article title
cannot ping a Slack channel (`<!channel>`), a Mattermost channel (`@all`) or a Discord server
(`@everyone`), inject an email header, or inject HTML into the HTML part.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote, urlsplit

from monitor.models import Alert, Evidence

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
SUBJECT_MAX = 180
TEXT_MAX = 300


def one_line(text: str, limit: int = TEXT_MAX) -> str:
    """Collapse control characters and newlines to spaces and cut to `limit` characters."""
    flat = _CONTROL_RE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


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
    more = f" and {len(others) - ALSO_MAX} more" if len(others) > ALSO_MAX else ""
    return one_line("Also reported by: " + ", ".join(shown) + more, 1000)


def console_line(alert: Alert) -> str:
    """One readable line for the console channel."""
    a = alert.article
    where = f" <{a.url}>" if a.url else ""
    feed = f" [{a.feed}]" if a.feed else ""
    found = ", ".join(evidence_words(alert))
    also = f" ({also_reported(alert)})" if alert.also_reported() else ""
    return one_line(
        f"ALERT {alert.severity.upper()} {alert.rule_id}: {headline(alert)}{where}{feed} — "
        f"{found}{also}",
        1500,
    )


def webhook_body(alert: Alert) -> dict[str, Any]:
    """The generic webhook's JSON body: the rule, the article and the evidence."""
    return alert.to_dict()


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


def _highlight(e: Evidence, escape: Callable[[str], str], start: str, end: str) -> str:
    """The snippet, escaped, with the matched words between `start` and `end` marks."""
    before, hit, after = one_line(e.snippet).partition(one_line(e.text))
    if not hit:
        return escape(one_line(e.snippet))
    return f"{escape(before)}{start}{escape(hit)}{end}{escape(after)}"


def _fields(alert: Alert) -> list[tuple[str, str]]:
    a = alert.article
    rows = [("Rule", alert.rule_id), ("Severity", alert.severity)]
    if a.feed:
        rows.append(("Feed", a.feed))
    when = a.published or a.fetched_at
    if when:
        rows.append(("Published", when.isoformat(timespec="minutes")))
    return rows


def slack_payload(alert: Alert) -> dict[str, Any]:
    """An incoming-webhook payload: `text` and blocks (title link, feed, time, rule, evidence)."""
    title = slack_escape(headline(alert))
    url = safe_url(alert.article.url)
    link = f"<{url}|{title}>" if url else title
    facts = " · ".join(f"*{k}:* {slack_escape(v)}" for k, v in _fields(alert))
    evidence = "\n".join(
        f"• _{slack_escape(e.value)}_ in {e.field}: {_highlight(e, slack_escape, '*', '*')}"
        for e in alert.evidence[:8]
    )
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{link}*"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": facts}]},
    ]
    if evidence:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": evidence[:2900]}})
    if also := also_reported(alert):
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(also)}]}
        )
    return {
        "text": f"[{alert.severity}] {slack_escape(alert.rule_id)}: {title}",
        "blocks": blocks,
        "unfurl_links": False,
    }


def mattermost_payload(alert: Alert) -> dict[str, Any]:
    """A Mattermost incoming-webhook payload (Markdown text)."""
    title = markdown_escape(headline(alert))
    url = safe_url(alert.article.url)
    lines = [f"**[{title}]({url})**" if url else f"**{title}**"]
    lines.append(" · ".join(f"**{k}:** {markdown_escape(v)}" for k, v in _fields(alert)))
    for e in alert.evidence[:8]:
        snippet = _highlight(e, markdown_escape, "**", "**")
        lines.append(f"- _{markdown_escape(e.value)}_ in {e.field}: {snippet}")
    if also := also_reported(alert):
        lines.append(f"_{markdown_escape(also)}_")
    return {"text": "\n".join(lines)}


def discord_payload(alert: Alert) -> dict[str, Any]:
    """A Discord webhook payload: one embed, and no mention may ping anyone."""
    url = safe_url(alert.article.url)
    embed: dict[str, Any] = {
        "title": headline(alert)[:256],
        "description": "\n".join(
            f"• {markdown_escape(one_line(e.value, 60))} in {e.field}: "
            f"{markdown_escape(one_line(e.snippet, 200))}"
            for e in alert.evidence[:8]
        )[:4000],
        "fields": [{"name": k, "value": v[:1024], "inline": True} for k, v in _fields(alert)],
    }
    if also := also_reported(alert):
        embed["footer"] = {"text": also[:2048]}
    if url:
        embed["url"] = url
    return {
        "content": f"[{alert.severity}] {alert.rule_id}"[:2000],
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }


def teams_payload(alert: Alert) -> dict[str, Any]:
    """A Microsoft Teams (Workflows) message with an Adaptive Card."""
    url = safe_url(alert.article.url)
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": teams_escape(headline(alert)),
            "weight": "Bolder",
            "wrap": True,
        },
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in _fields(alert)]},
    ]
    body += [
        {
            "type": "TextBlock",
            "text": f"{teams_escape(one_line(e.value, 60))} in {e.field}: "
            f"{teams_escape(one_line(e.snippet))}",
            "wrap": True,
        }
        for e in alert.evidence[:8]
    ]
    if also := also_reported(alert):
        body.append(
            {"type": "TextBlock", "text": teams_escape(also), "isSubtle": True, "wrap": True}
        )
    actions = [{"type": "Action.OpenUrl", "title": "Open article", "url": url}] if url else []
    return teams_message(body, actions)


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


def email_message(alert: Alert, *, sender: str, to: tuple[str, ...]) -> EmailMessage:
    """A plain-text and HTML email; the subject names the rule and the title, on one line."""
    a = alert.article
    msg = EmailMessage()
    msg["Subject"] = one_line(f"[monitor] {alert.rule_id}: {headline(alert)}", SUBJECT_MAX)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["X-Monitor-Alert-Id"] = alert.id
    facts = "\n".join(f"{k}: {v}" for k, v in _fields(alert))
    evidence = "\n".join(f"- {e.value} in {e.field}: {one_line(e.snippet)}" for e in alert.evidence)
    also = also_reported(alert)
    plain = f"{headline(alert)}\n{a.url}\n\n{facts}\n\nWhy it matched:\n{evidence}\n"
    if also:
        plain += f"\n{also}\n"
    msg.set_content(plain)
    url = safe_url(a.url)
    title = html.escape(headline(alert))
    title_html = f'<a href="{html.escape(url)}">{title}</a>' if url else title
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in _fields(alert)
    )
    items = "".join(
        f"<li><i>{html.escape(e.value)}</i> in {html.escape(e.field)}: "
        f"{_highlight(e, html.escape, '<b>', '</b>')}</li>"
        for e in alert.evidence
    )
    msg.add_alternative(
        f"<html><body><h3>{title_html}</h3><table>{rows}</table>"
        f"<p>Why it matched:</p><ul>{items}</ul>"
        + (f"<p><i>{html.escape(also)}</i></p>" if also else "")
        + "</body></html>",
        subtype="html",
    )
    return msg
