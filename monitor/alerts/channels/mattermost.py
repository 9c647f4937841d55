"""`mattermost`: a Mattermost incoming webhook; Markdown, escaped, @-mentions defused."""

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
    markdown_escape,
    safe_url,
)
from monitor.kernel.models import Alert


def mattermost_payload(alert: Alert) -> dict[str, Any]:
    """A Mattermost incoming-webhook payload (Markdown text)."""
    title = markdown_escape(headline(alert))
    url = safe_url(alert.article.url)
    lines = [f"**[{title}]({url})**" if url else f"**{title}**"]
    lines.append(" · ".join(f"**{k}:** {markdown_escape(v)}" for k, v in fields(alert)))
    for e in alert.evidence[:8]:
        snippet = highlight(e, markdown_escape, "**", "**")
        lines.append(f"- _{markdown_escape(e.value)}_ in {e.field}: {snippet}")
    if also := also_reported(alert):
        lines.append(f"_{markdown_escape(also)}_")
    if links := feedback_line(alert.feedback, lambda url, label: f"[{label}]({url})"):
        lines.append(links)
    return {"text": "\n".join(lines)}


def mattermost_digest(digest: Digest) -> dict[str, Any]:
    """A Mattermost message (Markdown)."""
    return {"text": digest_text(digest, markdown_escape, lambda url, t: f"[{t}]({url})")}


def render(settings: HookSettings, alert: Alert) -> HttpRequest:
    """The Mattermost message, POSTed to the hook."""
    return hook_request(settings, mattermost_payload(alert), {"X-Monitor-Alert-Id": alert.id})


def render_digest(settings: HookSettings, digest: Digest) -> HttpRequest:
    """A digest as one Mattermost message."""
    return hook_request(settings, mattermost_digest(digest), {"X-Monitor-Digest-Id": digest.id})


def templated(settings: HookSettings, alert: Alert, title: str, body: str) -> HttpRequest:
    """The template's title (bold) and body as the message."""
    payload = {"text": (f"**{title}**\n" if title else "") + body}
    return hook_request(settings, payload, {"X-Monitor-Alert-Id": alert.id})


KIND = http_kind(
    name="mattermost",
    keys=HOOK_KEYS,
    parse=parse_hook,
    render=render,
    render_digest=render_digest,
    summary="Mattermost incoming webhook: Markdown escaped, no @-mentions",
    escape=markdown_escape,
    templated=templated,
)
