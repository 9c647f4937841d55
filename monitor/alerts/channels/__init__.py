"""Every channel kind, each in its own module, and the registry that config, check, preview
and the service read. A new kind is one module here and one line below."""

from __future__ import annotations

from typing import Any, Final

from monitor.alerts.channels import (
    apprise,
    console,
    discord,
    email,
    matrix,
    mattermost,
    ntfy,
    slack,
    teams,
    telegram,
    webhook,
)
from monitor.alerts.channels.base import ChannelSettings, Kind, Outgoing, Sender, Tools

KINDS: Final[dict[str, Kind[Any]]] = {
    kind.name: kind
    for kind in (
        console.KIND,
        webhook.KIND,
        slack.KIND,
        discord.KIND,
        teams.KIND,
        mattermost.KIND,
        email.KIND,
        telegram.KIND,
        ntfy.KIND,
        matrix.KIND,
        apprise.KIND,
    )
}

__all__ = ["KINDS", "ChannelSettings", "Kind", "Outgoing", "Sender", "Tools", "make_sender"]


def make_sender(settings: ChannelSettings, tools: Tools) -> Sender:
    """The sender of a configured channel."""
    sender: Sender = KINDS[settings.kind].sender(settings, tools)
    return sender
