"""`monitor feeds add|import|export|test`: the feed list, managed from the command line.

- `add URL`: when URL is a web page, its feeds are found (`<link rel="alternate">`, else the
  paths feeds usually live at) and shown; the chosen one (the only one, `--pick N`, or asked on a
  terminal) is checked to be a feed and appended to feeds.yaml.
- `import FILE.opml`: every feed the outline lists that feeds.yaml lacks is appended; a file of
  more than `--max-outlines` outlines (5,000) is refused whole.
- `export [--opml]`: the list, one feed a line (id, URL, tags) or as OPML 2.0.
- `test ID|URL`: one fetch, parsed as the poller parses it; what it holds and which watches
  would match, with nothing published and no state touched.

feeds.yaml keeps its comments, order and indentation (`monitor.feeds.feedsfile`); the new file
is validated as `monitor check` validates it and replaces the old one atomically, so a running
monitor reloads a whole, valid list. Exit 0 on success, 1 when nothing could be done (no feed
found, a repeat, an invalid result, a failed fetch), 2 on a config, file or usage error.

The outbound-address policy (`monitor.feeds.addresses`) holds here as in the poller. A URL the
user types is its own origin: fetched even on an internal address. What it leads to (a redirect,
a feed its page names, a path guessed on its site) and every URL an OPML file lists must not be
on an internal address unless the URL typed is, or `--allow-private` is given; link-local and
cloud metadata addresses are refused always.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from yarl import URL

from monitor.commands.common import ALLOW_PRIVATE
from monitor.commands.home import config_arguments
from monitor.feeds.adding import appended, discover, feeds_path
from monitor.feeds.addresses import FLAG, Guard
from monitor.feeds.discover import Candidate
from monitor.feeds.feedsfile import NewFeed, new_id, same_url
from monitor.feeds.fetching import EXIT_OK, EXIT_USAGE, Refused, fetch_feed
from monitor.feeds.guard import resolve
from monitor.feeds.opml import MAX_OUTLINES, TooManyOutlines, read_opml, write_opml
from monitor.feeds.spec import FeedSpec
from monitor.feeds.writing import FileIsLink, replace_text
from monitor.kernel.errors import ConfigError, InputError, Problem, RuleError
from monitor.kernel.language import with_languages
from monitor.matching.compiler import compile_rules
from monitor.matching.loader import load_rules_dir, read_rules_dir
from monitor.matching.matcher import match_article
from monitor.matching.schema import link
from monitor.service.config import Config, load_config
from monitor.store.state import read_feed_names

RESOLVE_S = 20.0  # how long an import waits for its hosts to resolve


def feeds_command(
    action: str,
    *,
    config_path: Path,
    target: str = "",
    feed_id: str | None = None,
    tags: Sequence[str] = (),
    interval: str = "",
    pick: int | None = None,
    opml: bool = False,
    allow_private: bool = False,
    max_outlines: int = MAX_OUTLINES,
    out: TextIO,
    err: TextIO,
    ask: Callable[[str], str] | None = None,
) -> int:
    """Run one `monitor feeds` action (see the module docstring); return the exit code."""
    try:
        config = load_config(os.environ, config_path, sends=False)
        if allow_private:
            config = replace(config, poller=replace(config.poller, allow_private=True))
        if action == "add":
            new = NewFeed(id=feed_id or "", url=target, tags=tuple(tags), interval=interval)
            return _add(config, new, pick, out, ask)
        if action == "import":
            return _import(config, Path(target), tuple(tags), max_outlines, out)
        if action == "export":
            return _export(config, opml=opml, out=out)
        return _test(config, target, out)
    except ConfigError as exc:
        print(exc, file=err)
        return EXIT_USAGE
    except RuleError as exc:
        print(exc, file=err)
        print("fix the rules directory first: `monitor check` lists its problems", file=err)
        return EXIT_USAGE
    except Refused as exc:
        print(exc, file=err)
        return exc.code


def _current(config: Config) -> tuple[FeedSpec, ...]:
    rule_set, problems = read_rules_dir(config.rules_dir)
    if problems:
        raise RuleError(problems)
    return rule_set.feeds


# -- add ----------------------------------------------------------------------------------------


def _add(
    config: Config,
    asked: NewFeed,
    pick: int | None,
    out: TextIO,
    ask: Callable[[str], str] | None,
) -> int:
    feeds, url = _current(config), asked.url
    known = {same_url(f.url): f for f in feeds}
    _not_listed(url, known)
    candidates, read = asyncio.run(discover(config.poller, url))
    chosen = Candidate(url) if url in read else _choose(candidates, pick, out, ask)
    try:
        found = read.get(chosen.url) or asyncio.run(
            fetch_feed(config.poller, chosen.url, origin=url)
        )
    except Refused as exc:
        raise Refused(f"{exc}\n(the feed {chosen.url} is named by the page {url})") from exc
    title = chosen.title or found.parsed.title
    print(f"{chosen.url} is a feed: {len(found.parsed.articles)} item(s)", file=out)
    _not_listed(chosen.url, known)
    taken = {f.id for f in feeds}
    if asked.id in taken:
        raise Refused(f"feed id {asked.id!r} is taken in feeds.yaml; choose another with --id")
    new = replace(
        asked,
        id=asked.id or new_id(title, chosen.url, taken),
        url=chosen.url,
        title=title,
        site=asked.site or found.parsed.link,
    )
    path, added = _write(config, feeds, [new])
    print(
        f"added feed {new.id!r} at {path}:{added[0].line}; "
        "a running monitor polls it once it reloads the rules directory",
        file=out,
    )
    return EXIT_OK


def _not_listed(url: str, known: dict[str, FeedSpec]) -> None:
    twin = known.get(same_url(url))
    if twin is not None:
        raise Refused(f"{url} is already in feeds.yaml as {twin.id!r} ({twin.path}:{twin.line})")


def _choose(
    candidates: list[Candidate], pick: int | None, out: TextIO, ask: Callable[[str], str] | None
) -> Candidate:
    if len(candidates) > 1 or pick is not None:
        print(f"{len(candidates)} feed(s) found:", file=out)
        for n, c in enumerate(candidates, 1):
            about = " ".join(part for part in (c.kind, c.title and f'"{c.title}"') if part)
            print(f"  {n}. {c.url}" + (f"  ({about})" if about else ""), file=out)
    if pick is None and len(candidates) > 1:
        if ask is None:
            raise Refused("several feeds found: choose one with --pick N (or give its URL)")
        try:
            answer = ask(f"which one (1-{len(candidates)}, default 1)? ").strip() or "1"
        except (EOFError, KeyboardInterrupt) as exc:
            raise Refused("nothing added") from exc
        pick = int(answer) if answer.isdigit() else 0
    number = pick or 1
    if not 1 <= number <= len(candidates):
        raise Refused(f"no feed number {number}: choose 1 to {len(candidates)}")
    return candidates[number - 1]


# -- import and export --------------------------------------------------------------------------


def _import(
    config: Config, source: Path, tags: tuple[str, ...], max_outlines: int, out: TextIO
) -> int:
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise Refused(f"{source}: {exc.strerror or exc}", EXIT_USAGE) from exc
    try:
        listed = read_opml(data, str(source), max_outlines)
    except TooManyOutlines as exc:
        raise Refused(
            f"{exc}; nothing imported (--max-outlines {exc.count} allows it)", EXIT_USAGE
        ) from exc
    except InputError as exc:
        raise Refused(str(exc), EXIT_USAGE) from exc
    refused = asyncio.run(
        _internal_urls([item.url for item in listed], config.poller.allow_private)
    )
    if refused:
        shown = "\n".join(f"  {line}" for line in refused[:20])
        more = f"\n  ... and {len(refused) - 20} more" if len(refused) > 20 else ""
        raise Refused(
            f"{source}: {len(refused)} feed(s) on internal addresses; nothing imported:\n"
            f"{shown}{more}\nan OPML file is not its own origin: pass {FLAG} to import "
            "feeds on loopback or private addresses (link-local and metadata ones never)"
        )
    feeds = _current(config)
    known = {same_url(f.url): f.id for f in feeds}
    taken = {f.id for f in feeds}
    new: list[NewFeed] = []
    for item in listed:
        key = same_url(item.url)
        if key in known:
            print(f"skipped {item.url}: already in feeds.yaml as {known[key]!r}", file=out)
            continue
        feed = NewFeed(
            id=new_id(item.title, item.url, taken),
            url=item.url,
            tags=tuple(dict.fromkeys((*item.tags, *tags))),
            title=item.title,
            site=item.site,
        )
        known[key] = feed.id
        taken.add(feed.id)
        new.append(feed)
    if not new:
        print(f"nothing to add: {len(listed)} feed(s) in {source}, all in feeds.yaml", file=out)
        return EXIT_OK
    path, added = _write(config, feeds, new)
    print(f"imported {len(added)} feed(s) from {source} into {path}", file=out)
    return EXIT_OK


async def _internal_urls(urls: Sequence[str], allow_private: bool) -> list[str]:
    """Of `urls`, those on addresses an import may not add, each with its reason. Each host is
    resolved once, 16 at a time, all within RESOLVE_S: a name that does not resolve in time is
    no internal address here (the poller checks again on every fetch)."""
    guard = Guard(allow_private=allow_private, hint=FLAG)
    hosts: dict[tuple[str, int | None], list[str]] = {}
    for url in urls:
        try:
            parsed = URL(url)
        except ValueError:
            continue
        hosts.setdefault((parsed.host or "", parsed.port), []).append(url)
    turns = asyncio.Semaphore(16)
    why: dict[tuple[str, int | None], str] = {}

    async def check(key: tuple[str, int | None]) -> None:
        async with turns:
            with contextlib.suppress(OSError, UnicodeError):
                reason = guard.refusal(await resolve(*key))
                if reason is not None:
                    why[key] = reason

    tasks = [asyncio.create_task(check(key)) for key in hosts]
    _, late = await asyncio.wait(tasks, timeout=RESOLVE_S) if tasks else (set(), set())
    for task in late:
        task.cancel()
    return [f"{url}: {why[key]}" for key, listed in hosts.items() if key in why for url in listed]


def _export(config: Config, *, opml: bool, out: TextIO) -> int:
    feeds = _current(config)
    if opml:
        polled = asyncio.run(_polled_names(config))
        out.write(write_opml(feeds, title="monitor feeds", now=datetime.now(UTC), polled=polled))
        return EXIT_OK
    for feed in feeds:
        state = "" if feed.enabled else "\tdisabled"
        print(f"{feed.id}\t{feed.url}\t{','.join(feed.tags)}{state}", file=out)
    return EXIT_OK


async def _polled_names(config: Config) -> dict[str, tuple[str, str]]:
    """Each feed's (title, home page) as the monitor's latest poll of it read them (state.db,
    on either bus, read-only), or nothing when it never ran here."""
    return await asyncio.to_thread(read_feed_names, config.state_dir)


# -- writing feeds.yaml -------------------------------------------------------------------------


def _write(
    config: Config, before: Sequence[FeedSpec], new: Sequence[NewFeed]
) -> tuple[Path, list[FeedSpec]]:
    """Append `new` to feeds.yaml, validated as `monitor check` would; the added specs."""
    path = feeds_path(config.rules_dir)
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise Refused(f"{path}: cannot read it: {exc}", EXIT_USAGE) from exc

    def linked(feeds: list[FeedSpec]) -> list[Problem]:
        rule_set, _ = read_rules_dir(config.rules_dir)
        return link(dataclasses.replace(rule_set, feeds=tuple(feeds)))

    edited, added = appended(path, text, before, new, linked)
    try:
        replace_text(path, edited)
    except FileIsLink as exc:
        raise Refused(exc.strerror or str(exc), EXIT_USAGE) from exc
    return path, added


# -- test ---------------------------------------------------------------------------------------


def _test(config: Config, target: str, out: TextIO) -> int:
    feeds = _current(config)
    spec = next((f for f in feeds if f.id == target), None)
    if spec is None and not target.startswith(("http://", "https://")):
        raise Refused(f"no feed {target!r} in feeds.yaml, and not an http(s) URL", EXIT_USAGE)
    url = spec.url if spec is not None else target
    if spec is None:
        spec = next((f for f in feeds if same_url(f.url) == same_url(url)), None)
    compiled = compile_rules(load_rules_dir(config.rules_dir))
    try:
        found = asyncio.run(
            fetch_feed(
                config.poller,
                url,
                request=spec.request if spec else None,
                environ=config.environ,
            )
        )
    except Refused as exc:
        print(f"feed {spec.id if spec else '(not in feeds.yaml)'}: {url}", file=out)
        raise Refused(f"failed: {exc}") from exc
    fetched, parsed = found.fetched, found.parsed
    print(f"feed {spec.id if spec else '(not in feeds.yaml)'}: {url}", file=out)
    print(
        f"fetched: HTTP {fetched.status}, {len(found.body):,} bytes, "
        f"{fetched.headers.get('Content-Type', 'no Content-Type')}, in {found.seconds:.2f} s",
        file=out,
    )
    print(
        f"parser: {parsed.parser}"
        + (f" (read despite: {parsed.warning})" if parsed.warning else ""),
        file=out,
    )
    print(f"title: {parsed.title or '(none)'}", file=out)
    dated = [a.published for a in parsed.articles if a.published is not None]
    newest = f", newest {max(dated).isoformat()}" if dated else ", none dated"
    print(f"items: {len(parsed.articles)}" + (newest if parsed.articles else ""), file=out)
    feed_id = spec.id if spec else None
    articles = with_languages(dataclasses.replace(a, feed=feed_id) for a in parsed.articles)
    matched = 0
    for article in articles:
        found_matches = match_article(article, compiled)
        if not found_matches:
            continue
        matched += 1
        rules = ", ".join(
            m.rule_id + (" (shadow)" if m.mode == "shadow" else "") for m in found_matches
        )
        print(f"  {rules}: {article.title or article.url or article.id}", file=out)
    print(f"would match: {matched} of {len(articles)} item(s); nothing was published", file=out)
    if feed_id is None and any(r.feed_ids is not None for r in compiled.rules):
        print(
            "note: the URL is not in feeds.yaml: watches with `feeds:` filters skipped it", file=out
        )
    return EXIT_OK


def arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="find a page's feeds and add one to feeds.yaml")
    add.add_argument("target", metavar="URL", help="a feed, or a web page that names its feeds")
    add.add_argument("--id", dest="feed_id", help="the feed's id (default: from its title)")
    add.add_argument("--tags", default="", help="comma-separated tags, e.g. world,english")
    add.add_argument("--pick", type=int, help="which of the feeds found to add (1, 2, ...)")
    add.add_argument("--interval", default="", help="how often to poll it (default 5m)")
    imported = actions.add_parser("import", help="add the feeds an OPML file lists")
    imported.add_argument("target", metavar="FILE.opml")
    imported.add_argument("--tags", default="", help="comma-separated tags for every feed")
    imported.add_argument(
        "--max-outlines",
        type=int,
        default=MAX_OUTLINES,
        help=f"refuse a file of more outlines than this (default {MAX_OUTLINES:,})",
    )
    export = actions.add_parser("export", help="list the feeds (id, URL, tags), or as OPML")
    export.add_argument("--opml", action="store_true", help="OPML 2.0, for other readers")
    test = actions.add_parser("test", help="fetch a feed once: what it holds, what would match")
    test.add_argument("target", metavar="ID_OR_URL")
    for action in (add, imported, export, test):
        config_arguments(action)
    for action in (add, imported, test):
        action.add_argument("--allow-private", action="store_true", help=ALLOW_PRIVATE)


def main(args: argparse.Namespace) -> int:
    """Run the command; return its exit code."""
    return feeds_command(
        args.action,
        config_path=args.config,
        target=getattr(args, "target", ""),
        feed_id=getattr(args, "feed_id", None),
        tags=[t.strip() for t in getattr(args, "tags", "").split(",") if t.strip()],
        pick=getattr(args, "pick", None),
        interval=getattr(args, "interval", ""),
        opml=getattr(args, "opml", False),
        allow_private=getattr(args, "allow_private", False),
        max_outlines=getattr(args, "max_outlines", MAX_OUTLINES),
        out=sys.stdout,
        err=sys.stderr,
        ask=input if sys.stdin.isatty() else None,
    )
