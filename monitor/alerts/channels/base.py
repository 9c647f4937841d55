"""What a channel kind is: its settings, its default message and its sender.

A kind turns an alert (or a digest) into an `Outgoing` message without any I/O, and its sender
delivers that message. `monitor preview` shows the message; the service sends it.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import cache, partial
from typing import Any, Generic, Protocol, TypeVar

import aiohttp
import structlog

from monitor.alerts.budget import SECONDS
from monitor.alerts.digest import Digest
from monitor.alerts.templates import AlertTemplate, TemplateProblem
from monitor.kernel.checks import Checker, parse_duration
from monitor.kernel.located import LocDict
from monitor.kernel.models import Alert

log = structlog.get_logger("monitor.channels")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSettings:
    """A configured channel: its name, its kind and the kind's own keys (in subclasses)."""

    name: str
    kind: str
    template: AlertTemplate | None = None  # the user's message, replacing the kind's

    def secrets(self) -> tuple[str, ...]:
        """Values that must never reach a log line (tokens, passwords, secret URLs)."""
        return ()


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRequest:
    """One HTTP request a channel makes: what `monitor preview` prints and the sender sends."""

    method: str
    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, url: str, payload: Any, headers: Mapping[str, str] | None = None, method: str = "POST"
    ) -> HttpRequest:
        """A request with a JSON body."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        return cls(
            method=method,
            url=url,
            body=body,
            headers={"Content-Type": "application/json", **(headers or {})},
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Text:
    """Plain text, with a title for kinds that show one (console, Apprise)."""

    text: str
    title: str = ""


Outgoing = HttpRequest | EmailMessage | Text


class Sender(Protocol):
    """Delivers alerts to one channel; raises DeliveryError (with `retriable`) on failure."""

    name: str

    async def send(self, alert: Alert) -> None:
        """Deliver one alert."""
        ...

    async def send_digest(self, digest: Digest) -> None:
        """Deliver held alerts as one message (a digest or a throttle's summary)."""
        ...


@dataclass(frozen=True, slots=True)
class Tools:
    """What senders share in one process: the HTTP session and a pool for blocking senders."""

    session: aiohttp.ClientSession
    executor: Executor


S = TypeVar("S", bound=ChannelSettings)


@dataclass(frozen=True, slots=True, kw_only=True)
class Kind(Generic[S]):
    """A channel kind: the keys it takes, how they are read, its messages and its sender."""

    name: str
    keys: tuple[str, ...]
    parse: Callable[[Checker, str, LocDict], S | None]
    render: Callable[[S, Alert], Outgoing]
    render_digest: Callable[[S, Digest], Outgoing]
    sender: Callable[[S, Tools], Sender]
    summary: str  # one line for `monitor check` and the README's table
    escape: Callable[[str], str]  # what a template's `{{ }}` goes through
    templated: Callable[[S, Alert, str, str], Outgoing]  # (title, body) as the kind's message

    def message(self, settings: S, alert: Alert) -> Outgoing:
        """The channel's message for an alert: its template's when it has one (the default
        when the template fails on this alert, logged: the alert still goes out)."""
        template = settings.template
        if template is None:
            return self.render(settings, alert)
        try:
            title, body = template.render(alert)
            return self.templated(settings, alert, title, body)
        except Exception as exc:  # whatever a template does, the alert goes out
            line = exc.line if isinstance(exc, TemplateProblem) else 0
            log.exception(
                "template_failed",
                channel=settings.name,
                template=template.origin,
                line=line,
                error=str(exc),
                alert_id=alert.id,
            )
            return self.render(settings, alert)

    async def outgoing(self, settings: S, alert: Alert) -> Outgoing:
        """`message`, made off the event loop when the channel has a template (a template may
        take up to its budget's time), and the default message if it is not made within
        RENDER_DEADLINE_S (a template the budget cannot stop: its thread is left to end)."""
        if settings.template is None:
            return self.render(settings, alert)
        loop = asyncio.get_running_loop()
        call = partial(contextvars.copy_context().run, self.message, settings, alert)
        try:
            async with asyncio.timeout(RENDER_DEADLINE_S):
                return await loop.run_in_executor(_renderers(), call)
        except TimeoutError:
            log.error(  # noqa: TRY400 - the timeout is the news, not its traceback
                "template_overran",
                channel=settings.name,
                template=settings.template.origin,
                deadline_s=RENDER_DEADLINE_S,
                alert_id=alert.id,
            )
            return self.render(settings, alert)


RENDER_DEADLINE_S = 2 * SECONDS + 1.0  # a render's own budget stops it at SECONDS
RENDER_THREADS = 2  # templates rendered at once, off the event loop


@cache
def _renderers() -> ThreadPoolExecutor:
    """The threads templates render in: their own, so a slow render holds no DNS look-up or
    email send of the default executor."""
    return ThreadPoolExecutor(max_workers=RENDER_THREADS, thread_name_prefix="template")


def timeout_s(check: Checker, spec: LocDict, default: float) -> float:
    """The channel's `timeout` in seconds, or `default`."""
    if "timeout" not in spec:
        return default
    try:
        return parse_duration(spec["timeout"])
    except ValueError as exc:
        check.error(spec.line_of("timeout"), f"timeout: {exc}")
        return default


def http_url(check: Checker, spec: LocDict, key: str, what: str) -> str | None:
    """A required http(s) URL under `key`."""
    url = check.string(spec.get(key), spec.line_of(key), f"{what} {key}")
    if url is not None and not url.startswith(("http://", "https://")):
        check.error(spec.line_of(key), f"{what}: {key} must be an http(s) URL")
        return None
    if url is not None and any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        # A line break would split the request line: the URL's value is not echoed (a secret)
        check.error(spec.line_of(key), f"{what}: {key} holds a space, line break or control "
                    "character")  # fmt: skip
        return None
    return url
