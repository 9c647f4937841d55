"""The ntfy channel against a stand-in server."""

from __future__ import annotations

from dataclasses import replace

from monitor.alerts.channels import Tools, make_sender
from tests.support.alerts import make_alert
from tests.support.channels import settings_for
from tests.support.platforms import Ntfy
from tests.support.servers import serve


async def test_ntfy_maps_severity_click_and_auth(tools: Tools) -> None:
    """Priority 4 for a high alert with a warning tag, the article as the click URL, and the
    token as a Bearer header."""
    platform = Ntfy()
    async with serve(platform.app()) as base:
        platform.base = base
        await make_sender(settings_for(platform), tools).send(make_alert())
        critical = replace(make_alert(), severity="critical")
        await make_sender(settings_for(platform), tools).send(critical)
    first, second = platform.messages
    assert (4, ["warning", "monitor"]) == (first["priority"], first["tags"])
    assert "https://example.org/a?x=1" == first["click"]
    assert "CIS ministers meet on air defense" == first["title"]
    assert (5, "rotating_light") == (second["priority"], second["tags"][0])
    assert f"Bearer {platform.token}" == platform.requests[0][2]["Authorization"]
