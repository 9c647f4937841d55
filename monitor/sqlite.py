"""An SQLite file used from asyncio: one connection, one dedicated thread, WAL, full sync."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class SqliteFile:
    """Runs every call on one thread, so the loop never blocks and SQLite sees one thread."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        self.schema = schema
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    async def start(self) -> None:
        """Open (and create) the file; idempotent."""
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"sqlite-{self.path.stem}"
        )
        await self.run(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=10000")
        db.executescript(self.schema)
        self._db = db

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
        """Run `fn` in one immediate transaction."""

        def transaction() -> None:
            db = self.conn()
            with db:
                db.execute("BEGIN IMMEDIATE")
                fn(db)

        await self.run(transaction)

    async def scalar(self, sql: str, params: tuple[object, ...] = ()) -> int:
        """Run a query that returns one number."""
        return await self.run(lambda: int(self.conn().execute(sql, params).fetchone()[0] or 0))
