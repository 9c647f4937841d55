"""Attacks on the story explanations and the escape hatches.

`monitor stories --explain` prints an id from the command line and reasons from the story log
(state.db, or a Kafka topic anyone with write access can fill): neither may put control
characters on the terminal or flood it. A story record whose reason is malformed is a bad
record, skipped and counted, never the end of the reader; in state.db it is unknown, and the
service starts and alerts. `stories:` of the wrong type in feeds.yaml or a watch is a located
error from `monitor check`.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from monitor.bus.base import STORIES
from monitor.bus.kafka import KafkaBus
from monitor.bus.settings import KafkaConfig
from monitor.kernel.metrics import make_metrics
from monitor.kernel.models import Reason
from monitor.store.state import StateStore
from monitor.stories.store import KafkaStoryLog, LocalStoryLog, StoredMember
from tests.hostile.test_hostile_service import Hostile
from tests.support.processes import service_rig, webhook_service
from tests.support.servers import rss

ESCAPES = "\x1b[2J\x1b]0;pwned\x07\x9b31m\r\n"  # clear screen, set the title, C1 CSI


def explain(config: Path, article_id: str, *more: str) -> subprocess.CompletedProcess[str]:
    """`monitor stories --explain ARTICLE_ID` as a user runs it."""
    command = [sys.executable, "-m", "monitor", "stories", "--config", str(config)]
    return subprocess.run(
        [*command, "--explain", article_id, *more],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def member(article_id: str, reason: Reason | None, story_id: str = "") -> StoredMember:
    return StoredMember(
        article_id=article_id,
        story_id=story_id or article_id,
        url_key="",
        shingles=bytes(12),
        feed="wire",
        title=f"title of {article_id}",
        url="",
        seen_ms=int(time.time() * 1000),
        reason=reason,
    )


async def record(state: Path, *members: StoredMember) -> None:
    """What a dispatcher records (the real story log, in state.db)."""
    async with StateStore(state) as store:
        await LocalStoryLog(store).record([(m, "word") for m in members])


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A monitor.yaml whose state.db holds a story: a founder and a copy joined by text."""
    webhook_service(tmp_path, "http://127.0.0.1:9/hook", 9)
    founder = member("founder", Reason(kind="founded"))
    copy = member(
        "copy",
        Reason(kind="text", article_id="founder", share=0.61, facts=("4.8", "Lima")),
        story_id="founder",
    )
    asyncio.run(record(tmp_path / "state", founder, copy))
    return tmp_path / "monitor.yaml"


@pytest.mark.parametrize(
    "article_id",
    ["x" * 100_000, "copy" + ESCAPES, ESCAPES, "-", "' OR 1=1 --", "copy\n"],
    ids=["100k-chars", "copy-with-escapes", "escapes", "dash", "sql", "newline"],
)
def test_a_hostile_article_id_is_not_found_named_escaped_and_short(
    config: Path, article_id: str
) -> None:
    """Not found: exit 2, the id named on one line, escaped, cut; nothing on stdout."""
    done = explain(config, article_id)
    assert 2 == done.returncode, done.stdout + done.stderr
    assert "" == done.stdout
    assert "not in the story log" in done.stderr
    assert 1 == len(done.stderr.splitlines())
    assert len(done.stderr) < 500
    assert not any(c in done.stderr for c in "\x1b\x07\x9b\r\x00")


def test_the_story_log_s_hostile_reason_is_escaped_and_bounded(tmp_path: Path) -> None:
    """A reason written by a hostile producer (escapes in every text, 20,000 facts) prints as
    a few escaped lines; --json keeps every fact. (One over the record limit, 8 MiB, is read as
    not known: see the deeply nested case in tests/stories/test_story_facts.py.)"""
    webhook_service(tmp_path, "http://127.0.0.1:9/hook", 9)
    facts = tuple(f"fact{i}{ESCAPES}\x00" for i in range(20_000))
    hostile = Reason(kind="text", article_id="other" + ESCAPES, share=0.5, facts=facts)
    alone = Reason(kind="alone", why="feed x has stories: false" + ESCAPES)
    asyncio.run(record(tmp_path / "state", member("h", hostile), member("a", alone)))
    config = tmp_path / "monitor.yaml"
    for article_id, said in (("h", "20000 agreed: fact0\\x1b"), ("a", "stands alone: feed x")):
        done = explain(config, article_id)
        assert 0 == done.returncode, done.stderr
        assert said in done.stdout
        assert not any(c in done.stdout for c in "\x1b\x07\x9b\r\x00")
        assert len(done.stdout.splitlines()) <= 8
        assert len(done.stdout) < 10_000
    assert "(no longer in the story log)" in explain(config, "h").stdout
    listed = json.loads(explain(config, "h", "--json").stdout)
    assert 20_000 == len(listed["reason"]["facts"])


def test_a_member_without_a_reason_says_it_was_recorded_before_reasons(
    config: Path, tmp_path: Path
) -> None:
    """A member recorded before reasons were kept, or whose reason in state.db is unreadable,
    is explained as not known; the story is still named."""
    asyncio.run(record(tmp_path / "state", member("old", None, story_id="founder")))
    db = sqlite3.connect(tmp_path / "state" / "state.db")
    with db:
        db.execute("UPDATE story_facts SET reason = ? WHERE article_id = 'copy'", ('{"kind": 5',))
    db.close()
    for article_id in ("old", "copy"):
        done = explain(tmp_path / "monitor.yaml", article_id)
        assert 0 == done.returncode, done.stderr
        assert "recorded before reasons were kept" in done.stdout
        assert "story    founder · 3 articles" in done.stdout
    known = json.loads(explain(tmp_path / "monitor.yaml", "old", "--json").stdout)
    assert known["reason"] is None


MALFORMED_REASONS = {
    "a-list": [1, 2],
    "unknown-kind": {"kind": "because"},
    "share-not-a-number": {"kind": "text", "share": "0.6", "text": ""},
    "share-infinite": {"kind": "text", "share": 1e999, "text": ""},
    "facts-a-string": {"kind": "text", "facts": "4.8", "text": ""},
    "fact-not-text": {"kind": "text", "facts": [{"a": 1}], "text": ""},
    "why-a-number": {"kind": "alone", "why": 7},
}


def test_a_story_record_with_a_malformed_reason_is_a_bad_record_skipped_and_counted() -> None:
    """The Kafka story log's decoder rejects each malformed reason as a bad record (counted
    under the stories topic) and keeps reading: the good records around them are members."""
    good = member("good", Reason(kind="founded"))
    records = [(b"word\0good", good.to_json("word"))]
    for name, reason in MALFORMED_REASONS.items():
        data = json.loads(member(name, None).to_json("word"))
        data["reason"] = reason
        records.append((f"word\0{name}".encode(), json.dumps(data).encode()))
    records.append((b"word\0good2", member("good2", Reason(kind="founded")).to_json("word")))
    metrics = make_metrics(CollectorRegistry())
    log = KafkaStoryLog(KafkaBus(KafkaConfig(bootstrap_servers="127.0.0.1:9")), metrics)
    decoded = log._decoded(records)
    assert ["good", "good2"] == [m.article_id for m in decoded]
    bad = metrics.bad_records.labels(STORIES)._value.get()
    assert len(MALFORMED_REASONS) == bad


async def test_the_service_starts_and_alerts_over_an_unreadable_reason(tmp_path: Path) -> None:
    """state.db holds a story member whose reason is not JSON: the desk reads the window at
    the start, the service stays up, answers and alerts."""
    watches = "rules:\n  - {id: word, match: {any: [alpha]}}\n"
    async with service_rig(tmp_path, {"good": rss()}, watches, Hostile) as rig:
        await record(tmp_path / "state", member("planted", Reason(kind="founded")))
        db = sqlite3.connect(tmp_path / "state" / "state.db")
        with db:
            db.execute("UPDATE story_facts SET reason = ?", ("\x00{not json",))
        db.close()
        await rig.monitor.start()
        await rig.until_ready()
        rig.feeds.feeds["good"] = rss("alpha one")
        await rig.until_alerted("word", "alpha one")
        await rig.assert_healthy()
        assert "story_reason_unreadable" in rig.monitor.stderr()
        assert "Traceback" not in rig.monitor.stderr()


WRONG = [
    ("maybe", "`stories` must be on or off (true or false), not the string 'maybe'"),
    ("5", "`stories` must be on or off (true or false), not a number (5)"),
    ("[off]", "`stories` must be on or off (true or false), not a list"),
    ("{off: true}", "`stories` must be on or off (true or false), not a mapping"),
    ('""', "`stories` must be on or off (true or false), not the string ''"),
]


@pytest.mark.parametrize(("value", "said"), WRONG, ids=[w[0] for w in WRONG])
def test_stories_of_a_wrong_type_is_a_located_error(tmp_path: Path, value: str, said: str) -> None:
    """`monitor check` names the file and line of a watch's and a feed's bad `stories`, and
    exits 1; on and off, quoted or not, pass."""
    (tmp_path / "entities").mkdir()
    (tmp_path / "feeds.yaml").write_text(
        'feeds:\n  - id: quakes\n    url: "https://e.org/rss"\n    stories: ' + value + "\n"
    )
    (tmp_path / "watches.yaml").write_text(
        "rules:\n  - id: each\n    match: {any: [x]}\n    stories: " + value + "\n"
    )
    done = monitor_check(tmp_path)
    assert 1 == done.returncode
    assert f"{tmp_path}/feeds.yaml:4: feed {said}" in done.stderr
    assert f"{tmp_path}/watches.yaml:4: rule {said}" in done.stderr
    for good in ("off", "false", '"off"', "On", "true"):
        (tmp_path / "feeds.yaml").write_text(
            f'feeds:\n  - {{id: quakes, url: "https://e.org/rss", stories: {good}}}\n'
        )
        (tmp_path / "watches.yaml").write_text(
            f"rules:\n  - {{id: each, match: {{any: [x]}}, stories: {good}}}\n"
        )
        ok = monitor_check(tmp_path)
        assert 0 == ok.returncode, (good, ok.stderr)


def monitor_check(rules: Path) -> subprocess.CompletedProcess[str]:
    """`monitor check` on a rules directory, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", "check", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
