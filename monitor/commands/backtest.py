"""`monitor backtest`: what would these rules have caught in the stored articles?"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.commands.common import (
    EXIT_OK,
    EXIT_USAGE,
    report_logging,
    since_arg,
)
from monitor.commands.home import config_arguments
from monitor.kernel.errors import BusError, ConfigError, RuleError, StorageError
from monitor.matching.loader import load_rules_dir
from monitor.service.config import load_config

if TYPE_CHECKING:
    pass


def arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    config_arguments(parser)
    parser.add_argument("--since", default="7d", help="how far back (default 7d)")
    parser.add_argument("--rule", action="append", default=[], help="only this rule (repeatable)")
    parser.add_argument("--rules", type=Path, help="rules directory (default: the config's)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")


def main(args: argparse.Namespace) -> int:
    """Run the command; return its exit code."""
    return backtest_command(args.config, args.rules, args.since, args.rule, as_json=args.json)


def backtest_command(
    config_path: Path, rules_dir: Path | None, since: str, rule_ids: list[str], *, as_json: bool
) -> int:
    """`monitor backtest`: exit 0 when it ran, 2 on invalid input."""
    from monitor.commands import reports

    since_s = since_arg(since)
    if since_s is None:
        return EXIT_USAGE
    try:
        config = load_config(os.environ, config_path, sends=False)
        rule_set = load_rules_dir(rules_dir or config.rules_dir)
    except (ConfigError, RuleError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    report_logging(config)
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
