"""`monitor match`: a dry run, which rules match the given files."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from monitor.commands.common import (
    EXIT_OK,
    EXIT_USAGE,
)
from monitor.commands.inputs import read_articles
from monitor.kernel.errors import InputError, RuleError
from monitor.kernel.models import Article
from monitor.matching.compiler import compile_rules
from monitor.matching.loader import load_rules_dir
from monitor.matching.matcher import match_article

if TYPE_CHECKING:
    pass


def arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    parser.add_argument("--rules", default="rules", type=Path, help="rules directory")
    parser.add_argument("--json", action="store_true", help="one JSON object per match")
    parser.add_argument("--feed", help="the feed id the files stand for (for `feeds:` filters)")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")


def main(args: argparse.Namespace) -> int:
    """Run the command; return its exit code."""
    return match(
        args.rules, args.files, as_json=args.json, feed_id=args.feed, out=sys.stdout, err=sys.stderr
    )


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
