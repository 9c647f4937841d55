"""`email`: SMTP through aiosmtplib, plain text and HTML."""

from __future__ import annotations

import html
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Final

import aiosmtplib

from monitor.alerts.channels.base import ChannelSettings, Kind, Outgoing, Tools
from monitor.alerts.channels.base import timeout_s as read_timeout
from monitor.alerts.digest import Digest, item_line
from monitor.alerts.render import (
    SUBJECT_MAX,
    also_reported,
    feedback_line,
    fields,
    headline,
    highlight,
    html_text,
    safe_url,
)
from monitor.kernel.checks import Checker
from monitor.kernel.errors import DeliveryError
from monitor.kernel.located import LocDict
from monitor.kernel.models import Alert
from monitor.kernel.text import one_line

SECURITIES: Final = ("none", "starttls", "tls")
KEYS: Final = ("host", "port", "security", "username", "password", "from", "to", "timeout")


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailSettings(ChannelSettings):
    """SMTP delivery."""

    host: str
    port: int
    security: str
    sender: str
    to: tuple[str, ...]
    username: str | None = None
    password: str | None = None
    timeout_s: float = 30.0

    def secrets(self) -> tuple[str, ...]:
        """The SMTP password."""
        return (self.password,) if self.password else ()


def parse(check: Checker, name: str, spec: LocDict) -> EmailSettings | None:
    """`host`, `from` and `to` (required); `port`, `security`, `username`, `password`, `timeout`."""
    what = f"channel {name!r}"
    at = spec.line_of
    host = check.string(spec.get("host"), at("host"), f"{what} host")
    port = spec.get("port", 25)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        check.error(at("port"), f"{what}: port must be a port number, not {port!r}")
    security = check.choice(
        spec.get("security", "starttls"), at("security"), f"{what} security", SECURITIES
    )
    sender = check.string(spec.get("from"), at("from"), f"{what} from")
    to = check.strings(spec.get("to"), at("to"), f"{what} to")
    if not to:
        check.error(at("to"), f"{what}: `to` needs at least one address")
    for address in (sender, *to):
        if address is not None and ("@" not in address or any(c in address for c in "\r\n")):
            check.error(at("to"), f"{what}: {address!r} is not an email address")
    username = spec.get("username")
    password = spec.get("password")
    if host is None or sender is None or security is None or not to:
        return None
    return EmailSettings(
        name=name,
        kind="email",
        host=host,
        port=int(port) if isinstance(port, int) else 25,
        security=security,
        sender=sender,
        to=to,
        username=str(username) if username else None,
        password=str(password) if password else None,
        timeout_s=read_timeout(check, spec, 30.0),
    )


def email_message(alert: Alert, *, sender: str, to: tuple[str, ...]) -> EmailMessage:
    """A plain-text and HTML email; the subject names the rule and the title, on one line."""
    a = alert.article
    msg = EmailMessage()
    msg["Subject"] = one_line(f"[monitor] {alert.rule_id}: {headline(alert)}", SUBJECT_MAX)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["X-Monitor-Alert-Id"] = alert.id
    facts = "\n".join(f"{k}: {v}" for k, v in fields(alert))
    evidence = "\n".join(f"- {e.value} in {e.field}: {one_line(e.snippet)}" for e in alert.evidence)
    also = also_reported(alert)
    plain = f"{headline(alert)}\n{a.url}\n\n{facts}\n\nWhy it matched:\n{evidence}\n"
    if also:
        plain += f"\n{also}\n"
    if links := feedback_line(alert.feedback, lambda u, label: f"{label}: {u}", "\n"):
        plain += f"\nWas this alert relevant?\n{links}\n"
    msg.set_content(plain)
    url = safe_url(a.url)
    title = html.escape(headline(alert))
    title_html = f'<a href="{html.escape(url)}">{title}</a>' if url else title
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in fields(alert)
    )
    items = "".join(
        f"<li><i>{html.escape(e.value)}</i> in {html.escape(e.field)}: "
        f"{highlight(e, html.escape, '<b>', '</b>')}</li>"
        for e in alert.evidence
    )
    msg.add_alternative(
        f"<html><body><h3>{title_html}</h3><table>{rows}</table>"
        f"<p>Why it matched:</p><ul>{items}</ul>"
        + (f"<p><i>{html.escape(also)}</i></p>" if also else "")
        + feedback_html(alert.feedback)
        + "</body></html>",
        subtype="html",
    )
    return msg


def _html_link(url: str, label: str) -> str:
    return f'<a href="{html.escape(url)}">{html.escape(label)}</a>'


def feedback_html(feedback: dict[str, str] | None) -> str:
    """The HTML part's "Was this alert relevant? Relevant · Not relevant" ("" without links)."""
    links = feedback_line(feedback, _html_link)
    return f"<p>Was this alert relevant? {links}</p>" if links else ""


def email_digest(digest: Digest, *, sender: str, to: tuple[str, ...]) -> EmailMessage:
    """One email: plain text and HTML, every item listed."""
    msg = EmailMessage()
    msg["Subject"] = one_line(f"[monitor] {digest.headline()}", 180)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["X-Monitor-Digest-Id"] = digest.id
    plain = [digest.headline(), ""]
    rows = []
    for rule, items in digest.by_rule():
        plain.append(f"{rule} ({len(items)})")
        rows.append(f"<h4>{html.escape(rule)} ({len(items)})</h4><ul>")
        for item in items:
            title, extra = item_line(item)
            plain.append(f"- {title}{extra} {item.url}".rstrip())
            if links := feedback_line(item.feedback, lambda u, label: f"{label}: {u}"):
                plain.append(f"  {links}")
            url = safe_url(item.url)
            shown = (
                f'<a href="{html.escape(url)}">{html.escape(title)}</a>'
                if url
                else html.escape(title)
            )
            links = feedback_line(item.feedback, _html_link)
            rows.append(f"<li>{shown}{html.escape(extra)}{f' ({links})' if links else ''}</li>")
        rows.append("</ul>")
        plain.append("")
    msg.set_content("\n".join(plain))
    msg.add_alternative(
        f"<html><body><h3>{html.escape(digest.headline())}</h3>{''.join(rows)}</body></html>",
        subtype="html",
    )
    return msg


def render(settings: EmailSettings, alert: Alert) -> EmailMessage:
    """The alert's email."""
    return email_message(alert, sender=settings.sender, to=settings.to)


def render_digest(settings: EmailSettings, digest: Digest) -> EmailMessage:
    """The digest's email."""
    return email_digest(digest, sender=settings.sender, to=settings.to)


def templated(settings: EmailSettings, alert: Alert, title: str, body: str) -> EmailMessage:
    """The template's title as the subject, its body (HTML) as the HTML part and its text
    as the plain part."""
    msg = EmailMessage()
    subject = html.unescape(title) if title else f"[monitor] {alert.rule_id}: {headline(alert)}"
    msg["Subject"] = one_line(subject, SUBJECT_MAX)
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.to)
    msg["X-Monitor-Alert-Id"] = alert.id
    msg.set_content(html_text(body) + "\n")
    msg.add_alternative(f"<html><body>{body}</body></html>", subtype="html")
    return msg


class EmailSender:
    """Sends each alert as one email to the channel's recipients."""

    def __init__(self, settings: EmailSettings) -> None:
        self.name = settings.name
        self.settings = settings

    async def send(self, alert: Alert) -> None:
        """Deliver; 4xx SMTP replies, timeouts and connection errors are retriable, 5xx not."""
        await self.deliver(await KIND.outgoing(self.settings, alert))

    async def send_digest(self, digest: Digest) -> None:
        """Deliver a digest as one email; failures as for `send`."""
        await self.deliver(render_digest(self.settings, digest))

    async def deliver(self, outgoing: Outgoing) -> str:
        """Send one rendered email; the server's last reply (a channel test shows it)."""
        assert isinstance(outgoing, EmailMessage)  # noqa: S101 - email renders messages
        c = self.settings
        try:
            _, reply = await aiosmtplib.send(
                outgoing,
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
        return str(reply)


def sender(settings: EmailSettings, tools: Tools) -> EmailSender:
    """SMTP."""
    return EmailSender(settings)


KIND = Kind(
    name="email",
    keys=KEYS,
    parse=parse,
    render=render,
    render_digest=render_digest,
    sender=sender,
    summary="SMTP (STARTTLS or TLS), plain text and HTML",
    escape=html.escape,
    templated=templated,
)
