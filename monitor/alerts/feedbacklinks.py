"""The two feedback links on every alert a channel is sent (issue 35).

`FeedbackLinks` (a signer and the listener's public address) puts on an alert, and on each item
of a digest, `feedback = {"relevant": URL, "not_relevant": URL}` (`monitor.alerts.verdicts`):
the webhook's JSON carries it, every kind's message shows it as "Relevant" / "Not relevant"
links in its own syntax, and a template reads it as `feedback.relevant`. The service wraps its
senders with `with_feedback`, so every path that sends (the dispatcher, digests, outages, dead
letters retried) sends the links; without a signer the senders are left as they are and no
message has links. Health notices (a feed or a channel) are about no story: they get none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from monitor.alerts.channels.base import Sender
from monitor.alerts.digest import Digest
from monitor.alerts.verdicts import FeedbackSigner, feedback_links
from monitor.kernel.models import Alert


@dataclass(frozen=True, slots=True)
class FeedbackLinks:
    """Makes the links: `signer` signs (rule, story, verdict), `base_url` is where analysts
    reach the listener (`http.public_url`, else the listener's own address)."""

    signer: FeedbackSigner
    base_url: str

    def links(self, rule_id: str, story_id: str) -> dict[str, str]:
        """`{"relevant": URL, "not_relevant": URL}` for (rule, story)."""
        return feedback_links(self.base_url, self.signer, rule_id, story_id)

    def on_alert(self, alert: Alert) -> Alert:
        """The alert with its links (a health notice as it is)."""
        if alert.event != "alert":
            return alert
        story_id = alert.story.id if alert.story is not None else alert.article.id
        return replace(alert, feedback=self.links(alert.rule_id, story_id))

    def on_digest(self, digest: Digest) -> Digest:
        """The digest with each item's links (its id is unchanged: it is made of item ids)."""
        items = tuple(replace(i, feedback=self.links(i.rule_id, i.story_id)) for i in digest.items)
        return replace(digest, items=items)


class FeedbackSender:
    """A sender whose alerts and digests carry their feedback links."""

    def __init__(self, inner: Sender, feedback: FeedbackLinks) -> None:
        self.name = inner.name
        self.inner = inner
        self.feedback = feedback

    async def send(self, alert: Alert) -> None:
        """Deliver one alert, with its links."""
        await self.inner.send(self.feedback.on_alert(alert))

    async def send_digest(self, digest: Digest) -> None:
        """Deliver a digest, a pair of links per item."""
        await self.inner.send_digest(self.feedback.on_digest(digest))


def with_feedback(
    senders: Mapping[str, Sender], feedback: FeedbackLinks | None
) -> dict[str, Sender]:
    """The senders, each sending the links (as they are when `feedback` is None)."""
    if feedback is None:
        return dict(senders)
    return {name: FeedbackSender(s, feedback) for name, s in senders.items()}
