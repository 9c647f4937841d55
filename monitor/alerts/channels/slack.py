"""`slack`: a Slack incoming webhook; Block Kit with mrkdwn, every feed-derived field escaped."""

from __future__ import annotations

from typing import Any

from monitor.alerts.channels.base import HttpRequest
from monitor.alerts.channels.http import HOOK_KEYS, HookSettings, http_kind, parse_hook
from monitor.alerts.channels.webhook import hook_request
from monitor.alerts.digest import Digest, digest_text
from monitor.alerts.render import (
    also_reported,
    feedback_line,
    fields,
    headline,
    highlight,
    safe_url,
    slack_escape,
)
from monitor.kernel.models import Alert


def slack_payload(alert: Alert) -> dict[str, Any]:
    """An incoming-webhook payload: `text` and blocks (title link, feed, time, rule, evidence)."""
    title = slack_escape(headline(alert))
    url = safe_url(alert.article.url)
    link = f"<{url}|{title}>" if url else title
    facts = " · ".join(f"*{k}:* {slack_escape(v)}" for k, v in fields(alert))
    evidence = "\n".join(
        f"• _{slack_escape(e.value)}_ in {e.field}: {highlight(e, slack_escape, '*', '*')}"
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
    if links := feedback_line(alert.feedback, lambda url, label: f"<{url}|{label}>"):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links}]})
    return {
        "text": f"[{alert.severity}] {slack_escape(alert.rule_id)}: {title}",
        "blocks": blocks,
        "unfurl_links": False,
    }


def slack_digest(digest: Digest) -> dict[str, Any]:
    """A Slack message: mrkdwn, escaped, links as <url|title>."""
    text = digest_text(digest, slack_escape, lambda url, t: f"<{url}|{t}>").replace("**", "*")
    return {"text": text[:39_000], "unfurl_links": False}


def render(settings: HookSettings, alert: Alert) -> HttpRequest:
    """The Slack message, POSTed to the hook."""
    return hook_request(settings, slack_payload(alert), {"X-Monitor-Alert-Id": alert.id})


def render_digest(settings: HookSettings, digest: Digest) -> HttpRequest:
    """A digest as one Slack message."""
    return hook_request(settings, slack_digest(digest), {"X-Monitor-Digest-Id": digest.id})


def templated(settings: HookSettings, alert: Alert, title: str, body: str) -> HttpRequest:
    """The template's title (bold) and body as the message."""
    payload = {"text": (f"*{title}*\n" if title else "") + body, "unfurl_links": False}
    return hook_request(settings, payload, {"X-Monitor-Alert-Id": alert.id})


KIND = http_kind(
    name="slack",
    keys=HOOK_KEYS,
    parse=parse_hook,
    render=render,
    render_digest=render_digest,
    summary="Slack incoming webhook: Block Kit, mrkdwn escaped",
    escape=slack_escape,
    templated=templated,
)
