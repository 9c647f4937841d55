"""The Discord channel: no mentions parsed, the article as the embed's link."""

from __future__ import annotations

from monitor.alerts.channels.discord import discord_payload
from tests.support.alerts import HOSTILE, make_alert


def test_discord_allows_no_mentions() -> None:
    """Discord is told to parse no mentions at all."""
    payload = discord_payload(make_alert(title=HOSTILE))
    assert {"parse": []} == payload["allowed_mentions"]
    assert "https://example.org/a?x=1" == payload["embeds"][0]["url"]
