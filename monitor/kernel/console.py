"""What the operator's console passes between its layers: who asked, what to test, a silence,
and the refusal an action answers with (see `monitor.status.actions`). Pure data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Answer = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Who:
    """Who asked for an action: logged with it, and kept with a silence."""

    address: str  # the client's address
    via: str  # "token" (Bearer), "cookie" (the signed-in page) or "loopback" (no http.token)
    agent: str = ""  # its User-Agent, cut to 120 characters

    def to_dict(self) -> Answer:
        """The fields the action log and a silence keep."""
        return {"address": self.address, "via": self.via, "agent": self.agent}


class ActionRefused(Exception):
    """An action that cannot be done as asked; `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class Trial:
    """What `POST /-/watches/<id>/test` tests: a pasted article, a URL fetched as the poller
    would, or stored articles by id; `yaml` tests an unsaved edit of the watch instead of the
    saved one."""

    title: str = ""
    text: str = ""
    url: str = ""
    article_ids: tuple[str, ...] = ()
    yaml: str | None = None


@dataclass(frozen=True, slots=True)
class Silence:
    """A watch muted until `until_ms` (a silence, as Alertmanager's): its matches are kept in
    the history as muted, not sent; it ends by itself."""

    rule_id: str
    until_ms: int
    reason: str
    created_ms: int
    who: Answer = field(default_factory=dict)  # Who.to_dict()

    def to_dict(self) -> Answer:
        """`{"watch", "until", "until_ms", "reason", "created_ms", "who"}` (`until`: ISO UTC)."""
        until = datetime.fromtimestamp(self.until_ms / 1000, UTC).isoformat(timespec="seconds")
        return {
            "watch": self.rule_id,
            "until": until.replace("+00:00", "Z"),
            "until_ms": self.until_ms,
            "reason": self.reason,
            "created_ms": self.created_ms,
            "who": dict(self.who),
        }
