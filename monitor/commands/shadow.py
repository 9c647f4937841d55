"""`monitor shadow-report`: what the shadow rules would have alerted."""

from __future__ import annotations

import argparse
import sys
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
    pass


def arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    config_arguments(parser)
    parser.add_argument("--since", default="1d", help="how far back (default 1d)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")


def main(args: argparse.Namespace) -> int:
    """Run the command; return its exit code."""
    return shadow_command(args.config, args.since, as_json=args.json)


def shadow_command(config_path: Path, since: str, *, as_json: bool) -> int:
    """`monitor shadow-report`: exit 0 when it ran, 2 on invalid input."""
    from monitor.commands import reports

    since_s = since_arg(since)
    if since_s is None:
        return EXIT_USAGE
    found = report(config_path, lambda config: reports.shadow_report(config, since_s=since_s))
    if found is None:
        return EXIT_USAGE
    reports.print_found(
        found, as_json=as_json, label=f"shadow matches over {since}", out=sys.stdout
    )
    return EXIT_OK
