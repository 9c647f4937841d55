"""Hostile stored articles for `monitor backtest`: 100 copies of one report among records that
do not decode are one story of 100 articles, listed once, and the run reads them all."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from monitor.bus.base import ARTICLES
from monitor.bus.local import LocalBus
from tests.commands.test_backtest import RULE, SEED_COPIES, article, backtest, stored

pytestmark = pytest.mark.timeout(120)


def test_a_hundred_copies_and_junk_are_one_story(tmp_path: Path) -> None:
    """100 copies (other outlets, other URLs) fold into the seed's story; junk is skipped."""
    copies = [
        article(f"copy-{n}", feed=f"outlet-{n}", url=f"https://o{n}.example/cis") for n in range(99)
    ]
    config = stored(tmp_path, [SEED_COPIES[0], *copies])

    async def junk() -> None:
        async with LocalBus(tmp_path / "state" / "bus.db") as bus:
            await bus.publish(ARTICLES, [("bad", b"\xff{not json"), ("deep", b"[" * 100_000)])

    asyncio.run(junk())
    done = backtest(config)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"MATCH {RULE}") == 1
    assert "99 copies folded into this story:" in done.stdout
    assert "100 matches of 100 articles in 1 story" in done.stdout
    end = json.loads(backtest(config, "--json").stdout.splitlines()[-1])
    assert [len(s["articles"]) for s in end["stories"]] == [100]
