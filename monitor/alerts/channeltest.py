"""A channel's test message: a synthetic alert, rendered by the channel's own renderer (its
template too), sent once, and the platform's answer returned (the console's "send a test").

The answer is the HTTP status and the start of the body an HTTP channel's platform returned,
or the SMTP server's last reply for email; with every secret cut (the channel's own, and the
process's): a platform may echo the webhook URL or token it was sent. A failed test is only
answered: it is never retried, dead-lettered or settled, and it trips no breaker.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from monitor.alerts.channels import KINDS, ChannelSettings, Tools, make_sender
from monitor.alerts.channels.email import EmailSender
from monitor.alerts.channels.http import HttpSender
from monitor.kernel.errors import DeliveryError
from monitor.kernel.models import Alert, Article, Evidence, Match, MatchedArticle, Reported, Story
from monitor.kernel.redact import Redactor, redact
from monitor.kernel.text import one_line

log = structlog.get_logger("monitor.channeltest")
ANSWER_CHARS = 300  # of the platform's answer, shown
TEST_RULE = "monitor-test"
TEST_TITLE = "Test message from monitor: this channel works"


def synthetic_alert(channel: str, now: datetime | None = None) -> Alert:
    """A synthetic alert for `channel` that says it is a test."""
    now = now or datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S")
    text = "This is a test message sent from the monitor's console. No watch matched anything."
    article = Article(
        id=f"monitor-test-{stamp}",
        feed="monitor-test",
        url="https://example.org/monitor-test",
        title=TEST_TITLE,
        content=text,
        published=now,
        fetched_at=now,
    )
    evidence = Evidence(
        kind="term",
        value="test message",
        field="content",
        text="test message",
        snippet=text,
        start=text.index("test message"),
        end=text.index("test message") + len("test message"),
    )
    match = Match(rule_id=TEST_RULE, article_id=article.id, severity="low", evidence=(evidence,))
    matched = MatchedArticle(match=match, article=article, description="a test message (TEST)")
    first = Reported(
        article_id=article.id, feed="monitor-test", title=TEST_TITLE, url=article.url, seen_at=now
    )
    return Alert.for_channel(matched, channel, Story(id=article.id, articles=(first,)))


def _cut(text: str, settings: ChannelSettings) -> str:
    """`text` with the channel's and the process's secrets cut, on one line, ANSWER_CHARS."""
    return one_line(redact(Redactor(settings.secrets())(text)), ANSWER_CHARS)


async def send_test(
    settings: ChannelSettings, tools: Tools, *, now: datetime | None = None
) -> dict[str, Any]:
    """Send the test message through the channel; `{"channel", "ok", "status", "answer",
    "error"}` (status: the HTTP status, the SMTP code, or None when there was none)."""
    alert = synthetic_alert(settings.name, now)
    sender = make_sender(settings, tools)
    outgoing = await KINDS[settings.kind].outgoing(settings, alert)
    status: int | None = None
    answer = ""
    error: str | None = None
    try:
        if isinstance(sender, HttpSender):
            reply = await sender.exchange(outgoing)
            status = reply.status
            answer = reply.body[: ANSWER_CHARS * 4].decode("utf-8", "replace")
            if not 200 <= reply.status < 300:
                error = str(sender.refusal(reply.status, reply.reason, reply.headers, reply.body))
        elif isinstance(sender, EmailSender):
            answer = await sender.deliver(outgoing)
            status = _smtp_code(answer)
        else:
            await sender.send(alert)
            answer = "sent"
    except DeliveryError as exc:
        error = str(exc)
    except Exception as exc:  # a test answers what happened, whatever it was
        log.exception("channel_test_crashed", channel=settings.name)
        error = f"{type(exc).__name__}"
    result = {
        "channel": settings.name,
        "ok": error is None,
        "status": status,
        "answer": _cut(answer, settings),
        "error": _cut(error, settings) if error is not None else None,
    }
    log.info(
        "channel_tested",
        channel=settings.name,
        ok=result["ok"],
        status=status,
        error=result["error"],
        message=f"test message to channel {settings.name}: "
        + ("sent" if error is None else f"failed: {result['error']}"),
    )
    return result


def _smtp_code(reply: str) -> int | None:
    """The code an SMTP reply starts with ("250 OK ..."), if it does."""
    head = reply.strip()[:3]
    return int(head) if head.isdigit() else None
