"""The console channel: one readable line."""

from __future__ import annotations

from monitor.alerts.channels.console import console_line
from tests.support.alerts import make_alert


def test_console_line() -> None:
    """One readable line with severity, rule, title, link, feed and evidence."""
    line = console_line(make_alert())
    expected = (
        "ALERT HIGH cis-defense: CIS ministers meet on air defense "
        "<https://example.org/a?x=1> [world] — air defense"
    )
    assert expected == line
