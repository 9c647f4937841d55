"""structlog set-up: JSON lines on stderr (readable lines on a TTY), secrets redacted.

Everything the process writes to its log goes through the same processors: monitor's own
events, the standard-library logging of the libraries it uses (aiokafka, aiohttp, asyncio), and
uncaught exceptions in any thread. So the stream stays one JSON object a line, and a secret a
library puts in a message is redacted like any other.

On a terminal the lines are for a person: an event that carries a `message` (a sentence:
the status page's address, a feed's failure with its next try, a poll round's summary) reads as
that sentence alone, and every value is one line of printable text, so no escape code or
newline a server put in an error can move the cursor, recolour or split the output. The JSON
lines keep every field (the raw error among them).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from types import TracebackType
from typing import Any

import structlog

from monitor.kernel.redact import REDACTED, use

__all__ = ["REDACTED", "configure_logging", "for_people", "make_redactor"]

_KEPT = ("timestamp", "level", "logger", "exception")  # shown beside an event's sentence
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _visible(text: str) -> str:
    """Control characters and lone surrogates shown as escapes (\\x1b), not obeyed by the
    terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def for_people(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """For the console renderer: an event with a `message` reads as that sentence (with its
    time, level and exception); every string value is made printable (an exception's traceback
    too) and, but the traceback, one line."""
    message = event.pop("message", None)
    if isinstance(message, str):
        event = {k: v for k, v in event.items() if k in _KEPT} | {"event": message}
    for key, value in event.items():
        if isinstance(value, str):
            # a traceback keeps its lines; its text (the exception's message) is still escaped
            text = value if key == "exception" else " ".join(value.splitlines())
            event[key] = _visible(text)
    return event


def make_redactor(secrets: Iterable[str]) -> structlog.types.Processor:
    """A processor that replaces every secret value (URLs, passwords) in string fields, and
    makes them those `monitor.kernel.redact.redact` hides everywhere else in the process."""
    redactor = use(secrets)

    def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if not redactor.values:
            return event
        for key, value in event.items():
            if isinstance(value, str):
                event[key] = redactor(value)
        return event

    return redact


def configure_logging(
    level: str = "info", *, secrets: Iterable[str] = (), json: bool | None = None
) -> None:
    """Configure structlog for the process. JSON unless stderr is a terminal (or `json` says)."""
    as_json = json if json is not None else not sys.stderr.isatty()
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if as_json else _console()
    )
    redact = make_redactor(secrets)
    numeric_level = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _route_stdlib_logging(numeric_level, redact, renderer)
    _route_uncaught_exceptions()


def _console() -> structlog.types.Processor:
    """The terminal's renderer: `for_people`, then structlog's readable lines (in colour unless
    NO_COLOR is set, https://no-color.org)."""
    console = structlog.dev.ConsoleRenderer(colors=not os.environ.get("NO_COLOR"))

    def render(logger: Any, name: str, event: MutableMapping[str, Any]) -> str:
        return str(console(logger, name, for_people(logger, name, event)))

    return render


def _route_stdlib_logging(
    level: int, redact: structlog.types.Processor, renderer: structlog.types.Processor
) -> None:
    """Send the standard library's log records (the libraries') through the same chain."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None, where: str
) -> None:
    structlog.get_logger("monitor").critical(
        "uncaught_exception", where=where, exc_info=(kind, value, tb)
    )


def _route_uncaught_exceptions() -> None:
    """An exception no code caught (in the main thread or another) is logged as one event."""

    def main_hook(
        kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        _log_uncaught(kind, value, tb, "main")

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            name = args.thread.name if args.thread is not None else "?"
            _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback, f"thread {name}")

    sys.excepthook = main_hook
    threading.excepthook = thread_hook
