"""What the commands share: exit codes, and how a report reads the config and the bus."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from monitor.kernel.checks import parse_duration
from monitor.kernel.errors import BusError, ConfigError, StorageError
from monitor.kernel.logs import configure_logging
from monitor.service.config import Config, load_config

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
# `monitor run --once`: what the pass left undone, so that cron can tell.
EXIT_FEEDS_FAILED = 3  # a feed's poll failed (or the feed is disabled)
EXIT_UNDELIVERED = 4  # an alert was dead-lettered, or waits for its channel
EXIT_FEEDS_FAILED_AND_UNDELIVERED = 5  # both
ALLOW_PRIVATE = "also fetch loopback and private addresses a public URL leads to"


def report_logging(config: Config) -> None:
    """Reports print their results on stdout: the bus's log lines go to stderr, warnings only."""
    configure_logging("warning", secrets=config.secrets())


R = TypeVar("R")


def report(config_path: Path, read: Callable[[Config], Coroutine[Any, Any, R]]) -> R | None:
    """Load the config and run a report's reading; None (the reason said) when either fails."""
    try:
        config = load_config(os.environ, config_path, sends=False)
        report_logging(config)
        return asyncio.run(read(config))
    except (ConfigError, BusError, StorageError) as exc:
        print(exc, file=sys.stderr)
        return None


def since_arg(text: str) -> float | None:
    """`--since`: a duration in seconds, or None (the reason said)."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        print(f"--since: {exc}", file=sys.stderr)
        return None
