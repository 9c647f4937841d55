"""The `monitor` command: check, match (and, with the pipeline, run)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from monitor import __version__
from monitor.errors import InputError, RuleError
from monitor.inputs import read_articles
from monitor.matching.compiler import compile_rules
from monitor.matching.loader import load_rules_dir, read_rules_dir
from monitor.matching.matcher import match_article
from monitor.models import Article, Match

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monitor", description=__doc__)
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="validate a rules directory; exit 1 on any problem")
    check.add_argument("rules_dir", nargs="?", default="rules", type=Path)

    match = commands.add_parser("match", help="dry run: show which rules match the given files")
    match.add_argument("--rules", default="rules", type=Path, help="rules directory")
    match.add_argument("--json", action="store_true", help="one JSON object per match")
    match.add_argument("--feed", help="the feed id the files stand for (for `feeds:` filters)")
    match.add_argument("files", nargs="+", type=Path, metavar="FILE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "check":
        return check(args.rules_dir, sys.stdout, sys.stderr)
    return match(
        args.rules, args.files, as_json=args.json, feed_id=args.feed, out=sys.stdout, err=sys.stderr
    )


def check(rules_dir: Path, out: TextIO, err: TextIO) -> int:
    """Validate everything in a rules directory, printing `FILE:LINE: message` per problem."""
    rule_set, problems = read_rules_dir(rules_dir)
    for problem in problems:
        print(problem, file=err)
    if problems:
        print(f"{len(problems)} problem(s) found", file=err)
        return EXIT_INVALID
    enabled = sum(1 for r in rule_set.rules if r.enabled)
    print(
        f"ok: {len(rule_set.rules)} rules ({enabled} enabled), "
        f"{len(rule_set.entities)} entities, {len(rule_set.feeds)} feeds in {rules_dir}",
        file=out,
    )
    return EXIT_OK


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
                print(json.dumps(_match_json(m, article), ensure_ascii=False), file=out)
            else:
                _print_match(m, article, path, out)
    if not as_json:
        print(
            f"{len(articles)} article(s), {matched_articles} matched, {total} match(es)",
            file=out,
        )
    return EXIT_OK


def _match_json(m: Match, article: Article) -> dict[str, object]:
    return {
        "rule": m.rule_id,
        "severity": m.severity,
        "article_id": article.id,
        "feed": article.feed,
        "url": article.url,
        "title": article.title,
        "published": article.published.isoformat() if article.published else None,
        "evidence": [
            {
                "kind": e.kind,
                "value": e.value,
                "field": e.field,
                "text": e.text,
                "snippet": e.snippet,
            }
            for e in m.evidence
        ],
    }


def _print_match(m: Match, article: Article, path: Path, out: TextIO) -> None:
    title = article.title or article.content[:80]
    print(f"{path}: MATCH {m.rule_id} [{m.severity}] {title!r}", file=out)
    if article.url:
        print(f"  url: {article.url}", file=out)
    for e in m.evidence:
        what = f'term "{e.value}"' if e.kind == "term" else f"entity {e.value}"
        print(f"  {what} in {e.field}: {e.snippet}", file=out)
