"""`discord`: a Discord webhook; one embed, and no mention may ping anyone."""

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
    markdown_escape,
    safe_url,
)
from monitor.kernel.models import Alert
from monitor.kernel.text import one_line


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
        "fields": [{"name": k, "value": v[:1024], "inline": True} for k, v in fields(alert)],
    }
    if links := feedback_line(alert.feedback, lambda url, label: f"[{label}]({url})"):
        embed["fields"].append({"name": "Feedback", "value": links[:1024], "inline": False})
    if also := also_reported(alert):
        embed["footer"] = {"text": also[:2048]}
    if url:
        embed["url"] = url
    return {
        "content": f"[{alert.severity}] {alert.rule_id}"[:2000],
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }


def discord_digest(digest: Digest) -> dict[str, Any]:
    """A Discord message: one embed; no mention may ping anyone."""
    body = digest_text(digest, markdown_escape, lambda url, t: f"[{t}]({url})")
    return {
        "content": one_line(digest.headline(), 2000),
        "embeds": [{"title": one_line(digest.headline(), 256), "description": body[:4000]}],
        "allowed_mentions": {"parse": []},
    }


def render(settings: HookSettings, alert: Alert) -> HttpRequest:
    """The Discord message, POSTed to the hook."""
    return hook_request(settings, discord_payload(alert), {"X-Monitor-Alert-Id": alert.id})


def render_digest(settings: HookSettings, digest: Digest) -> HttpRequest:
    """A digest as one Discord message."""
    return hook_request(settings, discord_digest(digest), {"X-Monitor-Digest-Id": digest.id})


def templated(settings: HookSettings, alert: Alert, title: str, body: str) -> HttpRequest:
    """The template's title (bold) and body as the message."""
    payload = {
        "content": ((f"**{title}**\n" if title else "") + body)[:2000],
        "allowed_mentions": {"parse": []},
    }
    return hook_request(settings, payload, {"X-Monitor-Alert-Id": alert.id})


KIND = http_kind(
    name="discord",
    keys=HOOK_KEYS,
    parse=parse_hook,
    render=render,
    render_digest=render_digest,
    summary="Discord webhook: one embed, mentions never ping",
    escape=markdown_escape,
    templated=templated,
)
