"""`teams`: a Microsoft Teams (Workflows) webhook; an Adaptive Card."""

from __future__ import annotations

from typing import Any

from monitor.alerts.channels.base import HttpRequest
from monitor.alerts.channels.http import HOOK_KEYS, HookSettings, http_kind, parse_hook
from monitor.alerts.channels.webhook import hook_request
from monitor.alerts.digest import Digest, digest_text
from monitor.alerts.render import (
    also_reported,
    feedback_pairs,
    fields,
    headline,
    safe_url,
    teams_escape,
    teams_message,
)
from monitor.kernel.models import Alert
from monitor.kernel.text import one_line


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
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in fields(alert)]},
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
    actions += feedback_actions(alert)
    return teams_message(body, actions)


def feedback_actions(alert: Alert) -> list[dict[str, Any]]:
    """The card's "Relevant" and "Not relevant" buttons (none when the alert has no links)."""
    return [
        {"type": "Action.OpenUrl", "title": label, "url": url}
        for label, url in feedback_pairs(alert.feedback)
    ]


def teams_digest(digest: Digest) -> dict[str, Any]:
    """A Teams (Workflows) message with an Adaptive Card."""
    headline = {
        "type": "TextBlock",
        "text": teams_escape(digest.headline()),
        "weight": "Bolder",
        "wrap": True,
    }
    text = digest_text(digest, teams_escape, feedback_link=lambda url, t: f"[{t}]({url})")
    listing = {"type": "TextBlock", "text": text, "wrap": True}
    return teams_message([headline, listing], [])


def render(settings: HookSettings, alert: Alert) -> HttpRequest:
    """The Teams message, POSTed to the hook."""
    return hook_request(settings, teams_payload(alert), {"X-Monitor-Alert-Id": alert.id})


def render_digest(settings: HookSettings, digest: Digest) -> HttpRequest:
    """A digest as one Teams message."""
    return hook_request(settings, teams_digest(digest), {"X-Monitor-Digest-Id": digest.id})


def templated(settings: HookSettings, alert: Alert, title: str, body: str) -> HttpRequest:
    """The template's title (bold) and body in an Adaptive Card."""
    blocks: list[dict[str, Any]] = []
    if title:
        blocks.append({"type": "TextBlock", "text": title, "weight": "Bolder", "wrap": True})
    blocks.append({"type": "TextBlock", "text": body, "wrap": True})
    url = safe_url(alert.article.url)
    actions = [{"type": "Action.OpenUrl", "title": "Open article", "url": url}] if url else []
    payload = teams_message(blocks, actions + feedback_actions(alert))
    return hook_request(settings, payload, {"X-Monitor-Alert-Id": alert.id})


KIND = http_kind(
    name="teams",
    keys=HOOK_KEYS,
    parse=parse_hook,
    render=render,
    render_digest=render_digest,
    summary="Microsoft Teams Workflows webhook: an Adaptive Card",
    escape=teams_escape,
    templated=templated,
)
