"""The `monitor` commands: one module each, and the registry that lists them.

A command module has `arguments(parser)`, which declares its arguments, and `main(args)`, which
runs it and returns the exit code. It is imported only when its command runs (or its help is
asked for), so `monitor check` does not load the bus and HTTP clients that `monitor run` needs.
A new command is one module here and one line in `COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from typing import Protocol


class CommandModule(Protocol):
    """What a command's module offers."""

    def arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the command's arguments."""

    def main(self, args: argparse.Namespace) -> int:
        """Run the command; return its exit code."""


@dataclass(frozen=True, slots=True)
class Command:
    """A command: its name on the command line, its one-line help, and its module's name."""

    name: str
    help: str
    module: str

    def load(self) -> CommandModule:
        """The command's module (imported now)."""
        module: CommandModule = importlib.import_module(f"monitor.commands.{self.module}")
        return module


COMMANDS = (
    Command("init", "write a starter config directory: monitor.yaml, rules/, secrets.env", "init"),
    Command("check", "validate a rules directory; exit 1 on any problem", "check"),
    Command("run", "run the monitor until SIGINT or SIGTERM", "run"),
    Command("demo", "the monitor on bundled sample feeds, offline: an alert in seconds", "demo"),
    Command(
        "backtest",
        "what would these rules have caught in the stored articles? (sends nothing)",
        "backtest",
    ),
    Command("shadow-report", "what shadow rules would have alerted", "shadow"),
    Command(
        "stories", "list the stories: the copies of each report, their feeds and rules", "stories"
    ),
    Command("dlq", "list, retry or drop the alerts that could not go out", "dlq"),
    Command("feedback", "list, add, export or report the verdicts on alerts", "feedback"),
    Command(
        "preview", "print what each channel would send for a rule's match; send nothing", "preview"
    ),
    Command(
        "extract",
        "print the title, language and main text the matcher would see for pages",
        "extract",
    ),
    Command("feeds", "add, import, export or test feeds", "feeds"),
    Command("match", "dry run: show which rules match the given files", "match"),
)
