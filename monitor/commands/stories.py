"""`monitor stories`: the stories, their copies, feeds and rules; `--explain` one fold."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.commands.common import (
    EXIT_OK,
    EXIT_USAGE,
    report,
    since_arg,
)
from monitor.commands.home import config_arguments

if TYPE_CHECKING:
    from monitor.stories.store import StoredMember


if TYPE_CHECKING:
    from monitor.stories.store import StoredMember


def arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    config_arguments(parser)
    parser.add_argument(
        "--since", help="how far back (default 1d; with --explain, all the log keeps)"
    )
    parser.add_argument("--rule", help="only stories this rule matched")
    parser.add_argument("--json", action="store_true", help="one JSON object per story")
    parser.add_argument(
        "--explain",
        metavar="ARTICLE_ID",
        help="why this article is in its story: the URL, guid, or text and facts it shares",
    )


def main(args: argparse.Namespace) -> int:
    """Run the command; return its exit code."""
    if args.explain is not None:
        return explain_command(args.config, args.since, args.explain, args.rule, args.json)
    return stories_command(args.config, args.since or "1d", args.rule, as_json=args.json)


def stories_command(config_path: Path, since: str, rule_id: str | None, *, as_json: bool) -> int:
    """`monitor stories`: exit 0 when it ran, 2 on invalid input."""
    from monitor.stories import listing

    members = _story_members(config_path, since_arg(since))
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
    return report(config_path, lambda config: listing.read_members(config, since_s))


def explain_command(
    config_path: Path, since: str | None, article_id: str, rule_id: str | None, as_json: bool
) -> int:
    """`monitor stories --explain ID`: exit 0 when it explained, 2 when the article is not in
    the story log (or on invalid input)."""
    from monitor.stories import listing

    if rule_id is not None:
        print("--rule does not go with --explain (an article's story is one)", file=sys.stderr)
        return EXIT_USAGE
    since_s = since_arg(since) if since is not None else time.time()  # all the log keeps
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
