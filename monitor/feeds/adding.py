"""Adding feeds by URL, shared by `monitor feeds add|import` and the console's "add a feed":
the feeds a page offers (`discover`), and feeds.yaml with new feeds appended, checked to read
back as written (`appended`). Nothing here writes a file: the caller checks the whole rule set
(which this layer cannot load) and writes atomically (`monitor.feeds.writing`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from monitor.feeds.discover import COMMON_PATHS, Candidate, common_paths, feed_links
from monitor.feeds.feedsfile import FeedsFileError, NewFeed, append_feeds
from monitor.feeds.fetching import Found, Refused, feed_client, read_url
from monitor.feeds.settings import PollerConfig
from monitor.feeds.spec import FeedSpec, parse_feed_file
from monitor.kernel.errors import Problem
from monitor.kernel.yamlfile import parse_yaml

FEEDS_FILE = "feeds.yaml"


def feeds_path(rules_dir: Path) -> Path:
    """The rules directory's feed list: feeds.yml when that is the one there, else feeds.yaml."""
    other = rules_dir / "feeds.yml"
    return other if other.is_file() else rules_dir / FEEDS_FILE


async def discover(
    poller: PollerConfig, url: str, *, untrusted: bool = False
) -> tuple[list[Candidate], dict[str, Found]]:
    """The feeds the page at `url` offers, and those of them already read (by URL); when `url`
    is itself a feed, no candidates and that feed. `Refused` when none is found or `url`
    cannot be read; `untrusted`: see `monitor.feeds.fetching`."""
    async with feed_client(poller, untrusted=untrusted) as client:
        feed, fetched, body = await read_url(client, url)
        if feed is not None:
            return [], {url: feed}
        found = feed_links(body, str(fetched.url))
        if found:
            return found, {}
        read: dict[str, Found] = {}
        for guess in common_paths(str(fetched.url)):
            try:
                probe, _, _ = await read_url(client, guess, origin=url)
            except Refused:
                continue  # not there, or not a feed: the next path
            if probe is not None:
                found.append(Candidate(guess, probe.parsed.title))
                read[guess] = probe
        if not found:
            raise Refused(
                f'no feed found at {url}: the page names none (<link rel="alternate">) and '
                f"none is at {', '.join(COMMON_PATHS)}"
            )
        return found, read


def appended(
    path: Path,
    text: str,
    before: Sequence[FeedSpec],
    new: Sequence[NewFeed],
    problems_of: Callable[[list[FeedSpec]], list[Problem]],
) -> tuple[str, list[FeedSpec]]:
    """feeds.yaml's `text` with `new` appended (comments, order and indentation kept) and the
    specs added; `Refused` when the new list does not read back as written or `problems_of`
    (the whole rule set's check, given the new list) finds problems."""
    try:
        edited = append_feeds(text, new)
    except FeedsFileError as exc:
        raise Refused(f"{path}: {exc}") from exc
    data, problems = parse_yaml(edited, str(path))
    feeds: list[FeedSpec] = []
    if not problems:
        feeds, problems = parse_feed_file(str(path), data)
    if not problems:
        problems = problems_of(feeds)
    by_id = {f.id: f for f in feeds}
    added = [by_id[n.id] for n in new if n.id in by_id and by_id[n.id].url == n.url]
    if problems or len(added) != len(new) or len(feeds) != len(before) + len(new):
        listed = "\n".join(str(p) for p in problems) or "the new list does not read back as written"
        raise Refused(f"feeds.yaml left as it was: the new list would not load:\n{listed}")
    return edited, added
