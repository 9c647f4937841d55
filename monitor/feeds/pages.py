"""The article pages already read, by canonical URL (in state.db), so that a page is fetched
once however many feeds carry a copy of the item. Bounded: past MAX_PAGES, the oldest go."""

from __future__ import annotations

import sqlite3
import time
from typing import Final

from monitor.feeds.extract import Page
from monitor.store.sqlite import SqliteFile

MAX_PAGES: Final = 20_000  # about 100 MB of text at most: 5 KB a page


class PageCache:
    """Pages read before, by `url_key` (see `monitor.stories.sketch`)."""

    def __init__(self, file: SqliteFile, max_pages: int = MAX_PAGES) -> None:
        self.file = file
        self.max_pages = max_pages

    async def get(self, key: str) -> Page | None:
        """The page read at `key` before, if it is still kept."""
        row = await self.file.run(
            lambda: (
                self.file.conn()
                .execute("SELECT title, text, language FROM pages WHERE url_key = ?", (key,))
                .fetchone()
            )
        )
        return Page(title=row[0], text=row[1], language=row[2]) if row else None

    async def put(self, key: str, page: Page) -> None:
        """Keep a page, and drop the oldest past the bound."""
        now = int(time.time() * 1000)

        def store(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO pages (url_key, fetched_ms, title, text, language) "
                "VALUES (?, ?, ?, ?, ?)",
                (key, now, page.title, page.text, page.language),
            )
            (count,) = db.execute("SELECT COUNT(*) FROM pages").fetchone()
            if count > self.max_pages:
                db.execute(
                    "DELETE FROM pages WHERE url_key IN "
                    "(SELECT url_key FROM pages ORDER BY fetched_ms LIMIT ?)",
                    (count - self.max_pages,),
                )

        await self.file.write(store)
