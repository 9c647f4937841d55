"""`monitor check`: validate a rules directory (and a config); `--cost` measures the watches."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple, TextIO

from monitor.commands.common import (
    EXIT_INVALID,
    EXIT_OK,
)
from monitor.commands.home import CONFIG_NAME, HOME_VAR, config_arguments
from monitor.feeds.request import env_problems
from monitor.kernel import native
from monitor.kernel.envfile import SECRETS_FILE
from monitor.kernel.errors import ConfigError, Problem
from monitor.kernel.text import plural
from monitor.kernel.yamlfile import read_yaml
from monitor.matching.loader import read_rules_dir
from monitor.matching.spec import RuleSet
from monitor.service.config import Config, load_config, notify_problems, read_secrets


def arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    parser.add_argument("rules_dir", nargs="?", type=Path, help="default: rules, or the config's")
    config_arguments(parser, optional=True)  # validated too
    parser.add_argument(
        "--cost",
        action="store_true",
        help="list the watches that cost the matcher most (on the bus's stored articles with "
        "--config, else on generated text); flag any over 0.2 ms an article and 10%% of the "
        "watches' cost",
    )
    parser.add_argument(
        "--sample", type=int, default=200, help="articles to measure on (default 200)"
    )


def main(args: argparse.Namespace) -> int:
    """Run the command; return its exit code."""
    if args.config is not None and args.config_source != "--config":  # the one it found
        print(f"config: {args.config.absolute()} (from {args.config_source})", flush=True)
    if args.cost:
        from monitor.commands.cost import cost_command

        return cost_command(
            args.rules_dir, args.config, sys.stdout, sys.stderr, sample=max(1, args.sample)
        )
    return check(args.rules_dir, sys.stdout, sys.stderr, config_path=args.config)


def check(
    rules_dir: Path | None, out: TextIO, err: TextIO, *, config_path: Path | None = None
) -> int:
    """Validate a rules directory (and a config), printing `FILE:LINE: message` per problem:
    every problem of every file in one run, sorted by file and line."""
    found = gather(rules_dir, config_path)
    config, rule_set, directory, problems = found
    for problem in problems:
        print(problem, file=err)
    if problems:
        if rules_dir is None and config_path is None and not directory.is_dir():
            print(nowhere_hint(), file=err)
        print(f"{plural(len(problems), 'problem')} found", file=err)
        return EXIT_INVALID
    enabled = sum(1 for r in rule_set.rules if r.enabled)
    print(
        f"ok: {plural(len(rule_set.rules), 'rule')} ({enabled} enabled), "
        f"{plural(len(rule_set.entities), 'entity', 'entities')}, "
        f"{plural(len(rule_set.feeds), 'feed')} in {directory}"
        + (f"; config {config_path} ({plural(len(config.channels), 'channel')})" if config else ""),
        file=out,
    )
    if native.engine_type() is None:
        print(f"warning: {native.MISSING}", file=err)
    if config is not None and config.bus is not None and not config.feedback_key:
        print(f"warning: {FEEDBACK_KEY_WARNING}", file=err)
    return EXIT_OK


FEEDBACK_KEY_WARNING = (
    "http.feedback_key is not set: on Kafka each host keeps its own key in its state "
    "directory, so a feedback link made by one process is refused by another; set "
    "http.feedback_key (e.g. ${FEEDBACK_KEY} from secrets.env) to one secret for all"
)


class Gathered(NamedTuple):
    """What `gather` read: the config (None if it has problems, or there is none), the rule
    set, the rules directory read and every problem, sorted."""

    config: Config | None
    rule_set: RuleSet
    directory: Path
    problems: list[Problem]


def gather(rules_dir: Path | None, config_path: Path | None) -> Gathered:
    """Read the config and the rules directory and collect every problem of both, sorted by
    file and line: what `check` prints, and what `run` prints when it cannot start."""
    config = None
    problems: list[Problem] = []
    directory = rules_dir or Path("rules")
    environ: Mapping[str, str] = os.environ
    secrets_path = None
    if config_path is not None:
        secrets_path = config_path.parent / SECRETS_FILE
        try:
            config = load_config(os.environ, config_path)
            directory = rules_dir or config.rules_dir
            environ = config.environ
        except ConfigError as exc:
            # The rules are checked all the same: every problem shows in one run.
            problems += exc.problems or [Problem(str(config_path), 0, str(exc))]
            directory = rules_dir or _rules_dir_of(config_path)
            environ = _with_secrets(secrets_path)
    rule_set, rule_problems = read_rules_dir(directory)
    problems += rule_problems + env_problems(rule_set.feeds, environ, secrets_path)
    if config is not None:
        problems += notify_problems(config, rule_set)
    return Gathered(config, rule_set, directory, sorted(problems, key=Problem.sort_key))


def _with_secrets(secrets_path: Path) -> Mapping[str, str]:
    """The environment over secrets.env's values (an unreadable file is a problem already)."""
    try:
        return {**read_secrets(secrets_path), **os.environ}
    except ConfigError:
        return os.environ


def nowhere_hint() -> str:
    """What `check` says when it found neither a config nor a ./rules directory."""
    here = f"--config {CONFIG_NAME} (in this directory), " if Path(CONFIG_NAME).is_file() else ""
    return (
        f"no config was given and there is no ./rules here: name yours with {here}"
        f"--config-dir DIR or {HOME_VAR}=DIR, write a starter directory with `monitor init DIR`, "
        "or give the rules directory: monitor check DIR"
    )


def _rules_dir_of(config_path: Path) -> Path:
    """The rules directory an invalid config names (`rules_dir:`), or its default."""
    data, _ = read_yaml(config_path)
    named = data.get("rules_dir") if isinstance(data, dict) else None
    return config_path.parent / (named if isinstance(named, str) and named.strip() else "rules")
