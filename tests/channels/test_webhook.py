"""The webhook channel: its body, its templates (JSON), and `format: cloudevents` (CloudEvents
1.0, structured mode, signed as before)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.alerts.channels import KINDS
from monitor.alerts.channels.base import HttpRequest
from monitor.alerts.channels.webhook import WebhookSettings, render, render_digest, webhook_body
from monitor.alerts.digest import Digest, HeldAlert
from monitor.kernel.errors import ConfigError
from monitor.kernel.models import Alert, Story, make_article
from monitor.service.config import load_config
from tests.conftest import SEED_FEED
from tests.support import schemas
from tests.support.alerts import make_alert
from tests.support.channels import config_with, problems
from tests.support.processes import ServiceRig, eventually, service_rig

FETCHED = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
SECRET = "k" * 16


def settings(fmt: str = "cloudevents") -> WebhookSettings:
    return WebhookSettings(
        name="hook", kind="webhook", url="http://127.0.0.1:1/hook", secret=SECRET, format=fmt
    )


def alert() -> Alert:
    article = make_article(id="a1", feed="world", title="CIS ministers meet", fetched_at=FETCHED)
    return Alert(
        id="alert-1",
        channel="hook",
        rule_id="cis",
        description="",
        severity="high",
        article=article,
        evidence=(),
        story=Story(id="a1", articles=()),
    )


def test_an_alert_as_a_cloudevent() -> None:
    """The envelope's attributes, its content type, the usual body as `data`, and the HMAC over
    the body that is sent."""
    request = render(settings(), alert())
    event = json.loads(request.body)
    assert "application/cloudevents+json; charset=utf-8" == request.headers["Content-Type"]
    assert {
        "specversion": "1.0",
        "type": "org.monitor.alert",
        "source": "/monitor/rules/cis",
        "id": "alert-1",
        "time": "2026-11-30T09:30:00+00:00",
        "subject": "a1",
        "datacontenttype": "application/json",
    } == {k: v for k, v in event.items() if k != "data"}
    assert alert().to_dict() == event["data"]
    assert [] == schemas.cloudevent_problems(event) + schemas.problems("alert", event["data"])
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert expected == request.headers["X-Monitor-Signature"]
    assert "alert-1" == request.headers["X-Monitor-Alert-Id"]


def test_plain_is_the_default_and_unchanged() -> None:
    """Without `format`, the body is the plain JSON it always was."""
    request = render(settings("plain"), alert())
    assert "application/json" == request.headers["Content-Type"]
    assert alert().to_dict() == json.loads(request.body)


def test_a_digest_as_a_cloudevent() -> None:
    """A digest's envelope: type org.monitor.digest, the channel as source, its id."""
    held = HeldAlert.from_dict(
        {
            "alert_id": "alert-1",
            "rule": {"id": "cis", "description": "", "severity": "high"},
            "article": {"id": "a1", "title": "t", "url": "https://e.org/a", "feed": "world"},
            "story": {"id": "a1", "articles": 1, "feeds": ["world"]},
            "held_at": FETCHED.isoformat(),
        }
    )
    digest = Digest(channel="hook", reason="digest", sent_for=FETCHED, items=(held,))
    event = json.loads(render_digest(settings(), digest).body)
    assert ("org.monitor.digest", "/monitor/channels/hook", digest.id) == (
        event["type"],
        event["source"],
        event["id"],
    )
    assert [] == schemas.cloudevent_problems(event) + schemas.problems("digest", event["data"])


def test_an_unknown_format_is_located(tmp_path: Path) -> None:
    """`format` takes plain or cloudevents; a chat kind does not take it at all."""
    path = tmp_path / "monitor.yaml"
    path.write_text("channels:\n  h: {kind: webhook, url: 'http://x/h', format: xml}\n")
    with pytest.raises(
        ConfigError,
        match=r"monitor.yaml:2: channel 'h': format must be one of plain, cloudevents, not 'xml'",
    ):
        load_config({}, path)
    path.write_text("channels:\n  s: {kind: slack, url: 'http://x/s', format: cloudevents}\n")
    with pytest.raises(ConfigError, match="unknown key 'format'"):
        load_config({}, path)


class Rig(ServiceRig):
    pass


async def test_the_service_sends_cloudevents(tmp_path: Path) -> None:
    """End to end: the seed article's alert arrives as a CloudEvent whose data is the alert
    body (each body is also checked against the schemas by the receiver)."""
    watches = "rules:\n  - {id: cis, match: {any: [CIS]}}\n"
    feeds = {"world": SEED_FEED.read_bytes()}
    async with service_rig(tmp_path, feeds, watches, Rig, channel=", format: cloudevents") as rig:
        await rig.monitor.start()
        await eventually(lambda: len(rig.receiver.received) >= 1, 30, rig.monitor.stderr)
        headers, body = rig.receiver.received[0]
        event = json.loads(body)
        assert headers["Content-Type"].startswith("application/cloudevents+json")
        assert ("org.monitor.alert", "/monitor/rules/cis") == (event["type"], event["source"])
        assert event["id"] == headers["X-Monitor-Alert-Id"] == event["data"]["alert_id"]


def test_webhook_body_has_rule_article_evidence() -> None:
    """The generic webhook body carries the rule, the article and the evidence."""
    body = webhook_body(make_alert())
    assert {"id": "cis-defense", "description": "CIS", "severity": "high"} == body["rule"]
    assert "art1" == body["article"]["id"]
    assert "air defense" == body["evidence"][0]["text"]
    json.dumps(body)


def test_a_webhook_template_is_json_with_escaped_strings(tmp_path: Path) -> None:
    """Values land inside JSON strings escaped for them: quotes and newlines cannot break out."""
    channel = (
        "kind: webhook\n    url: http://127.0.0.1:9/h\n    template:\n"
        '      body: \'{"text": "{{ article.title }}", "rule": "{{ rule.id }}"}\''
    )
    settings = config_with(tmp_path, channel).channels["out"]
    alert = replace(make_alert(title='say "hi"\\ \n {"x": 1}'), channel="out")
    outgoing = KINDS["webhook"].message(settings, alert)
    assert isinstance(outgoing, HttpRequest)
    assert {"text": alert.article.title, "rule": "cis-defense"} == json.loads(outgoing.body)


def test_a_webhook_template_that_is_not_json_is_a_problem(tmp_path: Path) -> None:
    """The webhook's body must be JSON, checked on sample alerts."""
    channel = "kind: webhook\n    url: http://127.0.0.1:9/h\n    template: {body: 'not json'}"
    assert "the webhook template's body is not JSON" in problems(tmp_path, channel)
