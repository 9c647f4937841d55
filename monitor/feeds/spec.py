"""A feed to poll, and `feeds.yaml`, the file that lists them.

Pure: `parse_feed_file` takes the file's path and its located YAML data and returns the feeds and
every problem found (file, line, reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from monitor.feeds.extract import EXTRA_HINT, available, selector_problem
from monitor.feeds.request import NONE, REQUEST_KEYS, RequestSpec, http_url, parse_request
from monitor.feeds.sources import SOURCES
from monitor.kernel.checks import Checker, parse_duration, top_level
from monitor.kernel.errors import Problem
from monitor.kernel.located import LocDict

DEFAULT_INTERVAL_S = 300.0  # how often a feed is polled unless it says
FEED_KEYS = (
    "id", "kind", "url", "interval", "tags", "enabled", "expect_every", "fulltext",
    "fulltext_selector", "fulltext_ignore_robots", "stories", "max_age", "title", "site",
    "public_only", *REQUEST_KEYS,
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedSpec:
    """A feed to poll."""

    id: str
    path: str
    line: int
    url: str
    kind: str = "feed"  # how its URL's answer is read: a key of `monitor.feeds.sources.SOURCES`
    interval_s: float = DEFAULT_INTERVAL_S
    tags: tuple[str, ...] = ()
    enabled: bool = True
    expect_every_s: float | None = None  # alert when it publishes nothing for this long
    fulltext: Literal["false", "true", "auto"] = "false"  # read each item's page (see fulltext)
    fulltext_selector: str | None = None  # the page's element holding the text, as CSS
    fulltext_ignore_robots: bool = False
    stories: bool = True  # `stories: false`: its items are never folded into stories
    max_age_s: float | None = None  # its first poll's cutoff (None: `poller.max_age`)
    title: str = ""  # `title:`, as the OPML export names it when no poll has said
    site: str = ""  # `site:`, the site's home page (OPML `htmlUrl`)
    request: RequestSpec = NONE  # headers, user agent, auth, proxy (`monitor.feeds.request`)
    # `public_only: true` (the console writes it on the feeds it adds): its URL came from a web
    # client, so every fetch for it (the feed, its pages, their robots.txt), every hop, is to a
    # public address unless `poller.allow_private` (`Client.get`'s `untrusted`)
    public_only: bool = False


def parse_feed_file(path: str, data: object) -> tuple[list[FeedSpec], list[Problem]]:
    """Validate `feeds.yaml`: `feeds:`, a list of feeds."""
    check = Checker(path)
    feeds = []
    items = top_level(check, data, "feeds")
    for i, raw in enumerate(items):
        spec = check.mapping(raw, items.line_of(i), "a feed", FEED_KEYS)
        if spec is None:
            continue
        before = len(check.problems)
        at = spec.line_of
        feed_id = check.identifier(spec.get("id"), at("id"), "feed `id`")
        kind = check.choice(spec.get("kind", "feed"), at("kind"), "feed `kind`", SOURCES)
        url = check.string(spec.get("url"), at("url"), "feed `url`")
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                check.error(at("url"), f"feed `url` must be an http(s) URL, not {url!r}")
        interval_s = DEFAULT_INTERVAL_S
        if "interval" in spec:
            try:
                interval_s = parse_duration(spec["interval"])
            except ValueError as exc:
                check.error(at("interval"), f"feed `interval`: {exc}")
        expect_every_s = None
        if "expect_every" in spec:
            try:
                expect_every_s = parse_duration(spec["expect_every"])
            except ValueError as exc:
                check.error(at("expect_every"), f"feed `expect_every`: {exc}")
            else:
                if expect_every_s < 60:
                    check.error(at("expect_every"), "feed `expect_every` must be at least 1m")
        max_age_s = _optional_duration(check, spec, "max_age")
        tags = _strings(check, spec, "tags") if "tags" in spec else ()
        enabled = True
        if "enabled" in spec:
            enabled = check.boolean(spec["enabled"], at("enabled"), "enabled") is not False
        fulltext = _fulltext(check, spec)
        stories = check.on_off(spec.get("stories", True), at("stories"), "feed `stories`")
        public_only = check.on_off(
            spec.get("public_only", False), at("public_only"), "`public_only`"
        )
        title, site = _names(check, spec)
        request = parse_request(check, spec)
        if feed_id is None or url is None or kind is None or len(check.problems) > before:
            continue
        feeds.append(
            FeedSpec(
                id=feed_id,
                path=path,
                line=spec.line,
                url=url,
                kind=kind,
                interval_s=interval_s,
                tags=tags,
                enabled=enabled,
                expect_every_s=expect_every_s,
                stories=stories is not False,
                max_age_s=max_age_s,
                title=title,
                site=site,
                request=request,
                public_only=public_only is True,
                **fulltext,
            )
        )
    return feeds, check.problems


def _fulltext(check: Checker, spec: LocDict) -> dict[str, Any]:
    """A feed's full-text settings: `fulltext`, `fulltext_selector`, `fulltext_ignore_robots`."""
    at = spec.line_of
    found: dict[str, Any] = {}
    value = spec.get("fulltext", False)
    if str(value).lower() in ("true", "false", "auto"):
        found["fulltext"] = str(value).lower()
    else:
        check.error(at("fulltext"), f"`fulltext` must be true, false or auto, not {value!r}")
    if "fulltext_selector" in spec:
        selector = check.string(spec["fulltext_selector"], at("fulltext_selector"), "selector")
        problem = selector_problem(selector) if selector is not None else None
        if problem:
            check.error(at("fulltext_selector"), problem)
        found["fulltext_selector"] = selector
    if "fulltext_ignore_robots" in spec:
        ignore = check.boolean(
            spec["fulltext_ignore_robots"], at("fulltext_ignore_robots"), "fulltext_ignore_robots"
        )
        found["fulltext_ignore_robots"] = bool(ignore)
    if found.get("fulltext", "false") != "false" and not available():
        check.error(at("fulltext"), f"`fulltext` needs the page extractor: {EXTRA_HINT}")
    return found


def _names(check: Checker, spec: LocDict) -> tuple[str, str]:
    """A feed's `title:` (on one line) and `site:` (an http(s) URL), or "" for each."""
    at = spec.line_of
    title = check.string(spec["title"], at("title"), "feed `title`") if "title" in spec else ""
    site = check.string(spec["site"], at("site"), "feed `site`") if "site" in spec else ""
    if site and (not http_url(site) or not site.isprintable()):
        check.error(at("site"), f"feed `site` must be an http(s) URL, not {site[:60]!r}")
    return " ".join((title or "").split()), site or ""


def _optional_duration(check: Checker, spec: LocDict, key: str) -> float | None:
    """The duration under `key` in seconds, or None when absent or wrong (reported)."""
    if key not in spec:
        return None
    try:
        return parse_duration(spec[key])
    except ValueError as exc:
        check.error(spec.line_of(key), f"feed `{key}`: {exc}")
        return None


def _strings(check: Checker, spec: LocDict, key: str) -> tuple[str, ...]:
    return check.strings(spec[key], spec.line_of(key), f"`{key}`")
