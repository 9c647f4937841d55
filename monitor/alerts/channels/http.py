"""Sending a channel's HTTP request, and the settings the webhook-style kinds share."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import aiohttp

from monitor.alerts.channels.base import (
    ChannelSettings,
    HttpRequest,
    Kind,
    Outgoing,
    Tools,
    http_url,
)
from monitor.alerts.channels.base import timeout_s as read_timeout
from monitor.alerts.digest import Digest
from monitor.kernel.checks import Checker
from monitor.kernel.errors import DeliveryError
from monitor.kernel.located import LocDict
from monitor.kernel.models import Alert
from monitor.kernel.neterrors import NetProblem, describe_error
from monitor.kernel.text import one_line

HOOK_KEYS = ("url", "secret", "timeout")


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpSettings(ChannelSettings):
    """A channel that makes HTTP requests, each within `timeout_s`."""

    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class HookSettings(HttpSettings):
    """An incoming webhook: one URL to POST to (itself a secret for chat services)."""

    url: str
    secret: str | None = None

    def secrets(self) -> tuple[str, ...]:
        """The URL and the signing secret."""
        return (self.url, self.secret) if self.secret else (self.url,)


def parse_hook(check: Checker, name: str, spec: LocDict) -> HookSettings | None:
    """`url` (required), `secret`, `timeout`."""
    what = f"channel {name!r}"
    url = http_url(check, spec, "url", what)
    secret = spec.get("secret")
    if secret is not None and not isinstance(secret, str):
        check.error(spec.line_of("secret"), f"{what}: secret must be a string")
    if url is None:
        return None
    return HookSettings(
        name=name,
        kind=str(spec["kind"]),
        url=url,
        secret=secret or None,
        timeout_s=read_timeout(check, spec, 10.0),
    )


Refusal = Callable[[int, str, Mapping[str, str], bytes], DeliveryError]
REFUSAL_BYTES = 64 * 1024  # of an error answer's body, read for what it says


def http_refusal(
    status: int, reason: str, headers: Mapping[str, str], body: bytes
) -> DeliveryError:
    """5xx, 408 and 429 are retriable (after the `Retry-After` seconds, when given); other 4xx
    are not: sending again cannot fix them."""
    retriable = retriable_status(status)
    return DeliveryError(
        f"HTTP {status} {reason}".strip(),
        retriable=retriable,
        retry_after_s=retry_after_header(headers.get("Retry-After")),
    )


def json_refusal(
    platform: str,
    status: int,
    reason: str,
    headers: Mapping[str, str],
    body: bytes,
    read: Callable[[dict[str, Any]], tuple[str, float | None]],
) -> DeliveryError:
    """A refusal whose body is a JSON object: `read` gives what it says and the seconds it asks
    to wait (None: the `Retry-After` header's, if any). Other bodies: `http_refusal`."""
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return http_refusal(status, reason, headers, body)
    if not isinstance(answer, dict):
        return http_refusal(status, reason, headers, body)
    said, wait_s = read(answer)
    return DeliveryError(
        f"{platform} {status}: {one_line(said or reason, 200)}",
        retriable=retriable_status(status),
        retry_after_s=wait_s
        if wait_s is not None
        else retry_after_header(headers.get("Retry-After")),
    )


def retriable_status(status: int) -> bool:
    """Whether an HTTP answer may be different later: 5xx, 408 (timeout), 429 (too many)."""
    return status in (408, 429) or status >= 500


def retry_after_header(value: str | None) -> float | None:
    """The seconds of a `Retry-After: N` header (an HTTP date is read as no advice)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Reply:
    """A platform's answer to one request: its status and the start of its body (a channel
    test shows it)."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes


class HttpSender:
    """Sends what a kind renders as an HTTP request; 2xx is delivered."""

    def __init__(
        self,
        name: str,
        tools: Tools,
        timeout_s: float,
        render: Callable[[Alert], Awaitable[Outgoing]],
        render_digest: Callable[[Digest], Outgoing],
        refusal: Refusal | None = None,
    ) -> None:
        self.refusal = refusal or http_refusal
        self.name = name
        self.session = tools.session
        self.timeout_s = timeout_s
        self.render = render
        self.render_digest = render_digest

    async def send(self, alert: Alert) -> None:
        """Deliver; 5xx, 408, 429, timeouts and connection errors are retriable; other 4xx not."""
        await self.request(await self.render(alert))

    async def send_digest(self, digest: Digest) -> None:
        """Deliver a digest as the kind's message; failures as for `send`."""
        await self.request(self.render_digest(digest))

    async def request(self, outgoing: Outgoing) -> None:
        """Make the request; raise DeliveryError unless the answer is 2xx."""
        reply = await self.exchange(outgoing)
        if not 200 <= reply.status < 300:
            raise self.refusal(reply.status, reply.reason, reply.headers, reply.body)

    async def exchange(self, outgoing: Outgoing) -> Reply:
        """Make the request and return the platform's answer, whatever its status (the first
        REFUSAL_BYTES of its body); DeliveryError when none came (timeout, connection)."""
        assert isinstance(outgoing, HttpRequest)  # noqa: S101 - an HTTP kind renders requests
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with self.session.request(
                outgoing.method,
                outgoing.url,
                data=outgoing.body,
                headers=dict(outgoing.headers),
                timeout=timeout,
                allow_redirects=False,
            ) as resp:
                body = await resp.content.read(REFUSAL_BYTES)
                return Reply(resp.status, resp.reason or "", resp.headers, body)
        except TimeoutError as exc:
            where = describe_error(exc, url=outgoing.url).where
            raise DeliveryError(
                f"timed out after {self.timeout_s:g}s waiting for {where}", retriable=True
            ) from exc
        except aiohttp.ClientError as exc:
            # The URL may be a secret (chat webhooks): only its host and port are named, with
            # the reason in words and the errno; never the exception's text, which holds it.
            problem = describe_error(exc, url=outgoing.url, timeout_s=self.timeout_s)
            raise DeliveryError(
                f"connection failed: {_without_url(problem)}", retriable=True
            ) from exc


def _without_url(problem: NetProblem) -> str:
    """`problem` in words; a reason that would quote the exception's text (which may hold the
    URL) is replaced by the exception's kind."""
    if problem.kind == "other":
        return f"{problem.where}: {problem.raw.partition(':')[0]}"
    return problem.words()


T = TypeVar("T", bound=HttpSettings)


def http_kind(
    *,
    name: str,
    keys: tuple[str, ...],
    parse: Callable[[Checker, str, LocDict], T | None],
    render: Callable[[T, Alert], Outgoing],
    render_digest: Callable[[T, Digest], Outgoing],
    summary: str,
    escape: Callable[[str], str],
    templated: Callable[[T, Alert, str, str], Outgoing],
    refusal: Refusal | None = None,
) -> Kind[T]:
    """A kind whose messages are HTTP requests, sent by `HttpSender`."""

    def sender(settings: T, tools: Tools) -> HttpSender:
        return HttpSender(
            settings.name,
            tools,
            settings.timeout_s,
            partial(kind.outgoing, settings),
            partial(render_digest, settings),
            refusal,
        )

    kind = Kind(
        name=name,
        keys=keys,
        parse=parse,
        render=render,
        render_digest=render_digest,
        sender=sender,
        summary=summary,
        escape=escape,
        templated=templated,
    )
    return kind
