"""The Matrix channel against a stand-in homeserver."""

from __future__ import annotations

import pytest

from monitor.alerts.channels import Tools, make_sender
from monitor.kernel.errors import DeliveryError
from tests.support.alerts import make_alert
from tests.support.channels import settings_for
from tests.support.platforms import Matrix
from tests.support.servers import serve


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
