"""The errors monitor raises, one tree with a `retriable` flag on each class.

    MonitorError
     ├── ConfigError        monitor.yaml is missing, unreadable or invalid
     ├── RuleError          a rules directory holds invalid files (carries every problem)
     ├── InputError         an input file (for `monitor match`) cannot be read
     ├── FeedFetchError     a feed could not be fetched (retriable unless the server said no)
     ├── FeedParseError     a feed's body is not a feed
     ├── MatchCutOff        matching one article ran past its time budget
     ├── DeliveryError      an alert could not be delivered (retriable on 5xx, 429, timeouts)
     ├── BusError           the bus could not take or give records (retriable)
     ├── StorageError       a state file cannot be opened: unwritable, corrupted or foreign
     └── StorageFull        the disk holding a state file is full (retriable)

Retry code reads `retriable` instead of listing classes.
"""

from __future__ import annotations

import os.path
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.kernel.neterrors import NetProblem
from monitor.kernel.redact import redact

EXCERPT_CHARS = 60


def excerpt(value: object, limit: int = EXCERPT_CHARS, *, quote: bool = True) -> str:
    """A value as an error message may quote it: its repr (or, unquoted, the text of a
    string), cut to `limit` characters.

    Messages about a user's files must not echo a whole file (a string where a mapping was
    expected may be anything, read from anywhere) into logs, metrics and HTTP answers.
    """
    text = repr(value) if quote or not isinstance(value, str) else value
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file the user edits, located as `FILE:LINE: message` (or
    `FILE:LINE:COLUMN:` when the column is known, as for YAML syntax errors)."""

    path: str
    line: int
    message: str
    column: int = 0  # 1-based; 0 when only the line is known

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line > 0 else self.path
        if self.line > 0 and self.column > 0:
            where += f":{self.column}"
        return f"{where}: {self.message}"

    def sort_key(self) -> tuple[str, int, int, str]:
        """The order problems are shown in: by file, then line, then column."""
        return (self.path, self.line, self.column, self.message)

    def shown_from(self, root: str) -> str:
        """The problem as HTTP answers show it: its path relative to `root` (the rules
        directory), so no absolute path of the host leaves it."""
        path = os.path.relpath(self.path, root) if os.path.isabs(self.path) else self.path
        if path.startswith(".."):
            path = os.path.basename(self.path)
        return str(Problem(path, self.line, self.message, self.column))


class MonitorError(Exception):
    """Root of every error monitor raises on purpose."""

    retriable = False


class ConfigError(MonitorError):
    """The service configuration is invalid; `problems` lists each one when they are known."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


class RuleError(MonitorError):
    """A rules directory holds invalid files; `problems` lists each one."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class InputError(MonitorError):
    """An input file cannot be read as an article or a feed."""


class FeedFetchError(MonitorError):
    """A feed could not be fetched.

    `result` names the outcome for metrics: network_error, http_error, too_large or gone (the
    only one that is not retriable); `retry_after_s` is what the server asked us to wait;
    `problem`, the network or HTTP failure worded for people (host, reason, errno, raw error).
    """

    def __init__(
        self,
        message: str,
        *,
        result: str = "network_error",
        retry_after_s: float | None = None,
        problem: NetProblem | None = None,
    ) -> None:
        super().__init__(redact(message))  # a server may echo the token it was sent
        self.result = result
        self.retriable = result != "gone"
        self.retry_after_s = retry_after_s
        self.problem = problem


class FeedParseError(MonitorError):
    """A feed's body could not be read as a feed."""


class MatchCutOff(MonitorError):
    """Matching one article took longer than its budget, and was stopped."""


class DeliveryError(MonitorError):
    """An alert could not be delivered to a channel; `retry_after_s` is what it asked us to wait."""

    def __init__(
        self, message: str, *, retriable: bool, retry_after_s: float | None = None
    ) -> None:
        super().__init__(redact(message))  # a server may echo the secret URL it was sent
        self.retriable = retriable
        self.retry_after_s = retry_after_s


class BusError(MonitorError):
    """The bus failed to publish, fetch or commit; the work will be retried."""

    retriable = True


class StorageError(MonitorError):
    """A state file cannot be used; the message names it and says what to do."""


class StorageFull(MonitorError):
    """A write failed because the disk is full; it is retried once space returns."""

    retriable = True
