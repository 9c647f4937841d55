"""Every alert's message carries its two signed feedback links, in each kind's syntax (#35)."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts.channels.apprise import AppriseSettings
from monitor.alerts.channels.apprise import render as apprise_render
from monitor.alerts.channels.console import console_line
from monitor.alerts.channels.discord import discord_payload
from monitor.alerts.channels.email import email_digest, email_message
from monitor.alerts.channels.matrix import MatrixSettings
from monitor.alerts.channels.matrix import render as matrix_render
from monitor.alerts.channels.mattermost import mattermost_payload
from monitor.alerts.channels.ntfy import ntfy_fields
from monitor.alerts.channels.slack import slack_digest, slack_payload
from monitor.alerts.channels.teams import teams_payload
from monitor.alerts.channels.telegram import telegram_text
from monitor.alerts.channels.webhook import webhook_body
from monitor.alerts.digest import Digest, HeldAlert
from monitor.alerts.feedbacklinks import FeedbackLinks, with_feedback
from monitor.alerts.templates import compile_template
from monitor.alerts.verdicts import NOT_RELEVANT, RELEVANT, FeedbackSigner, Verdict
from monitor.kernel.models import Alert, alert_from_dict
from monitor.service.feedback import state_key
from tests.support import schemas
from tests.support.alerts import make_alert

SIGNER = FeedbackSigner(b"k" * 32)
LINKS = FeedbackLinks(SIGNER, "https://monitor.example.org/")
TOKEN = re.compile(r"/feedback/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-.]+)")
NASTY_RULE = "a<b>&\"'*_[x](javascript:y)|@room<!channel>"


def verdicts(text: str) -> set[Verdict | None]:
    """What the feedback tokens in a rendered message read back as."""
    return {SIGNER.read(t) for t in TOKEN.findall(text)}


def expected(alert: Alert) -> set[Verdict | None]:
    story = alert.story.id if alert.story else alert.article.id
    return {Verdict(alert.rule_id, story, RELEVANT), Verdict(alert.rule_id, story, NOT_RELEVANT)}


def as_text(out: object) -> str:
    if isinstance(out, EmailMessage):
        parts = [p.get_content() for p in out.walk() if not p.is_multipart()]
        return "\n".join(parts)
    if isinstance(out, str):
        return out
    if hasattr(out, "body"):
        return str(out.body.decode())
    return json.dumps(out, ensure_ascii=False) if not hasattr(out, "text") else str(out.text)


MATRIX = MatrixSettings(
    name="m",
    kind="matrix",
    homeserver="http://127.0.0.1:1",
    room_id="!r:x",
    access_token="t",  # noqa: S106 - a test value
)
RENDERERS: dict[str, Any] = {
    "slack": slack_payload,
    "discord": discord_payload,
    "mattermost": mattermost_payload,
    "teams": teams_payload,
    "telegram": telegram_text,
    "ntfy": ntfy_fields,
    "console": console_line,
    "webhook": webhook_body,
    "email": lambda a: email_message(a, sender="m@example.org", to=("x@example.org",)),
    "matrix": lambda a: matrix_render(MATRIX, a),
    "apprise": lambda a: apprise_render(AppriseSettings(name="a", kind="apprise", urls=()), a),
}


@pytest.mark.parametrize("kind", sorted(RENDERERS))
@pytest.mark.parametrize("rule", ["cis-defense", NASTY_RULE])
def test_each_kind_shows_both_links_reading_back_to_the_alert(kind: str, rule: str) -> None:
    """Both links are in the message, each reads back to (rule, story, verdict), and a rule id
    full of markup cannot break them (it is inside the signed token)."""
    alert = LINKS.on_alert(replace(make_alert(), rule_id=rule))
    text = as_text(RENDERERS[kind](alert))
    assert verdicts(text) == expected(alert)
    if kind not in ("webhook", "ntfy", "teams"):  # those give them as JSON fields, not labels
        assert "Not relevant" in text


def test_without_a_signer_no_message_has_links() -> None:
    alert = make_alert()
    assert alert.feedback is None
    for render in RENDERERS.values():
        assert "/feedback/" not in as_text(render(alert))


def test_the_webhook_body_carries_feedback_and_matches_the_schema() -> None:
    alert = LINKS.on_alert(make_alert())
    body = webhook_body(alert)
    assert set(body["feedback"]) == {"relevant", "not_relevant"}
    assert [] == schemas.problems("alert", body)
    assert alert_from_dict(json.loads(json.dumps(body))).feedback == alert.feedback


def test_a_digest_has_one_pair_per_item() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    items = tuple(
        HeldAlert.of(replace(make_alert(), rule_id=f"r{i}", id=f"id{i}"), now) for i in range(3)
    )
    digest = LINKS.on_digest(Digest(channel="ops", reason="digest", items=items, sent_for=now))
    data = digest.to_dict()
    assert [] == schemas.problems("digest", data)
    for out in (data, slack_digest(digest), email_digest(digest, sender="a@b.c", to=("d@e.f",))):
        found = verdicts(as_text(out))
        assert {(v.rule_id, v.verdict) for v in found if v} == {
            (f"r{i}", v) for i in range(3) for v in (RELEVANT, NOT_RELEVANT)
        }


def test_templates_read_feedback_relevant() -> None:
    template = compile_template(
        lambda s: s, origin="t", title=None, body="{{ feedback.relevant }}", body_line=1
    )
    alert = LINKS.on_alert(make_alert())
    _, body = template.render(alert)
    assert verdicts(body) == {Verdict(alert.rule_id, alert.story.id, RELEVANT)}  # type: ignore[union-attr]
    assert template.render(make_alert())[1] == ""


class Keeps:
    name = "ops"

    def __init__(self) -> None:
        self.sent: list[Alert | Digest] = []

    async def send(self, alert: Alert) -> None:
        self.sent.append(alert)

    async def send_digest(self, digest: Digest) -> None:
        self.sent.append(digest)


def test_wrapped_senders_stamp_alerts_but_not_health_notices() -> None:
    inner = Keeps()
    sender = with_feedback({"ops": inner}, LINKS)["ops"]
    asyncio.run(sender.send(make_alert()))
    asyncio.run(sender.send(replace(make_alert(), health={"feed": "f", "state": "failing"})))
    first, notice = inner.sent
    assert isinstance(first, Alert)
    assert verdicts(json.dumps(first.feedback)) == expected(first)
    assert isinstance(notice, Alert)
    assert notice.feedback is None
    assert with_feedback({"ops": inner}, None)["ops"] is inner


def test_the_state_key_is_made_once_0600(tmp_path: Path) -> None:
    path = tmp_path / "feedback.key"
    key = state_key(tmp_path)
    assert len(key) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert state_key(tmp_path) == key
