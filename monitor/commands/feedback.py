"""`monitor feedback list | add | export | report`: the analysts' verdicts on alerts (issue 35),
on either bus, from the command line.

`report` gives, per watch, the verdicts, the precision they show (relevant / all verdicts) and
the words most over-represented in the articles marked not relevant against the relevant ones
(log-odds with an informative Dirichlet prior, Monroe et al. 2008): candidates for `none:`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import sys
from collections import Counter
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TextIO

from monitor.alerts.feedback import Record, find_article
from monitor.alerts.verdicts import NOT_RELEVANT, RELEVANT, VERDICTS
from monitor.commands.home import config_arguments
from monitor.kernel.errors import BusError, ConfigError, StorageError
from monitor.kernel.logs import configure_logging
from monitor.kernel.metrics import make_metrics
from monitor.kernel.text import one_line
from monitor.service.config import Config, load_config
from monitor.service.wiring import make_wiring
from monitor.store.state import StateStore

EXIT_OK, EXIT_USAGE = 0, 2
CONNECT_TIMEOUT_S = 60.0
TEXT_FIELDS = ("title", "summary", "content")
WORD = re.compile(r"[^\W\d_]{3,}")
PRIOR = 0.5  # pseudo-count of every word in each class
SUGGESTED = 10  # terms a watch's report suggests at most
MIN_Z = 1.0  # and only those this over-represented (z-score of the log-odds)


def feedback_command(config_path: Path, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run one `monitor feedback` action; exit 0, or 2 on bad input or an unreadable store."""
    try:
        config = load_config(os.environ, config_path, sends=False)
    except ConfigError as exc:
        print(exc, file=err)
        return EXIT_USAGE
    configure_logging("warning", secrets=config.secrets())
    try:
        return asyncio.run(_run(config, args, out, err))
    except (BusError, StorageError, TimeoutError) as exc:
        print(
            f"the verdicts could not be read or written: {str(exc) or type(exc).__name__}", file=err
        )
        return EXIT_USAGE


async def _run(config: Config, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    async with AsyncExitStack() as stack:
        wiring = make_wiring(config, make_metrics())
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await stack.enter_async_context(wiring.bus)
        state = StateStore(config.state_dir)
        await wiring.stores_state(stack, state)
        feedback = await wiring.feedback(stack, state)
        if args.action == "add":
            rule, story = args.rule.strip(), args.story.strip()
            if not rule or not story:
                print("--rule and --story must not be empty", file=err)
                return EXIT_USAGE
            history = await wiring.history(stack, state)
            article = await find_article(history, config, rule, story)
            done = await feedback.record(rule, story, args.verdict, article, _who())
            print(
                f"{rule} {story}: {args.verdict} " + ("recorded" if done else "already recorded"),
                file=out,
            )
            return EXIT_OK
        records = await feedback.list(args.rule)
    if args.action == "report":
        print_report(records, as_json=args.json, out=out)
    elif args.action == "export":
        for record in records:
            print(json.dumps(record, ensure_ascii=False), file=out)
    else:
        print_list(records, as_json=args.json, out=out)
    return EXIT_OK


def _who() -> str:
    return f"{os.environ.get('USER', 'someone')} (monitor feedback add)"


def print_list(records: Sequence[Record], *, as_json: bool, out: TextIO) -> None:
    """One JSON object a verdict (without the article), or a line each and a count."""
    for r in records:
        shown = {k: v for k, v in r.items() if k != "article"}
        if as_json:
            print(
                json.dumps({**shown, "title": _article(r).get("title", "")}, ensure_ascii=False),
                file=out,
            )
        else:
            title = one_line(str(_article(r).get("title", "")))[:80]
            print(f"{r.get('rule')}  {r.get('story')}  {r.get('verdict')}  {title}", file=out)
    if not as_json:
        print(f"{len(records)} verdict(s)", file=out)


def _article(record: Record) -> dict[str, Any]:
    article = record.get("article")
    return article if isinstance(article, dict) else {}


def words_of(record: Record) -> set[str]:
    """The words of a verdict's article text (each counted once an article)."""
    article = _article(record)
    text = " ".join(str(article.get(f, "")) for f in TEXT_FIELDS)
    return {w.casefold() for w in WORD.findall(text)}


def suggested_terms(bad: Sequence[set[str]], good: Sequence[set[str]]) -> list[tuple[str, float]]:
    """The words most over-represented in `bad` articles against `good` ones, with their
    z-scores (log-odds ratio with a prior of `PRIOR` per word, divided by its deviation)."""
    nb, ng = Counter(w for ws in bad for w in ws), Counter(w for ws in good for w in ws)
    total_b, total_g = sum(nb.values()), sum(ng.values())
    vocab = len(set(nb) | set(ng)) or 1
    scored = []
    for word, yb in nb.items():
        yg = ng.get(word, 0)
        a_b, a_g = yb + PRIOR, yg + PRIOR
        rest_b = total_b + PRIOR * vocab - a_b
        rest_g = total_g + PRIOR * vocab - a_g
        delta = math.log(a_b / rest_b) - math.log(a_g / rest_g)
        z = delta / math.sqrt(1 / a_b + 1 / a_g)
        if z >= MIN_Z and yb >= 2:
            scored.append((word, round(z, 2)))
    scored.sort(key=lambda t: (-t[1], t[0]))
    return scored[:SUGGESTED]


def report(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Per watch: verdicts, precision and the suggested `none:` terms."""
    rules: dict[str, list[Record]] = {}
    for r in records:
        rules.setdefault(str(r.get("rule")), []).append(r)
    rows = []
    for rule, mine in sorted(rules.items()):
        good = [words_of(r) for r in mine if r.get("verdict") == RELEVANT]
        bad = [words_of(r) for r in mine if r.get("verdict") == NOT_RELEVANT]
        judged = len(good) + len(bad)
        rows.append(
            {
                "watch": rule,
                "verdicts": judged,
                "relevant": len(good),
                "not_relevant": len(bad),
                "precision": round(len(good) / judged, 3) if judged else None,
                "suggested_none": [w for w, _ in suggested_terms(bad, good)],
            }
        )
    return rows


def print_report(records: Sequence[Record], *, as_json: bool, out: TextIO) -> None:
    """The report, as JSON lines or a paragraph per watch."""
    for row in report(records):
        if as_json:
            print(json.dumps(row, ensure_ascii=False), file=out)
            continue
        precision = "-" if row["precision"] is None else f"{row['precision']:.0%}"
        print(
            f"{row['watch']}: {row['verdicts']} verdict(s), {row['relevant']} relevant, "
            f"{row['not_relevant']} not relevant, precision {precision}",
            file=out,
        )
        if row["suggested_none"]:
            print(f"  suggested none: {', '.join(row['suggested_none'])}", file=out)


def arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    actions = parser.add_subparsers(dest="action", required=True)
    for name, what in (
        ("list", "the verdicts"),
        ("export", "the verdicts with their articles, one JSON object a line"),
        ("report", "per watch: precision and suggested none: terms"),
    ):
        action = actions.add_parser(name, help=what)
        action.add_argument("--rule", help="only this watch's verdicts")
        if name != "export":
            action.add_argument("--json", action="store_true", help="one JSON object a line")
    add = actions.add_parser("add", help="record a verdict by hand")
    add.add_argument("--rule", required=True, help="the watch's id")
    add.add_argument("--story", required=True, help="the alert's story id")
    add.add_argument("--verdict", required=True, choices=VERDICTS)
    for action in actions.choices.values():
        config_arguments(action)


def main(args: argparse.Namespace) -> int:
    """Run the command; return its exit code."""
    if not hasattr(args, "json"):
        args.json = False
    return feedback_command(args.config, args, sys.stdout, sys.stderr)
