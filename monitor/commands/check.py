"""`monitor check`: validate a rules directory (and a config); `--cost` measures the watches."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from monitor.commands.common import (
    EXIT_INVALID,
    EXIT_OK,
)
from monitor.kernel import native
from monitor.kernel.errors import ConfigError
from monitor.matching.loader import read_rules_dir
from monitor.service.config import load_config, notify_problems

if TYPE_CHECKING:
    pass


def arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    parser.add_argument("rules_dir", nargs="?", type=Path, help="default: rules, or the config's")
    parser.add_argument("--config", type=Path, help="validate this monitor.yaml too")
    parser.add_argument(
        "--cost",
        action="store_true",
        help="list the watches that cost the matcher most (on the bus's stored articles with "
        "--config, else on generated text); flag any over 10%% of its time",
    )
    parser.add_argument(
        "--sample", type=int, default=200, help="articles to measure on (default 200)"
    )


def main(args: argparse.Namespace) -> int:
    """Run the command; return its exit code."""
    if args.cost:
        from monitor.commands.cost import cost_command

        return cost_command(
            args.rules_dir, args.config, sys.stdout, sys.stderr, sample=max(1, args.sample)
        )
    return check(args.rules_dir, sys.stdout, sys.stderr, config_path=args.config)


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
