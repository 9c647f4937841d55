"""The email channel: SMTP through aiosmtplib, plain text and HTML."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from monitor.alerts.digest import Digest, email_digest
from monitor.alerts.render import email_message
from monitor.config import EmailChannel
from monitor.errors import DeliveryError
from monitor.models import Alert


class EmailSender:
    """Sends each alert as one email to the channel's recipients."""

    def __init__(self, channel: EmailChannel) -> None:
        self.name = channel.name
        self.channel = channel

    async def send(self, alert: Alert) -> None:
        """Deliver; 4xx SMTP replies, timeouts and connection errors are retriable, 5xx not."""
        c = self.channel
        await self._send(email_message(alert, sender=c.sender, to=c.to))

    async def send_digest(self, digest: Digest) -> None:
        """Deliver a digest as one email; failures as for `send`."""
        c = self.channel
        await self._send(email_digest(digest, sender=c.sender, to=c.to))

    async def _send(self, message: EmailMessage) -> None:
        c = self.channel
        try:
            await aiosmtplib.send(
                message,
                hostname=c.host,
                port=c.port,
                username=c.username,
                password=c.password,
                use_tls=c.security == "tls",
                start_tls=c.security == "starttls",
                timeout=c.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            retriable = all(400 <= code < 500 for code in codes)
            raise DeliveryError(f"recipients refused: {codes}", retriable=retriable) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP {exc.code}: {exc.message}", retriable=400 <= exc.code < 500
            ) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(
                f"SMTP failed: {type(exc).__name__}: {exc}", retriable=True
            ) from exc
