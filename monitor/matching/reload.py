"""Hot reload: watch the rules directory, and swap in a new rule set only when it is valid.

The watcher compares a snapshot of the files (name, size, mtime, inode) every `interval_s`, so
editors that save by renaming a temporary file, by truncating and writing, or in a burst are all
seen. After a change it waits until the files hold still for `settle_s` (no half-written file is
read), then reloads. A reload reads, validates and compiles away from the event loop; a bad edit
keeps the last good rule set in force, and says why (log, /readyz, metrics).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from monitor.feeds.spec import FeedSpec
from monitor.kernel.errors import Problem
from monitor.kernel.metrics import Metrics
from monitor.kernel.text import plural
from monitor.kernel.waiting import sleep_or_stop
from monitor.matching.compiler import compile_rules
from monitor.matching.loader import ENTITIES_DIR, FileCache, read_rules_dir
from monitor.matching.rulebook import RuleBook
from monitor.matching.spec import RuleSet

log = structlog.get_logger("monitor.reload")

Snapshot = dict[str, tuple[int, int, int]]


def snapshot(rules_dir: Path) -> Snapshot:
    """Size, mtime and inode of every file a reload would read."""
    found: Snapshot = {}
    for directory in (rules_dir, rules_dir / ENTITIES_DIR):
        try:
            entries = list(directory.iterdir())
        except OSError:
            continue
        for path in entries:
            if path.suffix not in (".yaml", ".yml"):
                continue
            try:
                st = path.stat()
            except OSError:  # deleted between listing and stat: the next scan sees it gone
                continue
            found[str(path)] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return found


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What a reload did."""

    ok: bool
    rules: int
    problems: tuple[Problem, ...] = ()


def _retrieve(future: asyncio.Future[ReloadResult]) -> None:
    """Mark a failed shared reload's exception seen: its first caller has it raised."""
    if not future.cancelled():
        future.exception()


class Reloader:
    """Loads the rules directory and puts it in force when it is valid."""

    def __init__(
        self,
        rules_dir: Path,
        book: RuleBook,
        metrics: Metrics,
        *,
        extra_checks: Callable[[RuleSet], list[Problem]] = lambda _: [],
        on_feeds: Callable[[Sequence[FeedSpec]], None] | None = None,
        files: FileCache | None = None,
        seen: Snapshot | None = None,
    ) -> None:
        self.rules_dir = rules_dir
        # The files as they stood before the rules in force were read (start-up): a change
        # made after that is reloaded, even one made before the watcher first looks.
        self._seen = seen
        # The files as last read (the start-up read's, if given): only changed ones are read.
        self.files = FileCache() if files is None else files
        self.book = book
        self.metrics = metrics
        self.extra_checks = extra_checks
        self.on_feeds = on_feeds
        self.problems: tuple[Problem, ...] = ()
        self._lock = asyncio.Lock()
        self._pending: asyncio.Future[ReloadResult] | None = None

    def loaded(self, rule_set: RuleSet) -> None:
        """Record the rule set the service started with as the last good load."""
        self.metrics.rules_last_success.set(time.time())
        self.metrics.rules_stale.set(0)
        self.metrics.rules_loaded.set(sum(1 for r in rule_set.rules if r.enabled))

    async def reload(self, reason: str) -> ReloadResult:
        """Validate, compile and swap in the rules on disk; on any problem keep the old ones.

        Requests coalesce: at most one reload runs and one waits. A request made while one is
        waiting shares that one's result (it will read the files as they are then), so a burst
        of POSTs or signals costs two reloads, not one each.
        """
        if self._pending is not None:
            return await asyncio.shield(self._pending)
        pending = self._pending = asyncio.get_running_loop().create_future()
        pending.add_done_callback(_retrieve)
        try:
            async with self._lock:
                self._pending = None  # running now: the next request waits behind it
                result = await self._reload(reason)
        except BaseException as exc:
            if self._pending is pending:
                self._pending = None
            if pending.done():
                pass
            elif isinstance(exc, asyncio.CancelledError):
                pending.cancel()
            else:
                pending.set_exception(exc)
            raise
        pending.set_result(result)
        return result

    async def _reload(self, reason: str) -> ReloadResult:
        try:
            rule_set, problems = await asyncio.to_thread(read_rules_dir, self.rules_dir, self.files)
            problems += self.extra_checks(rule_set)
            compiled = None if problems else await asyncio.to_thread(compile_rules, rule_set)
        except Exception as exc:
            # A fault of ours on these files (they passed every check we have): the old rules
            # stay, and the failure shows where rule problems show, not as a crash.
            log.exception("rules_reload_crashed", reason=reason)
            problems = [
                Problem(
                    str(self.rules_dir),
                    0,
                    f"reload failed: {type(exc).__name__} (the log has the details)",
                )
            ]
            compiled = None
        if compiled is None:
            self.problems = tuple(problems)
            self.metrics.rules_reload.labels("error").inc()
            self.metrics.rules_stale.set(1)
            kept, said = len(self.book.compiled.rules), [str(p) for p in problems]
            more = f" and {len(said) - 3} more" if len(said) > 3 else ""
            log.error(
                "rules_reload_failed",
                reason=reason,
                problems=said,
                kept_rules=kept,
                message=f"rules not reloaded ({reason}), the previous "
                f"{plural(kept, 'watch', 'watches')} stay in force: {'; '.join(said[:3])}{more}",
            )
            return ReloadResult(False, len(self.book.compiled.rules), self.problems)
        self.book.swap(compiled)
        self.problems = ()
        self.metrics.rules_reload.labels("ok").inc()
        self.loaded(rule_set)
        self.metrics.entities_loaded.set(len(rule_set.entities))
        self.metrics.feeds_loaded.set(sum(1 for f in rule_set.feeds if f.enabled))
        if self.on_feeds is not None:
            self.on_feeds(rule_set.feeds)
        rules, feeds = len(compiled.rules), len(rule_set.feeds)
        log.info(
            "rules_reloaded",
            reason=reason,
            rules=rules,
            feeds=feeds,
            message=f"rules reloaded ({reason}): {plural(rules, 'watch', 'watches')} on "
            f"{plural(feeds, 'feed')}",
        )
        return ReloadResult(True, len(compiled.rules))

    async def watch(
        self, stop: asyncio.Event, *, interval_s: float = 0.1, settle_s: float = 0.3
    ) -> None:
        """Reload after every change to the files, once they hold still, until `stop`."""
        last = self._seen
        if last is None:
            last = await asyncio.to_thread(snapshot, self.rules_dir)
        while not await sleep_or_stop(stop, interval_s):
            current = await asyncio.to_thread(snapshot, self.rules_dir)
            if current == last:
                continue
            while True:  # debounce: a burst of saves, or a file still being written
                if await sleep_or_stop(stop, settle_s):
                    return
                settled = await asyncio.to_thread(snapshot, self.rules_dir)
                if settled == current:
                    break
                current = settled
            last = current
            try:
                await self.reload("files changed")
            except Exception:  # the watcher's top-level loop: the old rules stay; say why
                self.metrics.rules_reload.labels("error").inc()
                self.metrics.rules_stale.set(1)
                log.exception("rules_reload_crashed")
