"""`apprise`: the long tail of services (~150) through Apprise URLs, plain text with a title.

Apprise is an optional extra (`pip install 'monitor[apprise]'`). Its senders block, so they run
in the service's bounded thread pool; a `False` from Apprise is a failed attempt, retried and
then dead-lettered like any other."""

from __future__ import annotations

import asyncio
import importlib
from concurrent.futures import Executor
from dataclasses import dataclass
from types import ModuleType
from typing import Final

from monitor.alerts.channels.base import ChannelSettings, Kind, Outgoing, Text, Tools
from monitor.alerts.channels.base import timeout_s as read_timeout
from monitor.alerts.channels.console import console_digest
from monitor.alerts.digest import Digest
from monitor.alerts.render import also_reported, feedback_line, fields, headline, safe_url
from monitor.kernel.checks import Checker
from monitor.kernel.errors import DeliveryError
from monitor.kernel.located import LocDict
from monitor.kernel.models import Alert
from monitor.kernel.text import one_line

KEYS: Final = ("urls", "timeout")
MISSING: Final = "kind apprise needs the optional extra: pip install 'monitor[apprise]'"


@dataclass(frozen=True, slots=True, kw_only=True)
class AppriseSettings(ChannelSettings):
    """Apprise URLs, each a service and its credentials."""

    urls: tuple[str, ...]
    timeout_s: float = 30.0

    def secrets(self) -> tuple[str, ...]:
        """Every URL: Apprise URLs carry the services' tokens."""
        return self.urls


def load_apprise() -> ModuleType | None:
    """The apprise module, or None when the extra is not installed."""
    try:
        return importlib.import_module("apprise")
    except ImportError:
        return None


def parse(check: Checker, name: str, spec: LocDict) -> AppriseSettings | None:
    """`urls` (one or more Apprise URLs, required), `timeout`."""
    what = f"channel {name!r}"
    line = spec.line_of("urls")
    urls = check.strings(spec.get("urls"), line, f"{what} urls")
    if not urls:
        check.error(line, f"{what}: `urls` needs at least one Apprise URL")
        return None
    module = load_apprise()
    if module is None:
        check.error(spec.line_of("kind"), f"{what}: {MISSING}")
        return None
    for index, url in enumerate(urls, 1):
        if module.Apprise.instantiate(url) is None:
            # The URL holds credentials: name it by position, never echo it.
            check.error(line, f"{what}: urls #{index} is not an Apprise URL Apprise can use")
            return None
    return AppriseSettings(
        name=name, kind="apprise", urls=urls, timeout_s=read_timeout(check, spec, 30.0)
    )


def render(settings: AppriseSettings, alert: Alert) -> Text:
    """Title and plain text body; Apprise formats it for each service."""
    lines = [safe_url(alert.article.url) or ""]
    lines.append(" · ".join(f"{k}: {v}" for k, v in fields(alert)))
    lines += [
        f"- {one_line(e.value, 60)} in {e.field}: {one_line(e.snippet)}" for e in alert.evidence[:8]
    ]
    if also := also_reported(alert):
        lines.append(also)
    lines.append(feedback_line(alert.feedback, lambda url, label: f"{label}: {url}", "\n"))
    title = one_line(f"[{alert.severity}] {alert.rule_id}: {headline(alert)}", 250)
    return Text(title=title, text="\n".join(line for line in lines if line))


def render_digest(settings: AppriseSettings, digest: Digest) -> Text:
    """The digest's lines."""
    body = console_digest(digest).removeprefix("DIGEST ")
    return Text(title=one_line(digest.headline(), 250), text=body)


def templated(settings: AppriseSettings, alert: Alert, title: str, body: str) -> Text:
    """The template's title and body."""
    return Text(title=one_line(title, 250) if title else render(settings, alert).title, text=body)


class AppriseSender:
    """Notifies every URL of the channel through Apprise, in the thread pool."""

    def __init__(self, settings: AppriseSettings, executor: Executor) -> None:
        self.name = settings.name
        self.settings = settings
        self.executor = executor

    async def send(self, alert: Alert) -> None:
        """Deliver; Apprise's False, an exception or a timeout is a retriable failure."""
        await self.notify(await KIND.outgoing(self.settings, alert))

    async def send_digest(self, digest: Digest) -> None:
        """Deliver a digest; failures as for `send`."""
        await self.notify(render_digest(self.settings, digest))

    async def notify(self, outgoing: Outgoing) -> None:
        """Send one rendered message to every URL."""
        assert isinstance(outgoing, Text)  # noqa: S101 - apprise renders text
        module = load_apprise()
        if module is None:
            raise DeliveryError(MISSING, retriable=False)
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self.executor, _notify, module, self.settings.urls, outgoing)
        try:
            ok = await asyncio.wait_for(call, self.settings.timeout_s)
        except TimeoutError as exc:
            raise DeliveryError(
                f"apprise timed out after {self.settings.timeout_s:g}s", retriable=True
            ) from exc
        except Exception as exc:
            raise DeliveryError(f"apprise failed: {type(exc).__name__}", retriable=True) from exc
        if not ok:
            raise DeliveryError("apprise: a service did not take the message", retriable=True)


def _notify(module: ModuleType, urls: tuple[str, ...], outgoing: Text) -> bool:
    sender = module.Apprise()
    for url in urls:
        sender.add(url)
    return bool(
        sender.notify(
            title=outgoing.title, body=outgoing.text, body_format=module.NotifyFormat.TEXT
        )
    )


def sender(settings: AppriseSettings, tools: Tools) -> AppriseSender:
    """Apprise in the thread pool."""
    return AppriseSender(settings, tools.executor)


KIND = Kind(
    name="apprise",
    keys=KEYS,
    parse=parse,
    render=render,
    render_digest=render_digest,
    sender=sender,
    summary="~150 more services through Apprise URLs (optional extra `monitor[apprise]`)",
    escape=str,
    templated=templated,
)
