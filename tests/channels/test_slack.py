"""The Slack channel: its payload, and feed text that cannot ping or break a link."""

from __future__ import annotations

import json

from monitor.alerts.channels.slack import slack_payload
from tests.support.alerts import HOSTILE, make_alert


def test_slack_payload_shape() -> None:
    """Slack gets text and blocks: the title as a link, facts, highlighted evidence."""
    payload = slack_payload(make_alert())
    assert payload["text"].startswith("[high] cis-defense: ")
    first = payload["blocks"][0]["text"]["text"]
    assert "*<https://example.org/a?x=1|CIS ministers meet on air defense>*" == first
    facts = payload["blocks"][1]["elements"][0]["text"]
    assert "*Feed:* world" in facts
    assert "*Published:* 2025-10-31T15:02+00:00" in facts
    assert "unified *air defense* system" in payload["blocks"][2]["text"]["text"]


def test_slack_escapes_mentions_and_markup() -> None:
    """An article title cannot ping a Slack channel or user, nor break the link."""
    payload = slack_payload(make_alert(title=HOSTILE + " |x>"))
    text = json.dumps(payload)
    assert "<!channel>" not in text
    assert "<@U123>" not in text
    assert "&lt;!channel&gt;" in payload["text"]
    assert "|x&gt;" in payload["blocks"][0]["text"]["text"]
