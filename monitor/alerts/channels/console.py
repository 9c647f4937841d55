"""`console`: one line per alert on stdout."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

from monitor.alerts.channels.base import ChannelSettings, Kind, Outgoing, Text, Tools
from monitor.alerts.digest import Digest, digest_text
from monitor.alerts.render import also_reported, evidence_words, feedback_line, headline
from monitor.kernel.checks import Checker
from monitor.kernel.located import LocDict
from monitor.kernel.models import Alert
from monitor.kernel.text import one_line


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleSettings(ChannelSettings):
    """The console takes no keys of its own."""


def parse(check: Checker, name: str, spec: LocDict) -> ConsoleSettings:
    """Nothing to read."""
    return ConsoleSettings(name=name, kind="console")


def console_line(alert: Alert) -> str:
    """One readable line for the console channel."""
    a = alert.article
    where = f" <{a.url}>" if a.url else ""
    feed = f" [{a.feed}]" if a.feed else ""
    found = ", ".join(evidence_words(alert))
    also = f" ({also_reported(alert)})" if alert.also_reported() else ""
    links = feedback_line(alert.feedback, lambda url, label: f"{label}: <{url}>", " ")
    line = one_line(
        f"ALERT {alert.severity.upper()} {alert.rule_id}: {headline(alert)}{where}{feed} — "
        f"{found}{also}",
        1500,
    )
    return f"{line} — {links}" if links else line


def console_digest(digest: Digest) -> str:
    """Lines for the console channel."""
    return "DIGEST " + digest_text(digest).replace("**", "")


def render(settings: ConsoleSettings, alert: Alert) -> Text:
    """The alert's line."""
    return Text(text=console_line(alert))


def render_digest(settings: ConsoleSettings, digest: Digest) -> Text:
    """The digest's lines."""
    return Text(text=console_digest(digest))


def escape(text: str) -> str:
    """Feed text on one line: no fake line can be printed under the alert's."""
    return one_line(text, 2000)


def templated(settings: ConsoleSettings, alert: Alert, title: str, body: str) -> Text:
    """The template's title and body."""
    return Text(text=f"{title}\n{body}" if title else body)


class ConsoleSender:
    """Prints what the console renders."""

    def __init__(self, settings: ConsoleSettings, out: TextIO | None = None) -> None:
        self.name = settings.name
        self.settings = settings
        self.out = out

    async def send(self, alert: Alert) -> None:
        """Print the alert's line on stdout."""
        self.write(await KIND.outgoing(self.settings, alert))

    async def send_digest(self, digest: Digest) -> None:
        """Print the digest's lines on stdout."""
        self.write(render_digest(self.settings, digest))

    def write(self, outgoing: Outgoing) -> None:
        """Write the text and flush."""
        assert isinstance(outgoing, Text)  # noqa: S101 - the console renders text
        out = self.out or sys.stdout
        out.write(outgoing.text + "\n")
        out.flush()


def sender(settings: ConsoleSettings, tools: Tools) -> ConsoleSender:
    """Stdout."""
    return ConsoleSender(settings)


KIND = Kind(
    name="console",
    keys=(),
    parse=parse,
    render=render,
    render_digest=render_digest,
    sender=sender,
    summary="one line per alert on stdout",
    escape=escape,
    templated=templated,
)
