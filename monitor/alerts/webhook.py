"""HTTP chat channels: the generic JSON webhook (HMAC-signed), Slack, Discord, Teams, Mattermost."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from monitor.alerts.digest import DIGEST_PAYLOADS, Digest
from monitor.alerts.render import (
    discord_payload,
    mattermost_payload,
    slack_payload,
    teams_payload,
    webhook_body,
)
from monitor.config import ChatChannel
from monitor.errors import DeliveryError
from monitor.models import Alert

PAYLOADS: dict[str, Callable[[Alert], dict[str, Any]]] = {
    "webhook": webhook_body,
    "slack": slack_payload,
    "discord": discord_payload,
    "teams": teams_payload,
    "mattermost": mattermost_payload,
}


def signature(secret: str, body: bytes) -> str:
    """The X-Monitor-Signature value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class ChatSender:
    """POSTs the channel kind's JSON payload; 2xx is delivered."""

    def __init__(self, channel: ChatChannel, session: aiohttp.ClientSession) -> None:
        self.name = channel.name
        self.channel = channel
        self.session = session
        self.payload = PAYLOADS[channel.kind]

    async def send(self, alert: Alert) -> None:
        """Deliver; 5xx, 429, timeouts and connection errors are retriable, other 4xx are not."""
        await self._post(self.payload(alert), {"X-Monitor-Alert-Id": alert.id})

    async def send_digest(self, digest: Digest) -> None:
        """Deliver a digest as the channel kind's message; failures as for `send`."""
        payload = DIGEST_PAYLOADS[self.channel.kind](digest)
        await self._post(payload, {"X-Monitor-Digest-Id": digest.id})

    async def _post(self, payload: dict[str, Any], ids: dict[str, str]) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", **ids}
        if self.channel.secret:
            headers["X-Monitor-Signature"] = signature(self.channel.secret, body)
        timeout = aiohttp.ClientTimeout(total=self.channel.timeout_s)
        try:
            async with self.session.post(
                self.channel.url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as resp:
                if 200 <= resp.status < 300:
                    return
                retriable = resp.status == 429 or resp.status >= 500
                raise DeliveryError(
                    f"HTTP {resp.status} {resp.reason or ''}".strip(), retriable=retriable
                )
        except TimeoutError as exc:
            raise DeliveryError(
                f"timed out after {self.channel.timeout_s:g}s", retriable=True
            ) from exc
        except aiohttp.ClientError as exc:
            # The exception's text may hold the URL, a secret for chat webhooks: name only its kind.
            raise DeliveryError(f"connection failed: {type(exc).__name__}", retriable=True) from exc
