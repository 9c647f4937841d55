"""`telegram`: the Bot API's `sendMessage` with `parse_mode: HTML`, every feed-derived field
escaped for it (only `<`, `>`, `&` and `"` need escaping there)."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

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
    safe_url,
)
from monitor.kernel.checks import Checker
from monitor.kernel.errors import DeliveryError
from monitor.kernel.located import LocDict
from monitor.kernel.models import Alert
from monitor.kernel.text import one_line

_TAGS = re.compile(r"<[^>]*>")
_TAG_RE = re.compile(r"<(/?)([A-Za-z][\w-]*)[^>]*>")
DEFAULT_API_URL: Final = "https://api.telegram.org"
KEYS: Final = ("bot_token", "chat_id", "api_url", "timeout")
TEXT_MAX: Final = 4096  # characters of a message, after its entities are parsed


@dataclass(frozen=True, slots=True, kw_only=True)
class TelegramSettings(HttpSettings):
    """A bot and the chat it writes to."""

    bot_token: str
    chat_id: str
    api_url: str = DEFAULT_API_URL

    def secrets(self) -> tuple[str, ...]:
        """The bot token."""
        return (self.bot_token,)


def parse(check: Checker, name: str, spec: LocDict) -> TelegramSettings | None:
    """`bot_token` and `chat_id` (required), `api_url`, `timeout`."""
    what = f"channel {name!r}"
    token = check.string(spec.get("bot_token"), spec.line_of("bot_token"), f"{what} bot_token")
    if token is not None and (":" not in token or "/" in token or not token.isprintable()):
        check.error(spec.line_of("bot_token"), f"{what}: bot_token is not a bot token")
        token = None
    chat = spec.get("chat_id")
    if isinstance(chat, bool) or not isinstance(chat, int | str) or not str(chat).strip():
        check.error(
            spec.line_of("chat_id"), f"{what}: chat_id must be a chat id or @channelusername"
        )
        chat = None
    api_url = DEFAULT_API_URL
    if "api_url" in spec:
        api_url = http_url(check, spec, "api_url", what) or DEFAULT_API_URL
    if token is None or chat is None:
        return None
    return TelegramSettings(
        name=name,
        kind="telegram",
        bot_token=token,
        chat_id=str(chat).strip(),
        api_url=api_url.rstrip("/"),
        timeout_s=read_timeout(check, spec, 10.0),
    )


def escape(text: str) -> str:
    """Escape text for Telegram's HTML parse mode."""
    return html.escape(text, quote=True)


def link(url: str | None, text: str) -> str:
    """`text` (escaped already) as a link when the URL is http(s)."""
    return f'<a href="{escape(url)}">{text}</a>' if url else text


def telegram_text(alert: Alert) -> str:
    """The message: the title as a link, the facts, why it matched, and who else reported it."""
    lines = [f"<b>{link(safe_url(alert.article.url), escape(headline(alert)))}</b>"]
    lines.append(" · ".join(f"<i>{escape(k)}:</i> {escape(v)}" for k, v in fields(alert)))
    if links := feedback_line(alert.feedback, link):  # before the evidence `fit` may cut
        lines.append(links)
    for e in alert.evidence[:8]:
        snippet = highlight(e, escape, "<b>", "</b>")
        lines.append(f"• <i>{escape(one_line(e.value, 60))}</i> in {escape(e.field)}: {snippet}")
    if also := also_reported(alert):
        lines.append(f"<i>{escape(also)}</i>")
    return fit("\n".join(lines))


def fit(text: str) -> str:
    """Cut a message to what Telegram takes (4,096 UTF-16 units), never inside a tag or an
    entity: a cut message loses lines from the end, or at worst its markup."""
    if _units(text) <= TEXT_MAX:
        return text
    lines = text.split("\n")
    while len(lines) > 1 and _units("\n".join(lines)) > TEXT_MAX - 2:
        lines.pop()
    kept = "\n".join(lines)
    if _units(kept) <= TEXT_MAX - 2 and _balanced(kept):
        return kept + "\n…"
    return escape(one_line(html.unescape(_TAGS.sub("", text)), TEXT_MAX // 2))


def _units(text: str) -> int:
    """Telegram counts a message's length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _balanced(text: str) -> bool:
    """Whether every tag opened is closed, in order (a template's tag may span lines)."""
    opened: list[str] = []
    for m in _TAG_RE.finditer(text):
        name = m[2].lower()
        if not m[1]:
            opened.append(name)
        elif not opened or opened.pop() != name:
            return False
    return not opened


def message(settings: TelegramSettings, text: str) -> HttpRequest:
    """The `sendMessage` call."""
    payload: dict[str, Any] = {
        "chat_id": settings.chat_id,
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    url = f"{settings.api_url}/bot{settings.bot_token}/sendMessage"
    return HttpRequest.json(url, payload)


def render(settings: TelegramSettings, alert: Alert) -> HttpRequest:
    """The alert as one message."""
    return message(settings, telegram_text(alert))


def render_digest(settings: TelegramSettings, digest: Digest) -> HttpRequest:
    """A digest as one message."""
    text = digest_text(digest, escape, lambda url, t: link(url, t))
    return message(settings, fit(text.replace("**", "")))


def templated(settings: TelegramSettings, alert: Alert, title: str, body: str) -> HttpRequest:
    """The template's title (bold) and body as one message."""
    return message(settings, fit((f"<b>{title}</b>\n" if title else "") + body))


def refusal(status: int, reason: str, headers: Mapping[str, str], body: bytes) -> DeliveryError:
    """The Bot API's error: `description`, and `parameters.retry_after` on 429."""

    def read(answer: dict[str, Any]) -> tuple[str, float | None]:
        params = answer.get("parameters")
        wait = params.get("retry_after") if isinstance(params, dict) else None
        return str(answer.get("description") or ""), _seconds(wait)

    return json_refusal("Telegram", status, reason, headers, body, read)


def _seconds(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


KIND = http_kind(
    name="telegram",
    keys=KEYS,
    parse=parse,
    render=render,
    render_digest=render_digest,
    summary="Telegram Bot API sendMessage, HTML escaped, 429 retry_after honoured",
    escape=escape,
    templated=templated,
    refusal=refusal,
)
