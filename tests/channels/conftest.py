"""What the channels' tests share: the tools a sender is made with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import pytest

from monitor.alerts.channels import Tools


@pytest.fixture
async def tools() -> AsyncIterator[Tools]:
    """A client session and a thread pool, as the service gives its senders."""
    async with aiohttp.ClientSession() as session:
        with ThreadPoolExecutor(max_workers=2) as pool:
            yield Tools(session, pool)
