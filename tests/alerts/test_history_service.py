"""The alert history and silences through the service: `monitor run --once` as a subprocess
on the local bus, a real feed server and webhook receiver, state.db read between runs."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from monitor.alerts.history import AlertHistory, LocalHistoryStore
from monitor.alerts.mutes import LocalSilences, Mutes
from monitor.kernel.console import Who
from monitor.store.state import StateStore
from tests.support.processes import ServiceRig, service_rig
from tests.support.servers import rss

WATCHES = (
    "rules:\n"
    "  - {id: quake, match: {any: [earthquake]}}\n"
    "  - {id: trial, mode: shadow, match: {any: [flood]}}\n"
)


async def run_once(rig: ServiceRig) -> None:
    proc = await rig.monitor.start("--once")
    assert 0 == await asyncio.wait_for(proc.wait(), timeout=60), rig.monitor.stderr()[-2000:]


async def history(tmp_path: Path, **query: Any) -> list[dict[str, Any]]:
    async with StateStore(tmp_path / "state") as state:
        return await AlertHistory(LocalHistoryStore(state)).search(**query)


async def test_history_survives_a_restart_and_a_mute_silences_the_next_run(
    tmp_path: Path,
) -> None:
    """Run: the alert is sent and kept, the shadow match listed under its watch. Stop, mute
    the watch in state.db, start again with a new matching article: the history still lists
    the first alert, the new one is kept as muted and nothing more is sent."""
    feeds = {"news": rss("Earthquake hits the coast", "Flood warning upriver")}
    async with service_rig(tmp_path, feeds, WATCHES, ServiceRig) as rig:
        await run_once(rig)
        assert [("quake", "Earthquake hits the coast")] == rig.alerted()
        (sent,) = await history(tmp_path, watch="quake")
        assert ("sent", "delivered") == (sent["state"], sent["channels"]["hook"]["state"])
        (would,) = await history(tmp_path, watch="trial")
        assert ("shadow", "Flood warning upriver") == (would["state"], would["title"])

        async with StateStore(tmp_path / "state") as state:
            who = Who(address="127.0.0.1", via="loopback")
            until = int(time.time() * 1000) + 3_600_000
            await Mutes(LocalSilences(state)).mute("quake", until, "drill tonight", who)
        rig.feeds.feeds["news"] = rss(
            "Earthquake hits the coast", "Flood warning upriver", "Second earthquake inland"
        )
        await run_once(rig)
        assert 1 == len(rig.receiver.received), rig.alerted()
        entries = await history(tmp_path, watch="quake")
        assert ["muted", "sent"] == [e["state"] for e in entries]
        assert "drill tonight" in entries[0]["channels"]["hook"]["reason"]
        assert entries[1] == sent  # the first alert, as kept before the restart
        assert "alert_muted" in rig.monitor.stderr() + rig.monitor.stdout()
        logged = rig.monitor.stderr() + rig.monitor.stdout()
        assert json.dumps("drill tonight")[1:-1] in logged
