"""The console's edits of feeds.yaml (`FeedFiles`): pause and resume a feed (`enabled:` on its
item, a text splice), and add one by URL as `monitor feeds add` does (`monitor.feeds.adding`).

An add shows the feeds the page offers and writes only the one chosen (by its URL or its number
in the list), or the only one. The URL comes from a web client: it and everything it leads to
are judged as for a public origin, so an internal address is refused unless
`poller.allow_private` is set (link-local and metadata addresses always), and so it stays: the
feed is written with `public_only: true`, which makes the poller judge every later fetch for it
(the feed, its pages, their robots.txt) the same way, so a name that pointed at a public address
when added and at 127.0.0.1 later (DNS rebinding) is refused. The new feeds.yaml is checked as
`monitor check` checks the rules directory and written atomically, comments kept.
"""

from __future__ import annotations

import asyncio
from typing import Final

import structlog

from monitor.feeds.adding import appended, discover, feeds_path
from monitor.feeds.discover import Candidate
from monitor.feeds.feedsfile import NewFeed, new_id, same_url
from monitor.feeds.fetching import Found, Refused, fetch_feed
from monitor.feeds.settings import PollerConfig
from monitor.kernel.console import ActionRefused, Answer, Who
from monitor.matching import editing
from monitor.matching.loader import read_rules_dir
from monitor.status.watchdesk import RulesFiles

log = structlog.get_logger("monitor.console")

MAX_URL: Final = 2000


class FeedDesk:
    """`FeedFiles` on a rules directory's feeds.yaml."""

    def __init__(self, files: RulesFiles, poller: PollerConfig | None = None) -> None:
        self.files = files
        self.poller = poller or PollerConfig()

    async def set_enabled(self, feed_id: str, enabled: bool, who: Who) -> Answer:
        """Write `enabled:` for the feed: `{"feed", "enabled", "file", "line"}`."""
        async with self.files.lock:
            at = await asyncio.to_thread(self.files.locate, "feeds", feed_id, "feed")
            if enabled:  # back to the default: the line a pause added goes
                text = editing.default_key(at.text, at.span, "enabled", "true")
            else:
                text = editing.set_key(at.text, at.span, "enabled", "false")
            await asyncio.to_thread(
                self.files.write,
                at,
                text,
                str,
                f"monitor console: {'resume' if enabled else 'pause'} feed {feed_id}",
            )
        log.info("feed_enabled_set", feed=feed_id, enabled=enabled, who=who.to_dict())
        return {"feed": feed_id, "enabled": enabled, "file": at.path.name, "line": at.span.line}

    async def add(self, url: str, who: Who, *, choose: str | None = None) -> Answer:
        """Discover the feeds at `url`; add the one chosen (its URL or its number, from 1), or
        the only one: `{"candidates": [{"url", "title", "kind"}], "added": {"id", "url",
        "file", "line"} | None}`. 409 for a feed already listed, 422 for a URL that gives no
        feed (not read, refused, not one of the candidates)."""
        url = url.strip()
        if len(url) > MAX_URL or not url.startswith(("http://", "https://")):
            raise ActionRefused(422, f"not an http(s) URL of at most {MAX_URL} characters")
        self._not_listed(url)
        try:
            candidates, read = await discover(self.poller, url, untrusted=True)
        except Refused as exc:
            raise ActionRefused(422, str(exc)) from exc
        if url in read:  # the URL is itself a feed
            candidates = [Candidate(url, read[url].parsed.title)]
        shown = [{"url": c.url, "title": c.title, "kind": c.kind} for c in candidates]
        chosen = _pick(candidates, choose)
        if chosen is None:
            log.info("feed_add_asked", url=url[:200], candidates=len(shown), who=who.to_dict())
            return {"candidates": shown, "added": None}
        try:
            found = read.get(chosen.url) or await fetch_feed(
                self.poller, chosen.url, origin=url, untrusted=True
            )
        except Refused as exc:
            raise ActionRefused(
                422, f"{exc} (the feed {chosen.url} is named by the page {url})"
            ) from exc
        self._not_listed(chosen.url)
        async with self.files.lock:
            added = await asyncio.to_thread(self._append, chosen, found)
        log.info("feed_added", feed=added["id"], url=added["url"], who=who.to_dict())
        return {"candidates": shown, "added": added}

    def _not_listed(self, url: str) -> None:
        rule_set, _ = read_rules_dir(self.files.rules_dir)
        twin = next((f for f in rule_set.feeds if same_url(f.url) == same_url(url)), None)
        if twin is not None:
            raise ActionRefused(409, f"{url[:200]} is already in feeds.yaml as {twin.id!r}")

    def _append(self, chosen: Candidate, found: Found) -> Answer:
        path = feeds_path(self.files.rules_dir)
        if not path.is_file():
            raise ActionRefused(
                409, f"no {path.name} in the rules directory: `monitor feeds add` makes one"
            )
        read = path.read_text(encoding="utf-8")
        rule_set, _ = read_rules_dir(self.files.rules_dir)
        title = chosen.title or found.parsed.title
        new = NewFeed(
            id=new_id(title, chosen.url, {f.id for f in rule_set.feeds}),
            url=chosen.url,
            title=title,
            site=found.parsed.link,
            public_only=True,  # polled as it was added: every hop to a public address
        )
        try:  # the whole rule set is checked by `write_file`
            text, added = appended(path, read, rule_set.feeds, [new], lambda _: [])
        except Refused as exc:
            raise ActionRefused(422, str(exc)) from exc
        git = self.files.write_file(path, read, text, str, f"monitor console: add feed {new.id}")
        return {
            "id": new.id,
            "url": new.url,
            "file": path.name,
            "line": added[0].line,
            "committed": git == "committed",
        }


def _pick(candidates: list[Candidate], choose: str | None) -> Candidate | None:
    """The candidate `choose` names (its URL or its number), the only one, or None to ask."""
    if choose is None or not choose.strip():
        return candidates[0] if len(candidates) == 1 else None
    choose = choose.strip()
    if choose.isdigit() and 1 <= int(choose) <= len(candidates):
        return candidates[int(choose) - 1]
    for candidate in candidates:
        if same_url(candidate.url) == same_url(choose):
            return candidate
    raise ActionRefused(422, f"{choose[:200]!r} is not one of the {len(candidates)} feed(s) found")
