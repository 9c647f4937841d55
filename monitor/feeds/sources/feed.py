"""`kind: feed`, the default: an RSS, Atom, RDF or JSON Feed document (`monitor.feeds.parse`)."""

from __future__ import annotations

from monitor.feeds.parse import parse_feed
from monitor.feeds.sources.base import Source

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)

SOURCE = Source(name="feed", accept=ACCEPT, parse=parse_feed)
