"""An SQLite file used from asyncio: one connection, one dedicated thread, WAL, full sync.

A file that cannot be used at start (a directory that cannot be written, a corrupted file, another
program's database) is a `StorageError` that names it and says what to do. A write that finds
the disk full is a `StorageFull`, and the file says it is `full` until a write succeeds again or
its disk has room (`has_room`): the service pauses new work meanwhile instead of failing it.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from monitor.kernel.errors import StorageError, StorageFull

T = TypeVar("T")

# PRAGMA application_id of monitor's files ("mon1"): another program's database is refused.
APPLICATION_ID = 0x6D6F6E31
_TABLE_RE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", re.IGNORECASE)
# Free space a full disk must have again before work resumes.
ROOM_BYTES = 4 * 1024 * 1024


class SqliteFile:
    """Runs every call on one thread, so the loop never blocks and SQLite sees one thread."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        self.schema = schema
        self.created = False  # the file held none of its tables when opened
        self.full = False
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    async def start(self) -> None:
        """Open (and create) the file; idempotent. Raise StorageError if it cannot be used."""
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"sqlite-{self.path.stem}"
        )
        try:
            await self.run(self._open)
        except BaseException:
            executor, self._executor = self._executor, None
            executor.shutdown(wait=False)
            raise

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create the state directory {self.path.parent} ({exc.strerror}): "
                "create it, writable by the user running monitor, or set state_dir"
            ) from exc
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA busy_timeout=10000")
            self._check_ours(db)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(self.schema)
            db.execute(f"PRAGMA application_id={APPLICATION_ID}")
        except (sqlite3.Error, StorageError) as exc:
            if db is not None:
                db.close()
            if isinstance(exc, StorageError):
                raise
            raise StorageError(self._describe(exc)) from exc
        self._db = db

    def _check_ours(self, db: sqlite3.Connection) -> None:
        """Refuse another program's database; note whether this one is new (or emptied)."""
        app_id = int(db.execute("PRAGMA application_id").fetchone()[0])
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        ours = set(_TABLE_RE.findall(self.schema))
        foreign = app_id not in (0, APPLICATION_ID) or (
            app_id == 0 and bool(tables) and not tables & ours
        )
        if foreign:
            raise StorageError(
                f"{self.path} is another program's SQLite database, not monitor's: "
                "move it aside, or set state_dir to a directory of monitor's own"
            )
        self.created = not tables & ours

    def _describe(self, exc: sqlite3.Error) -> str:
        code = getattr(exc, "sqlite_errorcode", None)
        if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
            return (
                f"{self.path} is not a readable database ({exc}): it is corrupted. Restore it "
                "from a backup, or move it aside to start anew"
            )
        if code == sqlite3.SQLITE_FULL:
            return f"no space left on the disk of {self.path}: free some and start again"
        return (
            f"cannot open {self.path} for writing ({exc}): make it and {self.path.parent} "
            "writable by the user running monitor"
        )

    async def stop(self) -> None:
        """Close the file; idempotent."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        db, self._db = self._db, None
        if db is not None:
            await asyncio.get_running_loop().run_in_executor(executor, db.close)
        executor.shutdown(wait=True)

    @property
    def is_open(self) -> bool:
        """Whether the file is open."""
        return self._db is not None

    def has_room(self) -> bool:
        """Whether the file's disk has room again (a full disk is checked, not written to)."""
        try:
            return shutil.disk_usage(self.path.parent).free >= ROOM_BYTES
        except OSError:
            return False

    def conn(self) -> sqlite3.Connection:
        """The connection; only for functions passed to `run`."""
        if self._db is None:
            raise RuntimeError(f"{self.path} is not open")
        return self._db

    async def run(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the file's thread."""
        if self._executor is None:
            raise RuntimeError(f"{self.path} is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def write(self, fn: Callable[[sqlite3.Connection], object]) -> None:
        """Run `fn` in one immediate transaction; a full disk raises StorageFull."""

        def transaction() -> None:
            db = self.conn()
            with db:
                db.execute("BEGIN IMMEDIATE")
                fn(db)

        try:
            await self.run(transaction)
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_FULL:
                raise
            self.full = True
            raise StorageFull(f"the disk of {self.path} is full: {exc}") from exc
        self.full = False

    async def scalar(self, sql: str, params: tuple[object, ...] = ()) -> int:
        """Run a query that returns one number."""
        return await self.run(lambda: int(self.conn().execute(sql, params).fetchone()[0] or 0))
