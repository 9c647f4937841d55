"""The Teams channel: an Adaptive Card."""

from __future__ import annotations

from monitor.alerts.channels.teams import teams_payload
from tests.support.alerts import make_alert


def test_teams_card() -> None:
    """Teams gets an Adaptive Card with the title, facts and a link."""
    card = teams_payload(make_alert())["attachments"][0]["content"]
    assert "AdaptiveCard" == card["type"]
    assert "https://example.org/a?x=1" == card["actions"][0]["url"]
