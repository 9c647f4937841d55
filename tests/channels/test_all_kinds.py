"""What every channel kind does alike: the senders against local servers that check the
request each platform documents and answer as it does (success, 429 with a retry time, 4xx,
5xx), the registry, config checks, and feed text escaped in every kind's message."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts.channels import KINDS, Sender, Tools, make_sender
from monitor.alerts.channels.console import console_line
from monitor.alerts.channels.discord import discord_payload
from monitor.alerts.channels.email import email_message
from monitor.alerts.channels.mattermost import mattermost_payload
from monitor.alerts.channels.slack import slack_payload
from monitor.alerts.channels.teams import teams_payload
from monitor.alerts.channels.webhook import webhook_body
from monitor.alerts.settings import DeliveryConfig
from monitor.kernel.errors import ConfigError, DeliveryError
from monitor.kernel.models import Alert, Evidence, Reported
from monitor.kernel.text import one_line
from monitor.service.config import load_config
from tests.support.alerts import HOSTILE, MARKDOWN_ATTACK, SEEN, make_alert
from tests.support.channels import PLATFORMS, long_alert, settings_for
from tests.support.platforms import AppriseJson, Matrix, Ntfy, Platform, Telegram
from tests.support.servers import serve


def hostile_alert() -> Alert:
    """Markup, entities, mentions and a Markdown link in every feed-derived field."""
    alert = make_alert(title=HOSTILE + " <b>x</b> &amp; @room")
    evidence = Evidence(
        kind="term",
        value="<i>air</i> & defense",
        field="content",
        text="password",
        snippet=MARKDOWN_ATTACK + " @room <a href='javascript:x'>y</a> &",
        start=18,
        end=26,
    )
    return replace(alert, evidence=(evidence,))


def shown(platform: Platform, message: dict[str, Any]) -> str:
    """What a reader sees of one message taken by the platform."""
    if isinstance(platform, Ntfy):
        return f"{message['title']}\n{message['message']}"
    if isinstance(platform, AppriseJson):
        return f"{message['title']}\n{message['message']}"
    return str(message["shown"])


@pytest.mark.parametrize("kind", PLATFORMS)
async def test_an_alert_arrives_in_the_platforms_format(kind: type[Platform], tools: Tools) -> None:
    """The platform takes the request as documented, and the reader sees the title, the rule
    and the evidence as plain text, whatever markup the feed put in them."""
    platform = kind()
    async with serve(platform.app()) as base:
        platform.base = base
        sender = make_sender(settings_for(platform), tools)
        await sender.send(hostile_alert())
    assert [] == platform.refused
    assert 1 == len(platform.messages)
    text = shown(platform, platform.messages[0])
    assert one_line(HOSTILE, 120)[:60] in text
    assert "cis-defense" in text
    assert "<i>air</i> & defense" in text
    if isinstance(platform, Telegram | Matrix):
        # The fake refuses unknown tags and non-http links: this came through as text.
        assert "<a href='javascript:x'>y</a>" in text
    if isinstance(platform, Matrix):
        assert "@room" not in text
        assert "@room" not in platform.messages[0]["body"]
    # ntfy and Apprise are plain text: the feed's words arrive as written.


ANSWERS = [
    # (platform, answer, retriable, seconds the platform asked to wait)
    (Telegram, 429, True, 2.0),
    (Telegram, 500, True, None),
    (Telegram, 400, False, None),
    (Ntfy, 429, True, None),
    (Ntfy, 500, True, None),
    (Ntfy, 400, False, None),
    (Matrix, 429, True, 1.5),
    (Matrix, 500, True, None),
    (Matrix, 403, False, None),
    (AppriseJson, 500, True, None),
    (AppriseJson, 400, True, None),  # Apprise says only False: every failure is retried
]


@pytest.mark.parametrize(("kind", "answer", "retriable", "wait"), ANSWERS)
async def test_failures_are_classified_as_the_platform_means_them(
    kind: type[Platform], answer: int, retriable: bool, wait: float | None, tools: Tools
) -> None:
    """429 and 5xx are retried (after the time the platform asked for), other 4xx are final;
    the next attempt after a retriable failure is delivered."""
    platform = kind(plan=[answer])
    async with serve(platform.app()) as base:
        platform.base = base
        sender: Sender = make_sender(settings_for(platform), tools)
        with pytest.raises(DeliveryError) as failed:
            await sender.send(make_alert())
        assert (retriable, wait) == (failed.value.retriable, failed.value.retry_after_s)
        await sender.send(make_alert())
    assert 1 == len(platform.messages)
    assert [] == platform.refused


def test_a_platforms_wait_is_honoured_within_bounds() -> None:
    """The retry waits the longer of the backoff and what the platform asked, at most 10 min."""
    delivery = DeliveryConfig(attempts=5, backoff_s=1, max_backoff_s=60)
    assert 1 == delivery.delay_s(1)
    assert 30 == delivery.delay_s(1, 30)
    assert 4 == delivery.delay_s(3, 0.5)
    assert 600 == delivery.delay_s(1, 86400)


@pytest.mark.parametrize("kind", PLATFORMS)
async def test_a_digest_arrives_too(kind: type[Platform], tools: Tools) -> None:
    """Digests render for every new kind, escaped like alerts."""
    from monitor.alerts.digest import Digest, HeldAlert

    alert = hostile_alert()
    item = HeldAlert.of(alert, alert.article.published or alert.article.fetched_at)  # type: ignore[arg-type]
    digest = Digest(channel="x", reason="digest", items=(item,), sent_for=item.held_at)
    platform = kind()
    async with serve(platform.app()) as base:
        platform.base = base
        await make_sender(settings_for(platform), tools).send_digest(digest)
    assert [] == platform.refused
    assert "Digest: 1 alert for 1 rule" in shown(platform, platform.messages[0])


def test_every_kind_is_registered_with_a_summary() -> None:
    """The registry lists the new kinds next to the old, each with its line for the README."""
    assert {"telegram", "ntfy", "matrix", "apprise"} <= set(KINDS)
    assert all(kind.summary for kind in KINDS.values())


BAD_CHANNELS = [
    ("{kind: telegram, bot_token: nocolon, chat_id: 5}", "bot_token is not a bot token"),
    ("{kind: telegram, bot_token: '1:a'}", "chat_id must be a chat id"),
    ("{kind: ntfy, url: 'https://ntfy.sh/'}", "url must be the server and a topic"),
    ("{kind: ntfy, url: 'ftp://ntfy.sh/x'}", "url must be an http(s) URL"),
    ("{kind: matrix, homeserver: 'https://m.org', room_id: '#alias:m.org', access_token: t}", "room_id must be a room id"),
    ("{kind: apprise, urls: []}", "`urls` needs at least one Apprise URL"),
    ("{kind: apprise, urls: ['nosuch://secret-token']}", "urls #1 is not an Apprise URL"),
    ("{kind: telegram, bot_token: '1:a', chat_id: 5, color: red}", "unknown key 'color'"),
]  # fmt: skip


@pytest.mark.parametrize(("channel", "message"), BAD_CHANNELS)
def test_a_bad_channel_is_a_config_problem_with_its_line(
    tmp_path: Path, channel: str, message: str
) -> None:
    """Each kind's keys are checked when monitor.yaml is read, naming the file and line, and
    never echoing an Apprise URL (it carries a token)."""
    path = tmp_path / "monitor.yaml"
    path.write_text(f"channels:\n  console: {{kind: console}}\n  bad: {channel}\n")
    with pytest.raises(ConfigError) as failed:
        load_config({}, path)
    assert f"{path}:3: " in str(failed.value)
    assert message in str(failed.value)
    assert "secret-token" not in str(failed.value)


@pytest.mark.parametrize("kind", PLATFORMS)
async def test_a_long_message_is_cut_to_what_the_platform_takes(
    kind: type[Platform], tools: Tools
) -> None:
    """Cut to the platform's limit (ntfy: 4,096 bytes; Telegram: 4,096 UTF-16 units), with
    its markup whole: the platform takes it."""
    platform = kind()
    async with serve(platform.app()) as base:
        platform.base = base
        await make_sender(settings_for(platform), tools).send(long_alert())
    assert [] == platform.refused
    assert 1 == len(platform.messages)


COPIES = (
    Reported(article_id="c1", feed="wire-a", title="Copy", url="https://a.example/1", seen_at=SEEN),
    Reported(article_id="c2", feed="<!channel>", title="Copy", url="", seen_at=SEEN),
)


def test_an_alert_carries_its_story_and_names_the_copies_known() -> None:
    """The webhook body has event, story id, article count and feeds; every channel's message
    says "also reported by" with the other feeds and times, escaped for the channel."""
    alone, copied = make_alert(), make_alert(also=COPIES)
    body = webhook_body(copied)
    assert "alert" == body["event"]
    assert {"id": "art1", "articles": 3, "feeds": ["world", "wire-a", "<!channel>"]} == {
        k: body["story"][k] for k in ("id", "articles", "feeds")
    }
    assert ["c1", "c2"] == [r["article_id"] for r in body["story"]["also_reported"]]
    assert 1 == webhook_body(alone)["story"]["articles"]
    also = "Also reported by: wire-a (2025-10-31 15:05 UTC)"
    assert also in console_line(copied)
    assert "Also reported by" not in console_line(alone)
    texts = {
        "slack": json.dumps(slack_payload(copied)),
        "mattermost": mattermost_payload(copied)["text"],
        "discord": discord_payload(copied)["embeds"][0]["footer"]["text"],
        "teams": json.dumps(teams_payload(copied)),
        "email": email_message(copied, sender="m@example.org", to=("d@example.org",)).as_string(),
    }
    for channel, text in texts.items():
        assert "wire-a (2025-10-31 15:05 UTC)" in text, channel
    assert "<!channel>" not in texts["slack"]
    assert "&lt;!channel&gt;" in texts["slack"]
    for payload in (slack_payload(alone), teams_payload(alone)):
        assert "Also reported by" not in json.dumps(payload)


def attack_alert() -> Alert:
    """An alert whose matched snippet and evidence value carry Markdown links and images."""
    alert = make_alert(title=MARKDOWN_ATTACK, url="")  # no link of our own to tell apart
    evidence = Evidence(
        kind="term",
        value="[x](http://evil.example/v)",
        field="content",
        text="password",
        snippet=MARKDOWN_ATTACK + " @here",
        start=18,
        end=26,
    )
    return replace(alert, evidence=(evidence,))


# A Markdown link or image: `](` not escaped by a backslash.
MARKDOWN_LINK = re.compile(r"(?<!\\)\]\(")


@pytest.mark.parametrize(
    ("channel", "text_of"),
    [
        ("mattermost", lambda a: mattermost_payload(a)["text"]),
        ("discord", lambda a: discord_payload(a)["embeds"][0]["description"]),
        ("teams", lambda a: json.dumps(teams_payload(a), ensure_ascii=False)),
        ("slack", lambda a: json.dumps(slack_payload(a)["blocks"][2:], ensure_ascii=False)),
    ],
)
def test_markdown_in_feed_text_makes_no_link_image_or_mention(channel: str, text_of: Any) -> None:
    """Evidence snippets and values are escaped like titles: `[text](url)` and `![t](url)`
    from an article make no link and no tracking image, bare addresses do not link
    themselves, and `@here` pings nobody (Slack's links and mentions need `<`, escaped)."""
    text = text_of(attack_alert())
    if channel != "slack":
        assert not MARKDOWN_LINK.search(text), text
        assert "@here" not in text, text
    assert "http://evil" not in text, text
    assert "<http" not in text, text
