"""The `monitor` command line: one subcommand per entry of `monitor.commands.COMMANDS`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from monitor import __version__
from monitor.commands import COMMANDS
from monitor.commands.home import settle_config

EXIT_USAGE = 2  # as monitor.commands.common's, which this light module does not import

DESCRIPTION = "The `monitor` command: check, match, run, backtest, shadow-report, stories."


def _parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser; the arguments of `chosen` only (of every command when None)."""
    parser = argparse.ArgumentParser(prog="monitor", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help)
        if chosen is None or command.name == chosen:
            command.load().arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    names = {c.name: c for c in COMMANDS}
    chosen = next((w for w in words if not w.startswith("-")), None)
    if chosen not in names:  # argparse says what is wrong, with every command listed
        _parser("").parse_args(words)
        return 2
    args = _parser(chosen).parse_args(words)
    if hasattr(args, "config_dir"):  # the command reads a config: which one, and is it there?
        missing = settle_config(args)
        if missing is not None:
            print(missing, file=sys.stderr)
            return EXIT_USAGE
    return names[args.command].load().main(args)
