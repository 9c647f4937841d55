"""`matrix`: an `m.room.message` (a notice) through the client-server API, with a plain `body`
and an escaped `formatted_body` (org.matrix.custom.html). The transaction id is the alert's id,
so a retry of a request the homeserver already took posts nothing new."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from monitor.alerts.channels.base import HttpRequest, http_url
from monitor.alerts.channels.base import timeout_s as read_timeout
from monitor.alerts.channels.http import HttpSettings, http_kind, json_refusal
from monitor.alerts.digest import Digest, digest_text
from monitor.alerts.render import (
    also_reported,
    feedback_line,
    fields,
    headline,
    highlight,
    html_text,
    safe_url,
)
from monitor.kernel.checks import Checker
from monitor.kernel.errors import DeliveryError
from monitor.kernel.located import LocDict
from monitor.kernel.models import Alert
from monitor.kernel.text import one_line

KEYS: Final = ("homeserver", "room_id", "access_token", "timeout")


@dataclass(frozen=True, slots=True, kw_only=True)
class MatrixSettings(HttpSettings):
    """A homeserver, a room and the access token of the account that posts."""

    homeserver: str
    room_id: str
    access_token: str

    def secrets(self) -> tuple[str, ...]:
        """The access token."""
        return (self.access_token,)


def parse(check: Checker, name: str, spec: LocDict) -> MatrixSettings | None:
    """`homeserver`, `room_id` (`!id:server`) and `access_token`, all required; `timeout`."""
    what = f"channel {name!r}"
    homeserver = http_url(check, spec, "homeserver", what)
    room = check.string(spec.get("room_id"), spec.line_of("room_id"), f"{what} room_id")
    if room is not None and (not room.startswith("!") or ":" not in room):
        check.error(
            spec.line_of("room_id"), f"{what}: room_id must be a room id like !abc123:example.org"
        )
        room = None
    token = check.string(
        spec.get("access_token"), spec.line_of("access_token"), f"{what} access_token"
    )
    if homeserver is None or room is None or token is None:
        return None
    return MatrixSettings(
        name=name,
        kind="matrix",
        homeserver=homeserver.rstrip("/"),
        room_id=room,
        access_token=token,
        timeout_s=read_timeout(check, spec, 10.0),
    )


def defuse(text: str) -> str:
    """Keep `@room` in feed text from notifying the whole room."""
    return text.replace("@room", "@\u200broom")


def escape(text: str) -> str:
    """Escape feed text for formatted_body, `@room` defused."""
    return defuse(html.escape(text, quote=True))


def link(url: str | None, text: str) -> str:
    """`text` (escaped already) as a link when the URL is http(s)."""
    return f'<a href="{html.escape(url)}">{text}</a>' if url else text


def event(settings: MatrixSettings, txn_id: str, plain: str, formatted: str) -> HttpRequest:
    """PUT /rooms/{roomId}/send/m.room.message/{txnId}."""
    content: dict[str, Any] = {
        "msgtype": "m.notice",
        "body": defuse(plain),
        "format": "org.matrix.custom.html",
        "formatted_body": formatted,
        "m.mentions": {},  # intentional mentions: this message mentions no one
    }
    url = (
        f"{settings.homeserver}/_matrix/client/v3/rooms/{quote(settings.room_id, safe='')}"
        f"/send/m.room.message/{quote(txn_id, safe='')}"
    )
    headers = {"Authorization": f"Bearer {settings.access_token}"}
    return HttpRequest.json(url, content, headers, method="PUT")


def render(settings: MatrixSettings, alert: Alert) -> HttpRequest:
    """The alert as one notice."""
    title = headline(alert)
    url = safe_url(alert.article.url)
    facts = " · ".join(f"{k}: {v}" for k, v in fields(alert))
    why = [
        f"- {one_line(e.value, 60)} in {e.field}: {one_line(e.snippet)}" for e in alert.evidence[:8]
    ]
    also = also_reported(alert)
    links = feedback_line(alert.feedback, lambda u, label: f"{label}: {u}", "\n")
    plain = "\n".join([title, *([url] if url else []), facts, *why, *([also] if also else [])])
    plain += f"\n{links}" if links else ""
    items = "".join(
        f"<li><i>{escape(one_line(e.value, 60))}</i> in {escape(e.field)}: "
        f"{highlight(e, escape, '<b>', '</b>')}</li>"
        for e in alert.evidence[:8]
    )
    formatted = f"<p><b>{link(url, escape(title))}</b><br>{escape(facts)}</p><ul>{items}</ul>" + (
        f"<p><i>{escape(also)}</i></p>" if also else ""
    )
    if html_links := feedback_line(alert.feedback, link):
        formatted += f"<p>{html_links}</p>"
    return event(settings, alert.id, plain, formatted)


def render_digest(settings: MatrixSettings, digest: Digest) -> HttpRequest:
    """A digest as one notice."""
    plain = digest_text(digest).replace("**", "")
    formatted = digest_text(digest, escape, link)
    lines = formatted.replace("**", "").split("\n")
    html_lines = "<br>".join(line for line in lines)
    return event(settings, digest.id, plain, html_lines)


def templated(settings: MatrixSettings, alert: Alert, title: str, body: str) -> HttpRequest:
    """The template's title (bold) and body as formatted_body; `body` is its text."""
    formatted = (f"<b>{title}</b><br>" if title else "") + body
    return event(settings, alert.id, html_text(formatted), formatted)


def refusal(status: int, reason: str, headers: Mapping[str, str], body: bytes) -> DeliveryError:
    """A Matrix error: `errcode` and `error`, and `retry_after_ms` on M_LIMIT_EXCEEDED."""

    def read(answer: dict[str, Any]) -> tuple[str, float | None]:
        wait_ms = answer.get("retry_after_ms")
        said = f"{answer.get('errcode', '')} {answer.get('error', '')}".strip()
        if isinstance(wait_ms, int | float) and not isinstance(wait_ms, bool):
            return said, wait_ms / 1000
        return said, None

    return json_refusal("Matrix", status, reason, headers, body, read)


KIND = http_kind(
    name="matrix",
    keys=KEYS,
    parse=parse,
    render=render,
    render_digest=render_digest,
    summary="Matrix m.room.message, escaped HTML, idempotent transaction ids",
    escape=escape,
    templated=templated,
    refusal=refusal,
)
