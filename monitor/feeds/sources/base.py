"""What a source kind is: a name, what it asks the server for, and how its body is read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from monitor.feeds.parse import ParsedFeed


class Parse(Protocol):
    """Read one fetched body into articles; raise `FeedParseError`, and nothing else."""

    def __call__(
        self,
        body: bytes,
        *,
        feed_id: str | None,
        url: str = "",
        content_type: str = "",
        fetched_at: datetime | None = None,
    ) -> ParsedFeed:
        """The articles the body holds."""
        ...


@dataclass(frozen=True, slots=True)
class Source:
    """A source kind: `accept` is the request's Accept header; `parse` reads the answer."""

    name: str
    accept: str
    parse: Parse
