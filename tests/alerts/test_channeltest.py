"""A channel's test message reaches a local receiver, and the platform's answer is shown."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import pytest

from monitor.alerts.channels import Tools
from monitor.alerts.channels.email import EmailSettings
from monitor.alerts.channels.webhook import WebhookSettings
from monitor.alerts.channeltest import TEST_TITLE, send_test
from tests.support.servers import Receiver, serve, smtp_server


@pytest.fixture
async def tools() -> AsyncIterator[Tools]:
    with ThreadPoolExecutor(max_workers=1) as executor:
        async with aiohttp.ClientSession() as session:
            yield Tools(session, executor)


async def test_a_webhook_test_reaches_the_receiver_and_shows_its_answer(tools: Tools) -> None:
    """The receiver gets the channel's normal message saying it is a test; the answer is its
    status and body; a 500 answer is a failed test with the status and body, not a dead
    letter."""
    receiver = Receiver(plan=[200, 500])
    async with serve(receiver.app()) as base:
        receiver.base = base
        settings = WebhookSettings(name="ops", kind="webhook", url=receiver.url())
        ok = await send_test(settings, tools)
        failed = await send_test(settings, tools)
    assert {"channel": "ops", "ok": True, "status": 200, "answer": "ok", "error": None} == ok
    assert (False, 500, "fail") == (failed["ok"], failed["status"], failed["answer"])
    assert "HTTP 500" in failed["error"]
    body = json.loads(receiver.received[0][1])
    assert TEST_TITLE == body["article"]["title"]
    assert 2 == len(receiver.received)


async def test_an_email_test_says_the_smtp_reply(tools: Tools) -> None:
    """Email: the test mail arrives and the answer is the server's reply."""
    async with smtp_server() as (port, mailbox):
        settings = EmailSettings(
            name="mail",
            kind="email",
            host="127.0.0.1",
            port=port,
            sender="m@example.org",
            to=("ops@example.org",),
            security="none",
        )
        answer = await send_test(settings, tools)
    assert answer["ok"] is True, answer
    assert "OK" in answer["answer"]
    assert "Test message" in str(mailbox.messages[0]["Subject"])
