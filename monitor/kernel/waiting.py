"""Waiting that a shutdown can cut short."""

from __future__ import annotations

import asyncio


async def sleep_or_stop(stop: asyncio.Event, delay_s: float) -> bool:
    """Sleep `delay_s` unless `stop` is set first; return whether it was set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, delay_s))
    except TimeoutError:
        return False
    return True
