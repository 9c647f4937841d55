"""The console's file parts, built for the service: `WatchActions` and `FeedFiles` on the rules
directory, with the page reader of the watch test (`monitor.feeds.trialpage`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from monitor.bus.settings import BusPlace
from monitor.feeds.settings import FulltextConfig, PollerConfig
from monitor.feeds.trialpage import PageReader
from monitor.kernel.errors import Problem
from monitor.matching.spec import RuleSet
from monitor.status.feeddesk import FeedDesk
from monitor.status.watchdesk import RulesFiles, WatchDesk
from monitor.stories.settings import StoriesConfig


@dataclass(frozen=True, slots=True)
class Desks:
    """`Console(watches=desks.watches, feeds=desks.feeds)`; `close()` at shutdown."""

    watches: WatchDesk
    feeds: FeedDesk
    pages: PageReader

    def close(self) -> None:
        """End the page reader's worker pool (in the event loop)."""
        self.pages.close()


def make_watch_desk(
    rules_dir: Path,
    place: BusPlace,
    *,
    poller: PollerConfig,
    fulltext: FulltextConfig,
    stories: StoriesConfig,
    environ: Mapping[str, str],
    git_commit: bool = False,
    extra_checks: Callable[[RuleSet], list[Problem]] = lambda _: [],
) -> Desks:
    """The console's watch and feed-file parts on `rules_dir`, the stored articles of `place`'s
    bus (the service's `Config` is a `BusPlace`), fetching as `poller` and `fulltext` say.
    `extra_checks`: what `monitor check` adds to the rules directory's own problems (the
    service passes `lambda rs: notify_problems(config, rs)`)."""
    files = RulesFiles(rules_dir, environ=environ, extra_checks=extra_checks, git_commit=git_commit)
    pages = PageReader(poller, fulltext)
    return Desks(
        watches=WatchDesk(files, place, stories, fetch_page=pages),
        feeds=FeedDesk(files, poller),
        pages=pages,
    )
