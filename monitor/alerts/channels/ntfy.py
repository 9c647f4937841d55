"""`ntfy`: a JSON publish to an ntfy server's topic; title, message, click URL, tags and a
priority from the rule's severity. ntfy shows the text as written (no markup to escape)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from monitor.alerts.channels.base import HttpRequest, http_url
from monitor.alerts.channels.base import timeout_s as read_timeout
from monitor.alerts.channels.http import HttpSettings, http_kind
from monitor.alerts.digest import Digest, digest_text
from monitor.alerts.render import also_reported, feedback_pairs, headline, safe_url
from monitor.kernel.checks import Checker
from monitor.kernel.located import LocDict
from monitor.kernel.models import Alert
from monitor.kernel.text import one_line

KEYS: Final = ("url", "token", "timeout")
PRIORITIES: Final = {"info": 2, "low": 2, "medium": 3, "high": 4, "critical": 5}
TAGS: Final = {"critical": "rotating_light", "high": "warning"}  # shown as emoji
MESSAGE_MAX: Final = 4000  # bytes: ntfy turns a message over 4,096 bytes into an attachment
_TOPIC_RE = re.compile(r"[-_A-Za-z0-9]{1,64}")


@dataclass(frozen=True, slots=True, kw_only=True)
class NtfySettings(HttpSettings):
    """A server and one of its topics; `token` for a server that needs one."""

    server: str
    topic: str
    token: str | None = None

    def secrets(self) -> tuple[str, ...]:
        """The access token."""
        return (self.token,) if self.token else ()


def parse(check: Checker, name: str, spec: LocDict) -> NtfySettings | None:
    """`url` (server and topic, required), `token`, `timeout`."""
    what = f"channel {name!r}"
    url = http_url(check, spec, "url", what)
    token = spec.get("token")
    if token is not None and (not isinstance(token, str) or not token.isprintable()):
        check.error(spec.line_of("token"), f"{what}: token must be a string")
        token = None
    if url is None:
        return None
    parts = urlsplit(url)
    base, _, topic = parts.path.rstrip("/").rpartition("/")
    if not _TOPIC_RE.fullmatch(topic) or parts.query or parts.fragment:
        check.error(
            spec.line_of("url"),
            f"{what}: url must be the server and a topic, like https://ntfy.sh/my-alerts",
        )
        return None
    return NtfySettings(
        name=name,
        kind="ntfy",
        server=urlunsplit((parts.scheme, parts.netloc, base + "/", "", "")),
        topic=topic,
        token=token or None,
        timeout_s=read_timeout(check, spec, 10.0),
    )


def publish(settings: NtfySettings, fields: dict[str, Any]) -> HttpRequest:
    """The JSON publish request (to the server's root, the topic in the body)."""
    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
    return HttpRequest.json(settings.server, {"topic": settings.topic, **fields}, headers)


def ntfy_fields(alert: Alert) -> dict[str, Any]:
    """Title, message, tags, priority and click URL of an alert."""
    lines = [f"{alert.rule_id} ({alert.severity})"]
    if alert.article.feed:
        lines[0] += f" · {alert.article.feed}"
    lines += [
        f"• {one_line(e.value, 60)} in {e.field}: {one_line(e.snippet)}" for e in alert.evidence[:8]
    ]
    if also := also_reported(alert):
        lines.append(also)
    found: dict[str, Any] = {
        "title": headline(alert),
        "message": one_line_block("\n".join(lines)),
        "tags": [t for t in (TAGS.get(alert.severity), "monitor") if t],
        "priority": PRIORITIES.get(alert.severity, 3),
    }
    if url := safe_url(alert.article.url):
        found["click"] = url
    if pairs := feedback_pairs(alert.feedback):  # ntfy's "view" action buttons (at most 3)
        found["actions"] = [{"action": "view", "label": t, "url": u} for t, u in pairs]
    return found


def one_line_block(text: str) -> str:
    """Lines as given, each one flattened, the whole cut to MESSAGE_MAX bytes of UTF-8."""
    flat = "\n".join(one_line(line, MESSAGE_MAX) for line in text.split("\n"))
    raw = flat.encode()
    if len(raw) <= MESSAGE_MAX:
        return flat
    return raw[: MESSAGE_MAX - 3].decode("utf-8", "ignore") + "…"


def render(settings: NtfySettings, alert: Alert) -> HttpRequest:
    """The alert as one notification."""
    return publish(settings, ntfy_fields(alert))


def render_digest(settings: NtfySettings, digest: Digest) -> HttpRequest:
    """A digest as one notification, its items listed in the message."""
    body = digest_text(digest).replace("**", "")
    top = max((i.severity for i in digest.items), key=lambda s: PRIORITIES.get(s, 3))
    _, _, listing = body.partition("\n")
    return publish(
        settings,
        {
            "title": one_line(digest.headline(), 200),
            "message": one_line_block(listing.strip() or digest.headline()),
            "tags": ["monitor"],
            "priority": PRIORITIES.get(top, 3),
        },
    )


def templated(settings: NtfySettings, alert: Alert, title: str, body: str) -> HttpRequest:
    """The template's title and message; tags, priority and click as by default."""
    fields = ntfy_fields(alert)
    fields["title"] = one_line(title, 200) if title else fields["title"]
    fields["message"] = one_line_block(body)
    return publish(settings, fields)


KIND = http_kind(
    name="ntfy",
    keys=KEYS,
    parse=parse,
    render=render,
    render_digest=render_digest,
    summary="ntfy publish: title, message, click URL, tags, priority from severity",
    escape=str,
    templated=templated,
)
