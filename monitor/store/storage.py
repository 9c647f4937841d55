"""The health of the service's state files: whether a full disk must pause new work, and
whether the state store lost the history the local bus still holds.

A full disk pauses (the poller polls nothing, the matcher and dispatcher take no batch) until
it has room again, then everything resumes by itself: nothing was committed that was not done.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from monitor.kernel.errors import StorageError
from monitor.kernel.text import plural
from monitor.store.sqlite import SqliteFile

log = structlog.get_logger("monitor.storage")


class StorageHealth:
    """Watches a process's SQLite files (state.db, and bus.db on the local bus)."""

    def __init__(self, files: Sequence[SqliteFile]) -> None:
        self.files = tuple(files)

    def full(self) -> list[str]:
        """The files whose disk is full and still has no room."""
        return [str(f.path) for f in self.files if f.full and not f.has_room()]

    def paused(self) -> bool:
        """Whether new work must wait for room on a disk."""
        return bool(self.full())


async def check_history(state: SqliteFile, bus: SqliteFile) -> None:
    """Refuse to start on a state store that lost its history while the local bus kept its
    own: every article on the bus would be published and alerted again. A bus that lost its
    own history only empties backtests: that is said, not refused."""
    if state.created and not bus.created:
        records = await bus.scalar("SELECT count(*) FROM records")
        if records:
            raise StorageError(
                f"{state.path} is new or was emptied, but {bus.path} holds "
                f"{plural(records, 'record')}: "
                f"starting would alert old articles again. Restore {state.path.name} from a "
                f"backup; or, to start anew on purpose, move {bus.path.name} aside as well"
            )
    if bus.created and not state.created:
        log.warning(
            "bus_history_missing",
            detail=f"{bus.path} is new or was emptied: backtests find nothing before now",
        )
