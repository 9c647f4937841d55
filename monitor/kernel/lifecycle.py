"""The async context manager every resource with start() and stop() shares."""

from __future__ import annotations

from typing import Self


class Resource:
    """`async with resource:` runs `start()` on entry and `stop()` on exit."""

    async def start(self) -> None:
        """Open; idempotent."""

    async def stop(self) -> None:
        """Close; idempotent."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
