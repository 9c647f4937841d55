"""The `monitor` command: check, match, run, backtest, shadow-report, stories."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import structlog

from monitor import __version__
from monitor.commands.inputs import read_articles
from monitor.feeds.opml import MAX_OUTLINES
from monitor.kernel import native
from monitor.kernel.checks import parse_duration
from monitor.kernel.errors import BusError, ConfigError, InputError, RuleError, StorageError
from monitor.kernel.logs import configure_logging
from monitor.kernel.models import Article
from monitor.matching.compiler import compile_rules
from monitor.matching.loader import FileCache, load_rules_dir, read_rules_dir
from monitor.matching.matcher import match_article
from monitor.service.config import ROLES, Config, load_config, notify_problems

if TYPE_CHECKING:
    from monitor.service.app import Service
    from monitor.stories.store import StoredMember

# The service, the reports and the cost measure bring the bus and HTTP clients with them: they
# are imported by the commands that use them, so that `monitor check` starts quickly.

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
GRACE_S = 8.0  # SIGTERM to exit within 10 s, with room for the interpreter to wind down

_ALLOW_PRIVATE = "also fetch loopback and private addresses a public URL leads to"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monitor", description=__doc__)
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="validate a rules directory; exit 1 on any problem")
    check.add_argument("rules_dir", nargs="?", type=Path, help="default: rules, or the config's")
    check.add_argument("--config", type=Path, help="validate this monitor.yaml too")
    check.add_argument(
        "--cost",
        action="store_true",
        help="list the watches that cost the matcher most (on the bus's stored articles with "
        "--config, else on generated text); flag any over 10%% of its time",
    )
    check.add_argument(
        "--sample", type=int, default=200, help="articles to measure on (default 200)"
    )

    run = commands.add_parser("run", help="run the monitor until SIGINT or SIGTERM")
    run.add_argument("--config", default="monitor.yaml", type=Path)
    run.add_argument("--once", action="store_true", help="poll every feed once, deliver, exit")
    run.add_argument("--role", choices=ROLES, default="all", help="run one stage (default: all)")

    backtest_cmd = commands.add_parser(
        "backtest",
        help="what would these rules have caught in the stored articles? (sends nothing)",
    )
    backtest_cmd.add_argument("--config", default="monitor.yaml", type=Path)
    backtest_cmd.add_argument("--since", default="7d", help="how far back (default 7d)")
    backtest_cmd.add_argument(
        "--rule", action="append", default=[], help="only this rule (repeatable)"
    )
    backtest_cmd.add_argument("--rules", type=Path, help="rules directory (default: the config's)")
    backtest_cmd.add_argument("--json", action="store_true", help="one JSON object per line")

    shadow = commands.add_parser("shadow-report", help="what shadow rules would have alerted")
    shadow.add_argument("--config", default="monitor.yaml", type=Path)
    shadow.add_argument("--since", default="1d", help="how far back (default 1d)")
    shadow.add_argument("--json", action="store_true", help="one JSON object per line")

    stories = commands.add_parser(
        "stories", help="list the stories: the copies of each report, their feeds and rules"
    )
    stories.add_argument("--config", default="monitor.yaml", type=Path)
    stories.add_argument(
        "--since", help="how far back (default 1d; with --explain, all the log keeps)"
    )
    stories.add_argument("--rule", help="only stories this rule matched")
    stories.add_argument("--json", action="store_true", help="one JSON object per story")
    stories.add_argument(
        "--explain",
        metavar="ARTICLE_ID",
        help="why this article is in its story: the URL, guid, or text and facts it shares",
    )

    dlq = commands.add_parser("dlq", help="list, retry or drop the alerts that could not go out")
    dlq_actions = dlq.add_subparsers(dest="action", required=True)
    dlq_list = dlq_actions.add_parser("list", help="the open dead letters")
    dlq_list.add_argument("--json", action="store_true", help="one JSON object per line")
    for name, what in (("retry", "send again (at most once per alert)"), ("drop", "forget")):
        action = dlq_actions.add_parser(name, help=what)
        which = action.add_mutually_exclusive_group(required=True)
        which.add_argument("--id", action="append", default=[], help="a dead letter's id")
        which.add_argument("--all", action="store_true", help="every open dead letter")
        if name == "retry":
            which.add_argument("--channel", help="every open dead letter of this channel")
    for action in dlq_actions.choices.values():
        action.add_argument("--config", default="monitor.yaml", type=Path)

    preview = commands.add_parser(
        "preview", help="print what each channel would send for a rule's match; send nothing"
    )
    preview.add_argument("--config", default="monitor.yaml", type=Path)
    preview.add_argument("--rule", required=True, help="the rule's id")
    preview.add_argument(
        "--channel", action="append", default=[], help="only this channel (repeatable)"
    )
    preview.add_argument("article", type=Path, metavar="ARTICLE_FILE", help="JSON article or feed")

    extract = commands.add_parser(
        "extract", help="print the title, language and main text the matcher would see for pages"
    )
    extract.add_argument("inputs", nargs="+", metavar="URL_OR_FILE", help="a URL or an HTML file")
    extract.add_argument("--json", action="store_true", help="one JSON object per page")
    extract.add_argument("--config", type=Path, help="read the poller settings from this config")
    extract.add_argument("--selector", help="a CSS selector for the text (`fulltext_selector`)")
    extract.add_argument(
        "--ignore-robots", action="store_true", help="fetch even where robots.txt disallows"
    )
    extract.add_argument("--allow-private", action="store_true", help=_ALLOW_PRIVATE)

    _feeds_parser(commands)
    match = commands.add_parser("match", help="dry run: show which rules match the given files")
    match.add_argument("--rules", default="rules", type=Path, help="rules directory")
    match.add_argument("--json", action="store_true", help="one JSON object per match")
    match.add_argument("--feed", help="the feed id the files stand for (for `feeds:` filters)")
    match.add_argument("files", nargs="+", type=Path, metavar="FILE")
    return parser


def _feeds_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    feeds = commands.add_parser("feeds", help="add, import, export or test feeds")
    actions = feeds.add_subparsers(dest="action", required=True, metavar="ACTION")
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
        action.add_argument("--config", default="monitor.yaml", type=Path)
    for action in (add, imported, test):
        action.add_argument("--allow-private", action="store_true", help=_ALLOW_PRIVATE)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "check" and args.cost:
        from monitor.commands.cost import cost_command

        return cost_command(
            args.rules_dir, args.config, sys.stdout, sys.stderr, sample=max(1, args.sample)
        )
    if args.command == "check":
        return check(args.rules_dir, sys.stdout, sys.stderr, config_path=args.config)
    if args.command == "run":
        return run(args.config, once=args.once, role=args.role)
    if args.command == "backtest":
        return backtest_command(args.config, args.rules, args.since, args.rule, as_json=args.json)
    if args.command == "shadow-report":
        return shadow_command(args.config, args.since, as_json=args.json)
    if args.command == "stories":
        if args.explain is not None:
            return explain_command(args.config, args.since, args.explain, args.rule, args.json)
        return stories_command(args.config, args.since or "1d", args.rule, as_json=args.json)
    if args.command == "dlq":
        from monitor.commands.dlq import dlq_command

        return dlq_command(
            args.config,
            args.action,
            ids=getattr(args, "id", []),
            every=getattr(args, "all", False),
            channel=getattr(args, "channel", None),
            as_json=getattr(args, "json", False),
            out=sys.stdout,
            err=sys.stderr,
        )
    if args.command == "preview":
        from monitor.commands.preview import preview_command

        return preview_command(
            args.config, args.rule, args.article, args.channel, sys.stdout, sys.stderr
        )
    if args.command == "feeds":
        from monitor.commands.feeds import feeds_command

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
    if args.command == "extract":
        from monitor.commands.extract import extract_command

        configure_logging("warning")  # to stderr: stdout carries only the pages (or the JSON)
        return extract_command(
            args.inputs,
            config_path=args.config,
            selector=args.selector,
            ignore_robots=args.ignore_robots,
            allow_private=args.allow_private,
            as_json=args.json,
            out=sys.stdout,
            err=sys.stderr,
        )
    return match(
        args.rules, args.files, as_json=args.json, feed_id=args.feed, out=sys.stdout, err=sys.stderr
    )


def check(
    rules_dir: Path | None, out: TextIO, err: TextIO, *, config_path: Path | None = None
) -> int:
    """Validate a rules directory (and a config), printing `FILE:LINE: message` per problem."""
    config = None
    if config_path is not None:
        try:
            config = load_config(os.environ, config_path)
        except ConfigError as exc:
            print(exc, file=err)
            print("invalid config", file=err)
            return EXIT_INVALID
    directory = rules_dir or (config.rules_dir if config else Path("rules"))
    rule_set, problems = read_rules_dir(directory)
    if config is not None:
        problems += notify_problems(config, rule_set)
    for problem in problems:
        print(problem, file=err)
    if problems:
        print(f"{len(problems)} problem(s) found", file=err)
        return EXIT_INVALID
    enabled = sum(1 for r in rule_set.rules if r.enabled)
    print(
        f"ok: {len(rule_set.rules)} rules ({enabled} enabled), "
        f"{len(rule_set.entities)} entities, {len(rule_set.feeds)} feeds in {directory}"
        + (f"; config {config_path} ({len(config.channels)} channels)" if config else ""),
        file=out,
    )
    if native.engine_type() is None:
        print(f"warning: {native.MISSING}", file=err)
    return EXIT_OK


def run(config_path: Path, *, once: bool, role: str = "all") -> int:
    """Run the service (or one pass of it); exit 1 on invalid config or rules."""
    from monitor.matching.reload import snapshot
    from monitor.service.app import Service

    try:
        config = load_config(os.environ, config_path)
        files = FileCache()  # what the reloader reads again only when it changes
        seen = snapshot(config.rules_dir)  # before the read: what changes after, reloads
        rule_set = load_rules_dir(config.rules_dir, files)
    except (ConfigError, RuleError) as exc:
        print(exc, file=sys.stderr)
        print("monitor did not start: fix the problems above", file=sys.stderr)
        return EXIT_INVALID
    problems = notify_problems(config, rule_set)
    if problems:
        print(RuleError(problems), file=sys.stderr)
        print("monitor did not start: fix the problems above", file=sys.stderr)
        return EXIT_INVALID
    configure_logging(config.log_level, secrets=config.secrets())
    service = Service(config, rule_set, role=role, files=files, seen=seen)
    try:
        if once:
            asyncio.run(service.run_once())
        else:
            asyncio.run(serve(service, GRACE_S))
    except TimeoutError:  # before OSError, of which it is a subclass
        # Work still running after the grace period was cancelled; it was not committed, so the
        # next start does it again. Nothing is lost, but say so.
        structlog.get_logger("monitor").warning("stop_forced", grace_s=GRACE_S)
    except (OSError, StorageError, ExceptionGroup) as exc:
        storage = _first(exc, StorageError)
        if storage is not None:  # a state file cannot be used: say which and what to do
            structlog.get_logger("monitor").error("startup_failed", reason=str(storage))
            return EXIT_USAGE
        failed = _first(exc, OSError)
        if failed is None:
            raise
        # The listen address is taken, or the like.
        structlog.get_logger("monitor").error(
            "startup_failed", reason=f"{type(failed).__name__}: {failed}"
        )
        return EXIT_INVALID
    return EXIT_OK


E = TypeVar("E", bound=BaseException)


def _first(exc: BaseException, kind: type[E]) -> E | None:
    """`exc` if it is a `kind`, or the first `kind` inside it (task groups wrap failures)."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first(inner, kind)
            if found is not None:
                return found
    return None


def _report_logging(config: Config) -> None:
    """Reports print their results on stdout: the bus's log lines go to stderr, warnings only."""
    configure_logging("warning", secrets=config.secrets())


R = TypeVar("R")


def _report(config_path: Path, read: Callable[[Config], Coroutine[Any, Any, R]]) -> R | None:
    """Load the config and run a report's reading; None (the reason said) when either fails."""
    try:
        config = load_config(os.environ, config_path)
        _report_logging(config)
        return asyncio.run(read(config))
    except (ConfigError, BusError, StorageError) as exc:
        print(exc, file=sys.stderr)
        return None


def _since(text: str) -> float | None:
    try:
        return parse_duration(text)
    except ValueError as exc:
        print(f"--since: {exc}", file=sys.stderr)
        return None


def backtest_command(
    config_path: Path, rules_dir: Path | None, since: str, rule_ids: list[str], *, as_json: bool
) -> int:
    """`monitor backtest`: exit 0 when it ran, 2 on invalid input."""
    from monitor.commands import reports

    since_s = _since(since)
    if since_s is None:
        return EXIT_USAGE
    try:
        config = load_config(os.environ, config_path)
        rule_set = load_rules_dir(rules_dir or config.rules_dir)
    except (ConfigError, RuleError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    _report_logging(config)
    unknown = sorted(set(rule_ids) - {r.id for r in rule_set.rules})
    if unknown:
        print(f"--rule: no rule {', '.join(map(repr, unknown))} in the rules", file=sys.stderr)
        return EXIT_USAGE
    try:
        found = asyncio.run(reports.backtest(config, rule_set, since_s=since_s, rule_ids=rule_ids))
    except (BusError, StorageError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    reports.print_found(found, as_json=as_json, label=f"backtest over {since}", out=sys.stdout)
    return EXIT_OK


def shadow_command(config_path: Path, since: str, *, as_json: bool) -> int:
    """`monitor shadow-report`: exit 0 when it ran, 2 on invalid input."""
    from monitor.commands import reports

    since_s = _since(since)
    if since_s is None:
        return EXIT_USAGE
    found = _report(config_path, lambda config: reports.shadow_report(config, since_s=since_s))
    if found is None:
        return EXIT_USAGE
    reports.print_found(
        found, as_json=as_json, label=f"shadow matches over {since}", out=sys.stdout
    )
    return EXIT_OK


def stories_command(config_path: Path, since: str, rule_id: str | None, *, as_json: bool) -> int:
    """`monitor stories`: exit 0 when it ran, 2 on invalid input."""
    from monitor.stories import listing

    members = _story_members(config_path, _since(since))
    if members is None:
        return EXIT_USAGE
    found = listing.group_stories(members, rule_id)
    label = f"stories over {since}" + (f" matched by {rule_id}" if rule_id else "")
    listing.print_stories(found, as_json=as_json, label=label, out=sys.stdout)
    return EXIT_OK


def _story_members(config_path: Path, since_s: float | None) -> list[StoredMember] | None:
    """The story log's members of the last `since_s` seconds; None on invalid input (said)."""
    from monitor.stories import listing

    if since_s is None:
        return None
    return _report(config_path, lambda config: listing.read_members(config, since_s))


def explain_command(
    config_path: Path, since: str | None, article_id: str, rule_id: str | None, as_json: bool
) -> int:
    """`monitor stories --explain ID`: exit 0 when it explained, 2 when the article is not in
    the story log (or on invalid input)."""
    from monitor.stories import listing

    if rule_id is not None:
        print("--rule does not go with --explain (an article's story is one)", file=sys.stderr)
        return EXIT_USAGE
    since_s = _since(since) if since is not None else time.time()  # all the log keeps
    members = _story_members(config_path, since_s)
    if members is None:
        return EXIT_USAGE
    found = listing.explain(members, article_id)
    if found is None:
        within = f" over {since}" if since is not None else ""
        print(
            f"article {listing.printable(article_id)!s}: not in the story log{within} "
            f"({len(members):,} articles there; only matched articles are placed in stories)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    listing.print_explained(found, as_json=as_json, out=sys.stdout)
    return EXIT_OK


async def serve(service: Service, grace_s: float) -> None:
    """Run until SIGINT or SIGTERM; then give the service `grace_s` to finish."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, service.request_reload, "SIGHUP")
    async with asyncio.timeout(None) as deadline, asyncio.TaskGroup() as tg:
        task = tg.create_task(service.run(stop))
        stopped = tg.create_task(stop.wait())
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            deadline.reschedule(loop.time() + grace_s)
        stopped.cancel()


def match(
    rules_dir: Path,
    files: Sequence[Path],
    *,
    as_json: bool,
    feed_id: str | None,
    out: TextIO,
    err: TextIO,
) -> int:
    """Run every enabled rule against the articles in `files` and print what matched."""
    from monitor.commands import reports

    try:
        compiled = compile_rules(load_rules_dir(rules_dir))
    except RuleError as exc:
        print(exc, file=err)
        print("invalid rules: nothing matched", file=err)
        return EXIT_USAGE
    articles: list[tuple[Path, Article]] = []
    try:
        for path in files:
            articles.extend((path, a) for a in read_articles(path, feed_id=feed_id))
    except InputError as exc:
        print(exc, file=err)
        return EXIT_USAGE
    if any(a.feed is None for _, a in articles) and any(
        r.feed_ids is not None for r in compiled.rules
    ):
        print(
            "note: some articles name no feed (use --feed ID): `feeds:` filters ignored for them",
            file=err,
        )
    total = 0
    matched_articles = 0
    for path, article in articles:
        found = match_article(article, compiled)
        total += len(found)
        matched_articles += bool(found)
        for m in found:
            if as_json:
                print(json.dumps(reports.match_json(m, article), ensure_ascii=False), file=out)
            else:
                reports.print_match(m, article, str(path), out)
    if not as_json:
        print(
            f"{len(articles)} article(s), {matched_articles} matched, {total} match(es)",
            file=out,
        )
    return EXIT_OK
