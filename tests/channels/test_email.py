"""The email channel: its subject and parts, and headers a feed cannot add."""

from __future__ import annotations

from monitor.alerts.channels.email import email_message
from tests.support.alerts import HOSTILE, make_alert


def test_email_subject_and_parts() -> None:
    """The subject names the rule and the title; plain and HTML parts carry the evidence."""
    msg = email_message(make_alert(), sender="monitor@example.org", to=("desk@example.org",))
    assert "[monitor] cis-defense: CIS ministers meet on air defense" == msg["Subject"]
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert "air defense in content" in plain.get_content()
    assert "unified <b>air defense</b> system" in html.get_content()


def test_email_resists_header_and_html_injection() -> None:
    """A hostile title cannot add headers, and its markup is escaped in the HTML part."""
    msg = email_message(
        make_alert(title=HOSTILE), sender="monitor@example.org", to=("desk@example.org",)
    )
    assert msg["Bcc"] is None
    assert "\n" not in msg["Subject"]
    assert "\r" not in msg["Subject"]
    raw = msg.as_bytes()
    assert b"\nBcc:" not in raw
    html = msg.get_body(("html",))
    assert html is not None
    assert "<script>" not in html.get_content()
    assert "&lt;script&gt;" in html.get_content()
