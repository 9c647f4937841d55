"""The alert history and the silences on the local store (state.db), with a real dispatcher
sending to a real webhook receiver."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from monitor.alerts.board import RecentAlerts
from monitor.alerts.history import (
    HISTORY_MAX,
    AlertHistory,
    LocalHistoryStore,
    prune_history,
)
from monitor.alerts.mutes import LocalSilences, Mutes, parse_until
from monitor.bus.base import MATCHES, Record
from monitor.kernel.console import ActionRefused, Who
from monitor.kernel.models import MatchedArticle
from monitor.store.state import StateStore
from tests.alerts.test_dispatch import Rig, record, rig

__all__ = ["rig"]
WHO = Who(address="127.0.0.1", via="loopback", agent="test")
NOW_MS = 1_750_000_000_000


def shadow(rule: str = "s1", article_id: str = "a9") -> Record:
    """A shadow watch's match."""
    matched = MatchedArticle.from_bytes(record(rule, article_id).value)
    value = replace(matched, match=replace(matched.match, mode="shadow")).to_bytes()
    return Record(MATCHES, 0, 9, f"{rule}:{article_id}", value, 0)


async def wired(rig: Rig) -> tuple[AlertHistory, Mutes, RecentAlerts]:
    history = AlertHistory(LocalHistoryStore(rig.state))
    recent = RecentAlerts()
    await history.attach(recent)
    mutes = Mutes(LocalSilences(rig.state))
    return history, mutes, recent


async def test_settled_and_shadow_alerts_are_kept_and_read_by_a_new_process(rig: Rig) -> None:
    """A delivered alert and a shadow match are in state.db's history with their channel
    states; a fresh store (a restart) lists them, by watch and time, and seeds the page."""
    history, mutes, recent = await wired(rig)
    dispatcher = replace_parts(rig, history, mutes, recent)
    await dispatcher.handle([record("r1", "a1"), shadow("s1", "a9")])
    await history.drain()
    assert 1 == len(rig.receiver.received)

    again = AlertHistory(LocalHistoryStore(rig.state))
    entries = await again.search()
    assert ["sent", "shadow"] == sorted(e["state"] for e in entries)
    (sent,) = await again.search(watch="r1")
    assert {"hook": {"state": "delivered", "reason": ""}} == sent["channels"]
    assert ("live", "high", "world") == (sent["mode"], sent["severity"], sent["feed"])
    assert sent["title"].startswith("CIS ministers")
    assert sent["evidence"][0].startswith("term 'CIS' in title")
    (would,) = await again.search(watch="s1")
    assert ("shadow", "shadow") == (would["mode"], would["state"])
    assert ("a1", "a9") == (sent["article"], would["article"])  # "make a watch like this"
    assert [] == await again.search(since_ms=int(time.time() * 1000) + 60_000)
    assert [] == await again.search(until_ms=0)
    assert 1 == len(await again.search(limit=1))

    seeded = RecentAlerts()
    await again.attach(seeded)
    ((only),) = seeded.newest_first()  # the shadow match is no alert on the page
    assert ("r1", {"hook": ("delivered", "")}) == (only.rule_id, dict(only.channels))
    assert "a1" == only.article


def replace_parts(rig: Rig, history: AlertHistory, mutes: Mutes, recent: RecentAlerts):  # type: ignore[no-untyped-def]
    dispatcher = rig.dispatcher()
    dispatcher.history, dispatcher.silences, dispatcher.recent = history, mutes, recent
    return dispatcher


async def test_a_muted_watch_is_not_sent_but_kept_counted_and_logged(rig: Rig) -> None:
    """While muted: nothing sent, the history says muted with the reason, the metric and the
    log say so; after unmute a new article alerts normally."""
    history, mutes, recent = await wired(rig)
    dispatcher = replace_parts(rig, history, mutes, recent)
    until = int(time.time() * 1000) + 3_600_000
    silence = await mutes.mute("r1", until, "  night shift  ", WHO)
    assert ("night shift", WHO.to_dict()) == (silence.reason, silence.who)
    other = Mutes(LocalSilences(rig.state))  # another reader of the store sees it
    assert ["r1"] == [s.rule_id for s in await other.active()]
    with capture_logs() as logs:
        await dispatcher.handle([record("r1", "a1")])
    await history.drain()
    assert [] == rig.receiver.received
    assert 1.0 == rig.alerts("hook", "muted")
    assert any(e["event"] == "alert_muted" and e["rule"] == "r1" for e in logs)
    (entry,) = await history.search(watch="r1")
    assert "muted" == entry["state"]
    assert "night shift" in entry["channels"]["hook"]["reason"]
    assert [] == recent.newest_first()

    assert silence == await mutes.unmute("r1", WHO)
    assert None is await mutes.unmute("r1", WHO)
    await mutes.refresh(force=True)
    await dispatcher.handle([record("r1", "a2", offset=2)])
    assert 1 == len(rig.receiver.received)
    await history.drain()
    assert ["sent", "muted"] == [e["state"] for e in await history.search(watch="r1")]


async def test_a_silence_ends_by_itself_and_is_replaced_by_a_new_one(rig: Rig) -> None:
    """Expiry on the clock; a second mute replaces the first; active lists soonest first;
    a time not ahead or beyond 90 days is refused."""
    now = [NOW_MS / 1000]
    mutes = Mutes(LocalSilences(rig.state), clock=lambda: now[0])
    await mutes.mute("r1", NOW_MS + 1000, "a", WHO)
    await mutes.mute("r2", NOW_MS + 5000, "b", WHO)
    await mutes.mute("r1", NOW_MS + 9000, "c", WHO)
    assert ["r2", "r1"] == [s.rule_id for s in await mutes.active()]
    assert "c" == (mutes.muted("r1") or pytest.fail("muted")).reason
    now[0] += 6
    assert (None, True) == (mutes.muted("r2"), mutes.muted("r1") is not None)
    now[0] += 4
    assert mutes.muted("r1") is None
    for until in (NOW_MS, NOW_MS + 91 * 86_400_000):
        with pytest.raises(ActionRefused) as refused:
            await mutes.mute("r3", until + 10_000, "x", WHO)
        assert 422 == refused.value.status


async def test_real_clock_active_drops_ended_silences(rig: Rig) -> None:
    """A silence whose end passed is not active, nor read from the table."""
    mutes = Mutes(LocalSilences(rig.state))
    now = int(time.time() * 1000)
    await mutes.mute("soon", now + 150, "", WHO)
    await mutes.mute("later", now + 60_000, "", WHO)
    assert ["soon", "later"] == [s.rule_id for s in await mutes.active()]
    await asyncio.sleep(0.2)
    assert ["later"] == [s.rule_id for s in await mutes.active()]


async def test_a_held_alert_sent_later_is_amended_in_the_history(rig: Rig) -> None:
    """An entry gone from the page's list (a restart) still takes its channel's new state."""
    history = AlertHistory(LocalHistoryStore(rig.state))
    recent = RecentAlerts(journal=history)
    matched = MatchedArticle.from_bytes(record("r1", "a1").value)
    from monitor.kernel.models import Alert

    alert = Alert.for_channel(matched, "hook", None)
    recent.settled(alert, "held", "digest", int(time.time() * 1000))
    await history.drain()
    (entry,) = await history.search(since_ms=0)
    assert "held" == entry["state"]
    RecentAlerts(journal=history).update("r1", "a1", "hook", "delivered in a digest", None)
    await history.drain()
    (entry,) = await history.search(since_ms=0)
    assert ("sent", "delivered in a digest") == (
        entry["state"],
        entry["channels"]["hook"]["state"],
    )


async def test_history_is_bounded_by_count_and_age(rig: Rig) -> None:
    """At most 10,000 entries, none older than 30 days, the oldest pruned first (also at
    start, on an older file)."""
    now_ms = int(time.time() * 1000)
    rows = [
        (f"k{i}", "w", now_ms - i * 1000, json.dumps({"key": f"k{i}"}))
        for i in range(HISTORY_MAX + 5)
    ]
    rows.append(("old", "w", now_ms - 31 * 86_400_000, "{}"))

    def fill(db):  # type: ignore[no-untyped-def]
        db.executemany("INSERT INTO alert_history VALUES (?, ?, ?, ?)", rows)

    await rig.state.file.write(fill)
    await rig.state.file.write(lambda db: prune_history(db, time.time()))
    keys = await rig.state.file.run(
        lambda: {r[0] for r in rig.state.file.conn().execute("SELECT key FROM alert_history")}
    )
    assert HISTORY_MAX == len(keys)
    assert {"k0"} == keys & {"k0", "old", f"k{HISTORY_MAX}"}


async def test_an_older_state_file_gets_the_tables(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A state.db from before the history and silences gains their tables at start."""
    import sqlite3

    db = sqlite3.connect(tmp_path / "state.db")
    db.execute("CREATE TABLE seen (article_id TEXT PRIMARY KEY, feed_id TEXT, last_seen_ms INT)")
    db.commit()
    db.close()
    async with StateStore(tmp_path) as state:
        assert [] == await AlertHistory(LocalHistoryStore(state)).search()
        assert [] == await Mutes(LocalSilences(state)).active()


@pytest.mark.parametrize(
    ("value", "expected_s"),
    [("2h", 7200), ("30m", 1800), ("1d", 86400), ("1h30m", 5400), (" 2H ", 7200)],
)
def test_parse_until_durations(value: str, expected_s: int) -> None:
    """Durations count from now."""
    assert NOW_MS + expected_s * 1000 == parse_until(value, NOW_MS)


def test_parse_until_times() -> None:
    """ISO 8601 with a zone, Z, or naive (UTC)."""
    at = datetime.fromtimestamp(NOW_MS / 1000 + 3600, UTC)
    naive = at.replace(tzinfo=None).isoformat()
    assert NOW_MS + 3_600_000 == parse_until(naive, NOW_MS)
    assert NOW_MS + 3_600_000 == parse_until(naive + "Z", NOW_MS)
    shifted = at.astimezone(datetime.now().astimezone().tzinfo).isoformat()
    assert NOW_MS + 3_600_000 == parse_until(shifted, NOW_MS)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2020-01-01T00:00:00Z", "in the past"),
        ("91d", "90 days"),
        ("2h soon", "neither"),
        ("3600", "neither"),
        ("", "duration"),
        (None, "duration"),
        ("0m", "neither"),
    ],
)
def test_parse_until_refuses(value: object, words: str) -> None:
    """Plain words, status 422."""
    with pytest.raises(ActionRefused) as refused:
        parse_until(value, NOW_MS)
    assert 422 == refused.value.status
    assert words in refused.value.message
