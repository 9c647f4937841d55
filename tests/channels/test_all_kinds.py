"""Telegram, ntfy, Matrix and Apprise senders against local servers that check the request
each platform documents and answer as it does (success, 429 with a retry time, 4xx, 5xx)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog

from monitor.alerts.channels import KINDS, ChannelSettings, Sender, Tools, make_sender
from monitor.alerts.channels.apprise import AppriseSettings
from monitor.alerts.channels.matrix import MatrixSettings
from monitor.alerts.channels.ntfy import NtfySettings
from monitor.alerts.channels.telegram import TelegramSettings
from monitor.alerts.settings import DeliveryConfig
from monitor.kernel.errors import ConfigError, DeliveryError
from monitor.kernel.models import Alert, Evidence
from monitor.kernel.text import one_line
from monitor.service.config import load_config
from tests.support.platforms import AppriseJson, Matrix, Ntfy, Platform, Telegram
from tests.support.servers import serve
from tests.test_render import HOSTILE, MARKDOWN_ATTACK, make_alert


@pytest.fixture
async def tools() -> AsyncIterator[Tools]:
    async with aiohttp.ClientSession() as session:
        with ThreadPoolExecutor(max_workers=2) as pool:
            yield Tools(session, pool)


def settings_for(platform: Platform) -> ChannelSettings:
    """The channel settings that point at a running fake."""
    if isinstance(platform, Telegram):
        return TelegramSettings(
            name="tg",
            kind="telegram",
            bot_token=platform.token,
            chat_id=platform.chat_id,
            api_url=platform.base,
        )
    if isinstance(platform, Ntfy):
        return NtfySettings(
            name="phone",
            kind="ntfy",
            server=platform.base + "/",
            topic=platform.topic,
            token=platform.token,
        )
    if isinstance(platform, Matrix):
        return MatrixSettings(
            name="room",
            kind="matrix",
            homeserver=platform.base,
            room_id=platform.room_id,
            access_token=platform.access_token,
        )
    assert isinstance(platform, AppriseJson)
    url = platform.base.replace("http://", "json://") + "/notify"
    return AppriseSettings(name="many", kind="apprise", urls=(url,), timeout_s=10)


PLATFORMS = [Telegram, Ntfy, Matrix, AppriseJson]


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


async def test_telegram_request_is_the_documented_one(tools: Tools) -> None:
    """POST /bot<token>/sendMessage with chat_id, parse_mode HTML, previews off and the title
    linked to the article."""
    platform = Telegram()
    async with serve(platform.app()) as base:
        platform.base = base
        await make_sender(settings_for(platform), tools).send(make_alert())
    _, path, headers, _ = platform.requests[0]
    assert f"/bot{platform.token}/sendMessage" == path
    assert headers["Content-Type"].startswith("application/json")
    message = platform.messages[0]
    assert (platform.chat_id, "HTML") == (message["chat_id"], message["parse_mode"])
    assert {"is_disabled": True} == message["link_preview_options"]
    assert (
        '<a href="https://example.org/a?x=1">CIS ministers meet on air defense</a>'
        in (message["text"])
    )


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


async def test_matrix_retry_after_a_lost_answer_posts_once(tools: Tools) -> None:
    """The homeserver took the message but the answer was lost: the retry carries the same
    transaction id, and the room holds one message."""
    platform = Matrix(plan=["lost"])
    async with serve(platform.app()) as base:
        platform.base = base
        sender = make_sender(settings_for(platform), tools)
        alert = make_alert()
        with pytest.raises(DeliveryError) as failed:
            await sender.send(alert)
        assert failed.value.retriable
        await sender.send(alert)
    assert 1 == len(platform.messages)
    assert 2 == len(platform.requests)
    assert platform.requests[0][1] == platform.requests[1][1]
    assert alert.id == platform.messages[0]["txn"]
    assert {} == platform.messages[0]["m.mentions"]
    assert "m.notice" == platform.messages[0]["msgtype"]


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


def test_apprise_missing_is_named_with_the_extra_to_install(tmp_path: Path) -> None:
    """Without Apprise installed, `monitor check --config` says which extra to install."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "watches.yaml").write_text("rules: []\n")
    path = tmp_path / "monitor.yaml"
    path.write_text("channels:\n  many: {kind: apprise, urls: ['json://127.0.0.1:9/x']}\n")
    hide = "import sys; sys.modules['apprise'] = None; from monitor.commands.cli import main; "
    run = subprocess.run(
        [sys.executable, "-c", hide + f"sys.exit(main(['check', '--config', {str(path)!r}]))"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert 1 == run.returncode
    assert (
        f"{path}:2: channel 'many': kind apprise needs the optional extra: "
        in run.stdout + run.stderr
    )
    assert "pip install 'monitor[apprise]'" in run.stdout + run.stderr


def long_alert() -> Alert:
    """Long Cyrillic and emoji text everywhere: over every platform's limit, in bytes, characters
    and UTF-16 units."""
    words = "Казахстан 🇰🇿 & <ПВО> " * 400
    alert = make_alert(title=words)
    evidence = Evidence(
        kind="term", value="ПВО", field="content", text="ПВО", snippet=words, start=0, end=3
    )
    return replace(alert, evidence=(evidence,) * 8)


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


async def test_a_long_telegram_template_with_markup_across_lines_is_taken(
    tmp_path: Path, tools: Tools
) -> None:
    """A template whose blockquote spans lines, cut: never a tag left open."""
    platform = Telegram()
    async with serve(platform.app()) as base:
        platform.base = base
        path = tmp_path / "monitor.yaml"
        path.write_text(
            "channels:\n  tg:\n    kind: telegram\n"
            f"    bot_token: '{platform.token}'\n    chat_id: '{platform.chat_id}'\n"
            f"    api_url: {base}\n    template:\n      body: |\n"
            "        <blockquote>\n        {% for e in evidence %}{{ e.snippet[:900] }}\n"
            "        {% endfor %}</blockquote>\n"
        )
        settings = load_config({}, path).channels["tg"]
        with structlog.testing.capture_logs() as logs:
            await make_sender(settings, tools).send(replace(long_alert(), channel="tg"))
    assert [] == [e for e in logs if e["event"] == "template_failed"]
    assert [] == platform.refused
    assert 1 == len(platform.messages)
    assert "Rule:" not in platform.messages[0]["shown"]  # the template's, not the default
