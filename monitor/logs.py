"""structlog set-up: JSON lines on stderr (readable lines on a TTY), secrets redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"


def make_redactor(secrets: Iterable[str]) -> structlog.types.Processor:
    """A processor that replaces every secret value (URLs, passwords) in string fields."""
    values = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if not values:
            return event
        for key, value in event.items():
            if isinstance(value, str):
                for secret in values:
                    if secret in value:
                        value = value.replace(secret, REDACTED)
                event[key] = value
        return event

    return redact


def configure_logging(
    level: str = "info", *, secrets: Iterable[str] = (), json: bool | None = None
) -> None:
    """Configure structlog for the process. JSON unless stderr is a terminal (or `json` says)."""
    as_json = json if json is not None else not sys.stderr.isatty()
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            make_redactor(secrets),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
