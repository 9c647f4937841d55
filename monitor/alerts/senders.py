"""The Sender protocol and the console sender."""

from __future__ import annotations

import sys
from typing import Protocol, TextIO

from monitor.alerts.digest import Digest, console_digest
from monitor.alerts.render import console_line
from monitor.models import Alert


class Sender(Protocol):
    """Delivers alerts to one channel; raises DeliveryError (with `retriable`) on failure."""

    name: str

    async def send(self, alert: Alert) -> None:
        """Deliver one alert."""
        ...

    async def send_digest(self, digest: Digest) -> None:
        """Deliver held alerts as one message (a digest or a throttle's summary)."""
        ...


class ConsoleSender:
    """Prints one line per alert."""

    def __init__(self, name: str, out: TextIO | None = None) -> None:
        self.name = name
        self.out = out

    async def send(self, alert: Alert) -> None:
        """Print the alert's line on stdout."""
        out = self.out or sys.stdout
        out.write(console_line(alert) + "\n")
        out.flush()

    async def send_digest(self, digest: Digest) -> None:
        """Print the digest's lines on stdout."""
        out = self.out or sys.stdout
        out.write(console_digest(digest) + "\n")
        out.flush()
