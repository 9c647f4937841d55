"""The Mattermost channel: feed text that notifies no one."""

from __future__ import annotations

from monitor.alerts.channels.mattermost import mattermost_payload
from tests.support.alerts import HOSTILE, make_alert


def test_mattermost_defuses_at_mentions() -> None:
    """@all and @here from a feed do not notify anyone in Mattermost."""
    text = mattermost_payload(make_alert(title=HOSTILE))["text"]
    assert "@all" not in text
    assert "@here" not in text
    assert "@\u200ball" in text
