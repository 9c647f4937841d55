"""Editing watches on a live service: hot reload, backtest, shadow mode (real processes)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import SEED_FEED, SHIPPED_RULES
from tests.support.processes import ServiceRig, eventually, service_rig
from tests.support.servers import rss


def save_by_rename(path: Path, text: str) -> None:
    """Save as many editors do: write a temporary file, then rename it over the old one."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_in_place(path: Path, text: str) -> None:
    """Save as other editors do: truncate the file and write into it."""
    with path.open("w") as f:
        f.write(text)


class Live(ServiceRig):
    """The service with helpers for reloads and the command line."""

    async def reloads(self, result: str) -> float:
        return await self.monitor.metric("monitor_rules_reload_total", {"result": result})

    async def until_reloads(self, result: str, count: int, timeout_s: float = 5) -> None:
        """Wait until the `result` reload counter reaches `count`."""

        async def reached() -> bool:
            return await self.reloads(result) >= count

        await eventually(reached, timeout_s)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monitor", *args, "--config", str(self.monitor.config)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    watches = "rules:\n  - {id: first, match: {any: [alpha]}}\n"
    async with service_rig(tmp_path, {"news": rss()}, watches, Live) as rig:
        yield rig


async def test_edits_apply_live_and_a_bad_edit_keeps_the_last_good_rules(live: Live) -> None:
    """New watch fires after the edit; a broken edit leaves the old one firing with the error in
    /readyz and /metrics; fixing it recovers; a deleted rule stops firing."""
    await live.monitor.start()
    live.feeds.feeds["news"] = rss("alpha one")
    await eventually(lambda: ("first", "alpha one") in live.alerted())

    save_by_rename(
        live.rules / "watches.yaml",
        "rules:\n  - {id: first, match: {any: [alpha]}}\n  - {id: second, match: {any: [beta]}}\n",
    )
    await live.until_reloads("ok", 1)
    live.feeds.feeds["news"] = rss("alpha one", "beta one")
    await eventually(lambda: ("second", "beta one") in live.alerted())

    save_in_place(
        live.rules / "watches.yaml", "rules:\n  - {id: first, match: {any: [alpha]}\n"
    )  # broken
    await live.until_reloads("error", 1)
    status, body = await live.monitor.get("/readyz")
    assert 200 == status  # still working, on the last good rules
    assert any("watches.yaml:" in e for e in json.loads(body)["rules_error"])
    assert 1.0 == await live.monitor.metric("monitor_rules_stale")
    live.feeds.feeds["news"] = rss("alpha one", "beta one", "alpha two")
    await eventually(lambda: ("first", "alpha two") in live.alerted())

    save_by_rename(
        live.rules / "watches.yaml", "rules:\n  - {id: second, match: {any: [beta, alpha]}}\n"
    )
    await live.until_reloads("ok", 2)
    assert 0.0 == await live.monitor.metric("monitor_rules_stale")
    assert "rules_error" not in json.loads((await live.monitor.get("/readyz"))[1])
    live.feeds.feeds["news"] = rss("alpha one", "beta one", "alpha two", "alpha three")
    await eventually(lambda: ("second", "alpha three") in live.alerted())
    assert ("first", "alpha three") not in live.alerted()  # deleted: it fires no more
    assert 1 == live.alerted().count(("first", "alpha one"))
    assert 0 == await live.monitor.stop()


async def test_a_burst_of_saves_loads_the_last_one_once(live: Live) -> None:
    """Ten quick saves are debounced into one reload of the final text."""
    await live.monitor.start()
    await live.until_ready()
    await eventually(lambda: live.feeds.count("/feeds/news") >= 1)
    for i in range(10):
        save_in_place(
            live.rules / "watches.yaml", f"rules:\n  - {{id: burst-{i}, match: {{any: [gamma]}}}}\n"
        )
    await live.until_reloads("ok", 1)
    live.feeds.feeds["news"] = rss("gamma ray")
    await eventually(lambda: ("burst-9", "gamma ray") in live.alerted())
    assert [("burst-9", "gamma ray")] == live.alerted()
    assert 1.0 == await live.reloads("ok")
    assert 0.0 == await live.reloads("error")


async def test_feeds_added_and_removed_without_restart(live: Live) -> None:
    """A feed added to feeds.yaml is polled; a removed one is polled no more."""
    live.feeds.feeds["extra"] = rss("alpha extra")
    await live.monitor.start()
    await eventually(lambda: live.feeds.count("/feeds/news") >= 1)
    feeds = live.rules / "feeds.yaml"
    save_by_rename(
        feeds, f'feeds:\n  - {{id: extra, url: "{live.feeds.url("/feeds/extra")}", interval: 1s}}\n'
    )
    await eventually(lambda: ("first", "alpha extra") in live.alerted(), 10)
    polls = live.feeds.count("/feeds/news")
    await eventually(lambda: live.feeds.count("/feeds/extra") >= 3)
    assert live.feeds.count("/feeds/news") <= polls + 1  # at most one poll was already under way


async def test_sighup_and_http_reload(live: Live) -> None:
    """SIGHUP and POST /-/reload reload the rules; a bad file makes the POST answer 422."""
    import aiohttp

    await live.monitor.start()
    await eventually(lambda: live.feeds.count("/feeds/news") >= 1)
    assert live.monitor.proc is not None
    live.monitor.proc.send_signal(signal.SIGHUP)
    await live.until_reloads("ok", 1)
    async with aiohttp.ClientSession() as s:
        async with s.post(live.monitor.http + "/-/reload", json={}) as resp:
            assert 200 == resp.status
            assert 1 == (await resp.json())["rules"]
        (live.rules / "bad.yaml").write_text("rules:\n  - {id: x}\n")
        async with s.post(live.monitor.http + "/-/reload", json={}) as resp:
            assert 422 == resp.status
            assert any("bad.yaml:2" in p for p in (await resp.json())["problems"])
    assert 0 == await live.monitor.stop()


async def test_backtest_finds_what_a_live_run_found(live: Live, tmp_path: Path) -> None:
    """Backtest over stored articles finds exactly the live run's alerts, and changes nothing."""
    shutil_copy_rules(live.rules)
    live.feeds.feeds["news"] = SEED_FEED.read_bytes()
    proc = await live.monitor.start("--once")
    assert 0 == await proc.wait()
    live_found = sorted(live.alerted())
    assert live_found
    before = state_digest(tmp_path / "state")
    done = live.cli("backtest", "--since", "1d", "--json")
    assert 0 == done.returncode, done.stderr
    lines = [json.loads(x) for x in done.stdout.splitlines()]
    found = sorted((x["rule"], x["title"]) for x in lines if "rule" in x)
    assert live_found == found
    assert {"summary", "records", "articles", "stories"} == set(lines[-1])
    assert before == state_digest(tmp_path / "state")
    assert len(live_found) == len(live.alerted())  # nothing was sent

    one = live.cli("backtest", "--rule", "cis-defense-cooperation")
    assert 0 == one.returncode, one.stderr
    assert "MATCH cis-defense-cooperation" in one.stdout
    assert "cis-defense-cooperation: 1 article in 1 story (" in one.stdout
    assert 2 == live.cli("backtest", "--rule", "no-such-rule").returncode


async def test_shadow_rules_send_nothing_and_are_reported(live: Live) -> None:
    """A shadow rule matches live but notifies no one; shadow-report lists what it would send."""
    (live.rules / "watches.yaml").write_text(
        "rules:\n  - {id: loud, match: {any: [alpha]}}\n  - {id: quiet, mode: shadow, match: {any: [beta]}}\n"
    )
    live.feeds.feeds["news"] = rss("alpha and beta", "only beta")
    proc = await live.monitor.start("--once")
    assert 0 == await proc.wait()
    assert [("loud", "alpha and beta")] == live.alerted()
    assert 2 == live.monitor.stderr().count('"shadow_match"')
    report = live.cli("shadow-report", "--since", "1d")
    assert 0 == report.returncode, report.stderr
    assert "MATCH quiet [medium] 'alpha and beta'" in report.stdout
    assert "MATCH quiet [medium] 'only beta'" in report.stdout
    assert "MATCH loud" not in report.stdout
    assert "quiet: 2 (" in report.stdout


def shutil_copy_rules(rules: Path) -> None:
    """Put the shipped watches and entities in the live rules directory."""
    import shutil

    for path in SHIPPED_RULES.glob("*.yaml"):
        if path.name != "feeds.yaml":
            shutil.copy(path, rules / path.name)
    for path in (SHIPPED_RULES / "entities").glob("*.yaml"):
        shutil.copy(path, rules / "entities" / path.name)
    (rules / "watches.yaml").unlink()


def state_digest(state: Path) -> dict[str, str]:
    """A digest of the state's databases, and of any write-ahead log that holds something.

    A read-only SQLite reader may create the `-shm` index and an empty `-wal`: coordination
    files, not state. A write-ahead log with content would be a change, and counts as one.
    """
    digest = {}
    for path in sorted(state.iterdir()):
        if path.name.endswith("-shm") or (path.name.endswith("-wal") and path.stat().st_size == 0):
            continue
        digest[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


async def test_watch_costs_are_measured_on_stored_articles_and_exported(live: Live) -> None:
    """`check --cost` ranks the watches by their cost on the stored articles, flagging a costly
    one only; the running matcher exports the costliest rules' time per article."""
    # `heavy` names every word of the text: each of its 300-odd terms is found and tested.
    many = ", ".join(["alpha", "beta", "gamma", "delta", *map(str, range(300))])
    (live.rules / "watches.yaml").write_text(
        "rules:\n"
        "  - {id: first, match: {any: [alpha]}}\n"
        f"  - {{id: heavy, match: {{any: [{many}], min: 2}}}}\n"
        + "".join(f"  - {{id: w{n}, match: {{any: [word{n}]}}}}\n" for n in range(30))
    )
    text = " ".join(f"alpha beta gamma delta {n}" for n in range(300))
    live.feeds.feeds["news"] = rss(*(f"alpha {n} {text}" for n in range(5)))
    await live.monitor.start()
    # first and heavy, once each: the 5 articles differ in one word, so they are one story
    await eventually(lambda: len(live.alerted()) == 2)

    async def exported() -> bool:
        return 'monitor_rule_cost_seconds{rule="heavy"}' in (await live.monitor.get("/metrics"))[1]

    await eventually(exported, 30)
    assert 0 == await live.monitor.stop()
    done = live.cli("check", "--cost")
    assert 0 == done.returncode, done.stderr
    header, _, *rows = done.stdout.splitlines()
    assert "over 5 stored articles" in header
    assert rows[0].startswith("heavy ")
    assert "watches.yaml:3" in rows[0]
    # Flagged only when costly in absolute terms too (tests/matching/test_cost.py): heavy is
    # most of the watches' cost, so its ms an article decides.
    assert ("COSTLY" in rows[0]) == (float(rows[0].split()[2]) > 0.2)
    assert not any("COSTLY" in r for r in rows if r.startswith("w"))
