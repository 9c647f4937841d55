"""The operator's console: what the status page and the HTTP actions under `/-/` can do.

The HTTP layer (`monitor.status.console`) checks who asks (`monitor.status.consent`), logs each
action with who and what, and calls the parts below; the service builds them for its role and
bus (`monitor.service.console`). A part this process cannot reach is None, and its endpoints
answer 503 saying which role does that work.

Every answer is a plain JSON-ready dict, so the page, the JSON API and the tests read one shape.
An action that cannot be done as asked raises `ActionRefused` with the HTTP status to answer
(404 an unknown id, 409 a conflict, 422 problems, 503 nobody to do it, 504 no answer in time)
and, for 422, the problems at their file and line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from monitor.kernel.console import ActionRefused, Answer, Silence, Trial, Who

__all__ = [
    "ActionRefused",
    "Answer",
    "ChannelActions",
    "Console",
    "DeadLetterActions",
    "FeedFiles",
    "History",
    "PollActions",
    "Silence",
    "Silences",
    "Trial",
    "WatchActions",
    "Who",
]


class PollActions(Protocol):
    """Poll a feed now (the pollers' work: on Kafka routed to the poller holding its lease)."""

    async def poll_now(self, feed_id: str, who: Who) -> Answer:
        """Poll it at once; `{"feed", "result", "new", "error", "next_poll_ms", "by"}`; 404 for
        a feed not in feeds.yaml, 409 for a paused one, 504 when no poller answered in time."""
        ...


class FeedFiles(Protocol):
    """feeds.yaml edits: pause and resume (`enabled:`), add by URL (`monitor feeds add`)."""

    async def set_enabled(self, feed_id: str, enabled: bool, who: Who) -> Answer:
        """Write `enabled:` for the feed, keeping the rest of the file; `{"feed", "enabled",
        "file", "line"}`."""
        ...

    async def add(self, url: str, who: Who, *, choose: str | None = None) -> Answer:
        """Discover the feeds at `url`; add the one chosen (or the only one). `{"candidates":
        [{"url", "title", "kind"}], "added": {"id", "url", "file", "line"} | None}`."""
        ...


class WatchActions(Protocol):
    """A watch's YAML: read, test, backtest, save; a new watch proposed from an article."""

    def source(self, rule_id: str) -> Answer:
        """`{"id", "file", "line", "mode", "yaml"}` of a watch in the rules directory (404)."""
        ...

    async def save(
        self,
        rule_id: str,
        yaml_text: str,
        who: Who,
        *,
        version: str | None = None,
        create: bool = False,
    ) -> Answer:
        """Replace the watch in its file if the rule set still checks; `{"id", "file", "line",
        "committed"}`; 422 with the problems (at their line), nothing written; 409 when the
        file changed since `version` (from `source`) was read. `create`: an id not in the
        rules is added (console.yaml), else 404; an id already there is then 409."""
        ...

    async def set_mode(self, rule_id: str, mode: str, who: Who) -> Answer:
        """Switch the watch to "shadow" or "live" in its file; `{"id", "mode", "file"}`."""
        ...

    async def test(self, rule_id: str, trial: Trial) -> Answer:
        """Match the watch (or `trial.yaml`) on the trial's articles; `{"results": [{"title",
        "url", "matched", "evidence": [{"kind", "value", "field", "snippet"}], "text",
        "marks": [[field, start, end], ...]}]}` (marks: the evidence's spans in the text)."""
        ...

    async def backtest(self, rule_id: str, yaml_text: str | None, days: int) -> Answer:
        """The watch over the stored articles of the last `days`: `{"days": [{"day", "matches",
        "alerts"}], "alerts": [{"title", "url", "feed", "published_ms"}], "articles"}`."""
        ...

    async def stored(self, limit: int) -> list[Answer]:
        """The newest stored articles, to pick for a test: `[{"id", "title", "feed", "url"}]`."""
        ...

    async def propose(self, article_id: str) -> Answer:
        """A new watch like an article: `{"yaml", "terms", "entities"}` (its entities, its
        rarest phrases among the stored articles); 404 for an article no longer stored."""
        ...


class Silences(Protocol):
    """Muted watches, kept where every dispatcher reads them (state.db; on Kafka a topic)."""

    async def mute(self, rule_id: str, until_ms: int, reason: str, who: Who) -> Silence:
        """Mute the watch until `until_ms` (replacing its silence, if any)."""
        ...

    async def unmute(self, rule_id: str, who: Who) -> Silence | None:
        """End the watch's silence now; the silence ended, or None if it had none."""
        ...

    async def active(self) -> list[Silence]:
        """The silences not yet over, soonest to end first."""
        ...


class ChannelActions(Protocol):
    """Send a test message through a channel (a dispatcher's work)."""

    async def test(self, name: str, who: Who) -> Answer:
        """`{"channel", "ok", "status", "answer", "error", "by"}`: the platform's answer (HTTP
        status and the start of its body, secrets cut); 404 for a channel not configured."""
        ...


class DeadLetterActions(Protocol):
    """The dead letters: list, retry (a dispatcher's work), drop."""

    async def letters(self) -> list[Answer]:
        """The open dead letters: `monitor dlq list --json`'s fields, and `title`, `url`."""
        ...

    async def retry(self, ids: Sequence[str] | None, who: Who) -> Answer:
        """Send again (None: all); `{"results": {id: "sent" | "already delivered" | "failed
        again: ..."}}`, each at most once per alert; 404 when no id is open."""
        ...

    async def drop(self, ids: Sequence[str] | None, who: Who) -> Answer:
        """Forget them (None: all); `{"dropped": [ids]}`."""
        ...


class History(Protocol):
    """Alerts as settled, kept across restarts (bounded), with the shadow watches' would-be
    alerts and the muted ones."""

    async def search(
        self,
        *,
        watch: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int = 100,
    ) -> list[Answer]:
        """Newest first: `{"key", "watch", "mode", "severity", "title", "url", "feed",
        "evidence", "first_ms", "channels": {name: {"state", "reason"}}, "story", "state",
        "article"}` (the stored article's id, for "make a watch like this") where `state`
        is "sent", "held", "dead-lettered", "folded", "muted" or "shadow"."""
        ...


@dataclass(slots=True)
class Console:
    """The parts this process can act with (None: answered 503 naming the role that can)."""

    polls: PollActions | None = None
    feeds: FeedFiles | None = None
    watches: WatchActions | None = None
    silences: Silences | None = None
    channels: ChannelActions | None = None
    letters: DeadLetterActions | None = None
    history: History | None = None
    channel_names: Sequence[str] = ()
