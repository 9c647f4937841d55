"""Source kinds: how the document a feed's URL answers with becomes articles.

A feed in feeds.yaml names its kind (`kind:`, default `feed`); the poller fetches its URL (with
the kind's `Accept` header, conditional requests, politeness and the address guard) and hands
the body to the kind's `parse`. Pure: parsing does no I/O. A new kind is one module here and one
line in `SOURCES`.
"""

from __future__ import annotations

from monitor.feeds.sources import feed
from monitor.feeds.sources.base import Source

SOURCES: dict[str, Source] = {
    "feed": feed.SOURCE,
}
