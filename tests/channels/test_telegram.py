"""The Telegram channel against a stand-in that checks the documented request and markup."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import aiohttp
import structlog

from monitor.alerts.channels import Tools, make_sender
from monitor.service.config import load_config
from tests.support.alerts import HOSTILE, make_alert
from tests.support.channels import TEMPLATE, config_with, long_alert, settings_for
from tests.support.platforms import Telegram
from tests.support.servers import serve


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


async def test_a_templated_telegram_message_is_taken_by_the_platform(tmp_path: Path) -> None:
    """Sent for real: the stand-in's HTML parser takes the template's markup and the escaped
    feed text."""
    platform = Telegram()
    async with serve(platform.app()) as base, aiohttp.ClientSession() as session:
        platform.base = base
        channel = (
            f"kind: telegram\n    bot_token: '{platform.token}'\n    chat_id: '{platform.chat_id}'"
            f"\n    api_url: {base}\n    " + TEMPLATE.replace("\n", "\n  ")
        )
        settings = config_with(tmp_path, channel).channels["out"]
        sender = make_sender(settings, Tools(session, ThreadPoolExecutor(1)))
        await sender.send(replace(make_alert(title=HOSTILE), channel="out"))
    assert [] == platform.refused
    assert platform.messages[0]["shown"].startswith("cis-defense (high)\nBreaking <!channel>")
