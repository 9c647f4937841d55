"""`monitor run`: the service until SIGINT or SIGTERM, or one pass of it (`--once`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import structlog

from monitor.commands.check import gather
from monitor.commands.common import (
    EXIT_FEEDS_FAILED,
    EXIT_FEEDS_FAILED_AND_UNDELIVERED,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_UNDELIVERED,
    EXIT_USAGE,
)
from monitor.commands.home import config_arguments
from monitor.feeds.request import env_problems, secrets_of
from monitor.kernel.errors import ConfigError, Problem, RuleError, StorageError
from monitor.kernel.logs import configure_logging
from monitor.kernel.text import plural
from monitor.matching.loader import FileCache, load_rules_dir
from monitor.service.config import ROLES, load_config, notify_problems
from monitor.status.web import AddressInUse

if TYPE_CHECKING:
    from monitor.service.app import Service
    from monitor.service.outcome import OnceOutcome

GRACE_S = 8.0  # SIGTERM to exit within 10 s, with room for the interpreter to wind down


EPILOG = """\
exit codes:
  0  ran and stopped cleanly; with --once: every feed read, every alert delivered
     (or held for a digest or quiet hours, as configured)
  1  the config or the rules are invalid, or the listener's port is taken
  2  a state file cannot be used (the message says which and what to do)
  3  --once: a feed's poll failed (the others were read and their alerts sent)
  4  --once: an alert was dead-lettered (`monitor dlq list`) or waits for its channel
  5  --once: both 3 and 4
"""

ONCE_MEANS = {
    EXIT_OK: "every feed read and every alert delivered",
    EXIT_FEEDS_FAILED: "a feed failed",
    EXIT_UNDELIVERED: "an alert was not delivered",
    EXIT_FEEDS_FAILED_AND_UNDELIVERED: "a feed failed and an alert was not delivered",
}


def arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments, and its exit codes after them in `--help`."""
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    config_arguments(parser)
    parser.add_argument("--once", action="store_true", help="poll every feed once, deliver, exit")
    parser.add_argument("--role", choices=ROLES, default="all", help="run one stage (default: all)")


def main(args: argparse.Namespace) -> int:
    """Run the command; return its exit code."""
    return run(args.config, once=args.once, role=args.role)


def run(config_path: Path, *, once: bool, role: str = "all") -> int:
    """Run the service (or one pass of it); exit 1 on invalid config or rules, and after one
    pass 3, 4 or 5 when feeds failed, alerts were not delivered, or both."""
    from monitor.matching.reload import snapshot
    from monitor.service.app import Service
    from monitor.service.feedback import check_feedback_key

    try:
        config = load_config(os.environ, config_path)
        files = FileCache()  # what the reloader reads again only when it changes
        seen = snapshot(config.rules_dir)  # before the read: what changes after, reloads
        rule_set = load_rules_dir(config.rules_dir, files)
        problems = notify_problems(config, rule_set) + env_problems(rule_set.feeds, config.environ)
        check_feedback_key(config)  # a key file others may read stops the start, in words
    except (ConfigError, RuleError) as exc:
        problems = list(exc.problems) or [Problem(str(config_path), 0, str(exc))]
    if problems:
        # Every problem of the config and the rules, sorted: the very list `check` prints.
        for problem in gather(None, config_path).problems or problems:
            print(problem, file=sys.stderr)
        print("monitor did not start: fix the problems above", file=sys.stderr)
        return EXIT_INVALID
    feed_secrets = secrets_of(rule_set.feeds, config.environ)
    configure_logging(config.log_level, secrets=[*config.secrets(), *feed_secrets])
    service = Service(config, rule_set, role=role, files=files, seen=seen)
    code = EXIT_OK
    try:
        if once:
            outcome = asyncio.run(service.run_once())
            code = once_exit_code(outcome)
            log_once_outcome(outcome, code)
        else:
            asyncio.run(serve(service, GRACE_S))
    except TimeoutError:  # before OSError, of which it is a subclass
        # Work still running after the grace period was cancelled; it was not committed, so the
        # next start does it again. Nothing is lost, but say so.
        structlog.get_logger("monitor").warning(
            "stop_forced",
            grace_s=GRACE_S,
            message=f"stopped after {GRACE_S:g}s of grace; unfinished work is done again at the "
            "next start",
        )
    except (OSError, StorageError, ExceptionGroup) as exc:
        storage = first_of(exc, StorageError)
        if storage is not None:  # a state file cannot be used: say which and what to do
            structlog.get_logger("monitor").error(
                "startup_failed", reason=str(storage), message=f"monitor did not start: {storage}"
            )
            return EXIT_USAGE
        failed = first_of(exc, OSError)
        if failed is None:
            raise
        if isinstance(failed, AddressInUse):  # said with what to do, in plain words too
            structlog.get_logger("monitor").error("startup_failed", reason=str(failed))
            print(f"monitor did not start: {failed}", file=sys.stderr)
            return EXIT_INVALID
        reason = f"{type(failed).__name__}: {failed}"
        structlog.get_logger("monitor").error(
            "startup_failed", reason=reason, message=f"monitor did not start: {reason}"
        )
        return EXIT_INVALID
    return code


def once_exit_code(outcome: OnceOutcome) -> int:
    """`run --once`'s exit code: 0 all well, 3 a feed failed, 4 an alert was dead-lettered or
    waits for its channel, 5 both."""
    if outcome.failed_feeds and outcome.undelivered:
        return EXIT_FEEDS_FAILED_AND_UNDELIVERED
    if outcome.failed_feeds:
        return EXIT_FEEDS_FAILED
    return EXIT_UNDELIVERED if outcome.undelivered else EXIT_OK


def log_once_outcome(outcome: OnceOutcome, code: int) -> None:
    """The pass's last line: what it left undone, and what its exit code means (cron reads the
    code; a person the sentence). `run_once_incomplete` (a warning) when something was left."""
    log = structlog.get_logger("monitor")
    if code == EXIT_OK:
        log.info("run_once_done", exit_code=code, message=f"done: {ONCE_MEANS[code]} (exit 0)")
        return
    undone = []
    if outcome.failed_feeds:
        feeds = ", ".join(outcome.failed_feeds)
        undone.append(f"{plural(len(outcome.failed_feeds), 'feed')} failed ({feeds})")
    if outcome.dead_lettered:
        undone.append(
            f"{plural(outcome.dead_lettered, 'alert')} dead-lettered (`monitor dlq list`)"
        )
    if outcome.waiting:
        undone.append(f"{plural(outcome.waiting, 'alert')} waiting for its channel (next run)")
    log.warning(
        "run_once_incomplete",
        failed_feeds=list(outcome.failed_feeds),
        alerts_dead_lettered=outcome.dead_lettered,
        alerts_waiting_for_channel=outcome.waiting,
        exit_code=code,
        message=f"done, with work left: {'; '.join(undone)}; exit {code}: {ONCE_MEANS[code]}",
    )


E = TypeVar("E", bound=BaseException)


def first_of(exc: BaseException, kind: type[E]) -> E | None:
    """`exc` if it is a `kind`, or the first `kind` inside it (task groups wrap failures)."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = first_of(inner, kind)
            if found is not None:
                return found
    return None


async def serve(service: Service, grace_s: float) -> None:
    """Run until SIGINT or SIGTERM; then give the service `grace_s` to finish."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, service.request_reload, "SIGHUP")
    async with asyncio.timeout(None) as deadline, asyncio.TaskGroup() as tg:
        task = tg.create_task(service.run(stop))
        stopped = tg.create_task(stop.wait())
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            deadline.reschedule(loop.time() + grace_s)
        stopped.cancel()
