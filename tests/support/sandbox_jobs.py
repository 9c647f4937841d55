"""Jobs for the sandbox tests: module-level, so a worker process can import them."""

from __future__ import annotations

import os
import time


def echo(value: object) -> object:
    """The value back."""
    return value


def pid() -> int:
    """The worker's process id."""
    return os.getpid()


def spin(seconds: float) -> int:
    """Burn CPU for `seconds` (a page that runs away), then the worker's process id."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return os.getpid()


def spin_telling(path: str, seconds: float) -> int:
    """Write the worker's process id to `path`, then spin."""
    with open(path, "w") as out:
        out.write(str(os.getpid()))
    return spin(seconds)


def hog(megabytes: int) -> int:
    """Hold `megabytes` of memory at once, then its size."""
    block = bytearray(megabytes * 1024 * 1024)
    return len(block)


def fail(message: str) -> None:
    """Raise, as an extractor bug would."""
    raise ValueError(message)


def die() -> None:
    """End the worker process abruptly, as a crash in C code would."""
    os._exit(3)
