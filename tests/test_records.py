"""The record decoder (monitor.kernel.records) and its consumers' handling of what it refuses: each bad
record is BadRecord naming the field and what is wrong; a rejected bus record is counted and
dead-lettered where `monitor dlq list` shows it; the compacted topics' records decode strictly."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from monitor.alerts.deadletters import open_letters
from monitor.alerts.digest import HeldAlert
from monitor.alerts.feedwatch import _decode as decode_health
from monitor.alerts.feedwatch import _encode as encode_health
from monitor.alerts.held import HeldRow
from monitor.bus.badrecords import reject_record
from monitor.bus.base import ARTICLES, DLQ, Record
from monitor.bus.local import LocalBus
from monitor.feeds.health import Health
from monitor.kernel.metrics import make_metrics
from monitor.kernel.models import Article, Match, MatchedArticle, alert_from_dict
from monitor.kernel.records import MAX_RECORD_BYTES, BadRecord, load_json
from monitor.stories.store import StoredMember

GOOD = Article(id="a1", feed="news", title="Flood", url="http://x.test/", tags=("t",))


def article_with(**fields: object) -> bytes:
    data = json.loads(GOOD.to_bytes())
    data.update(fields)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 32 levels"),
        (b"\xff\xfe", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"[]", "not a JSON object but a list"),
        (b"x" * (MAX_RECORD_BYTES + 1), "over the limit"),
        (article_with(id=None), "article.id: missing"),
        (article_with(title=5), "article.title: expected a string, got an integer"),
        (article_with(url=["x"]), "article.url: expected a string, got a list"),
        (article_with(tags="t"), "article.tags: expected a list, got a string"),
        (article_with(tags=[1]), "article.tags[0]: expected a string"),
        (article_with(published="yesterday"), "article.published: 'yesterday' is not an ISO"),
        (article_with(feed={}), "article.feed: expected a string, got an object"),
        (article_with(title="\ud800"), "unpaired surrogate"),
    ],
)
def test_a_bad_article_record_says_what_is_wrong(raw: bytes, reason: str) -> None:
    """Each way an `articles` record can be wrong is BadRecord naming the field."""
    with pytest.raises(BadRecord, match="bad article record: ") as caught:
        Article.from_bytes(raw)
    assert reason in caught.value.reason


def matched_with(part: str, **fields: object) -> bytes:
    good = MatchedArticle(match=Match(rule_id="r", article_id="a1", severity="high"), article=GOOD)
    data = json.loads(good.to_bytes())
    (data if part == "record" else data[part]).update(fields)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (matched_with("article", title=5), "article.title: expected a string, got an integer"),
        (matched_with("article", url=["x"]), "article.url: expected a string, got a list"),
        (matched_with("match", severity="urgent"), "match.severity: 'urgent' is not one of"),
        (matched_with("match", mode="loud"), "match.mode"),
        (matched_with("match", notify=[None]), "match.notify[0]: expected a string, got null"),
        (matched_with("match", evidence=[{"kind": "term"}]), "match.evidence[0].value"),
        (matched_with("record", match=[]), "match: expected an object, got a list"),
        (matched_with("record", description=7), "record.description: expected a string"),
    ],
)
def test_a_bad_match_record_says_what_is_wrong(raw: bytes, reason: str) -> None:
    """Each way a `matches` record can be wrong is BadRecord naming the field."""
    with pytest.raises(BadRecord, match="bad match record: ") as caught:
        MatchedArticle.from_bytes(raw)
    assert reason in caught.value.reason


def test_a_record_of_an_older_writer_still_decodes() -> None:
    """Missing optional fields take their defaults, a time without a zone is UTC, and unknown
    fields are ignored (a newer writer's)."""
    article = Article.from_bytes(b'{"id": "a", "title": null, "published": "2026-01-02T03:04:05",'
                                 b' "extra": [1]}')  # fmt: skip
    assert Article(id="a", published=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == article


async def test_a_rejected_record_is_counted_and_listed_as_a_dead_letter(tmp_path: Path) -> None:
    """reject_record counts the record by topic and dead-letters it under its position, with the
    reason and the start of its bytes; `monitor dlq list` reads it as a record, channel "-"."""
    metrics = make_metrics(CollectorRegistry())
    record = Record(ARTICLES, 0, 7, "k", b"[" * 100_000, 0)
    with pytest.raises(BadRecord) as caught:
        Article.from_bytes(record.value)
    async with LocalBus(tmp_path / "bus.db") as bus:
        await reject_record(bus, metrics, ARTICLES, record, caught.value)
        await reject_record(bus, metrics, ARTICLES, record, caught.value)  # read again: one letter
        dead = await bus.consumer(DLQ, "t").fetch(10, 0.1)
    assert 2.0 == metrics.registry.get_sample_value(
        "monitor_bad_records_total", {"topic": ARTICLES}
    )
    (letter,) = open_letters(dead, [])
    assert ("articles:0:7", "record", "-") == (letter.id, letter.kind, letter.channel)
    assert "nested deeper than 32 levels (at articles:0:7)" in letter.reason
    assert letter.body["raw"].startswith("[[[")
    assert letter.body["raw"].endswith("... (100,000 bytes)")


def test_an_unreadable_dead_letter_is_listed_not_raised() -> None:
    """A DLQ record nested 100,000 deep, or with fields of the wrong types, is listed as a
    record (the DLQ reader used to recurse)."""
    dead = [
        Record(DLQ, 0, 0, "deep", b"[" * 100_000, 1000),
        Record(DLQ, 0, 1, "odd", b'{"alert": {"rule": []}, "attempts": "x"}', 2000),
    ]
    letters = open_letters(dead, [Record(DLQ, 0, 0, "deep", b"{" * 100_000, 0)])
    assert [("deep", "record"), ("odd", "record")] == [(d.id, d.kind) for d in letters]


def test_an_alert_of_a_dead_letter_is_decoded_strictly() -> None:
    """A dead letter's alert with a title of the wrong type is BadRecord, not a crash mid-retry."""
    with pytest.raises(BadRecord, match=r"alert.article.title: expected a string"):
        alert_from_dict({"alert_id": "x", "channel": "c", "article": {"id": "a", "title": 5}})


HELD_ITEM = HeldAlert(
    alert_id="x", rule_id="r", description="", severity="high", article_id="a", title="t",
    url="u", feed="f", story_id="s", story_articles=1, story_feeds=("f",),
    held_at=datetime(2026, 1, 1, tzinfo=UTC),
)  # fmt: skip
HELD = HeldRow("hook", "digest", 5, HELD_ITEM)
MEMBER = StoredMember(
    article_id="a", story_id="s", url_key="k", shingles=b"\x01\x02\x03\x04", feed="f", title="t",
    url="u", seen_ms=3, rules=("r",),
)  # fmt: skip


def held_with(part: str, **fields: object) -> bytes:
    data = json.loads(HELD.to_json())
    (data["item"] if part == "item" else data["item"][part]).update(fields)
    return json.dumps(data).encode()


def member_with(**fields: object) -> bytes:
    data = json.loads(MEMBER.to_json("r"))
    data.update(fields)
    return json.dumps(data).encode()


def health_with(**fields: object) -> bytes:
    data = json.loads(encode_health(Health(feed_id="f", last_new_ms=1)))
    data.update(fields)
    return json.dumps(data).encode()


def test_the_compacted_topics_records_round_trip() -> None:
    """Held alerts, story members and feed health decode to what was encoded."""
    assert HELD == HeldRow.from_json(load_json(HELD.to_json(), "held"))
    assert MEMBER == StoredMember.from_json(MEMBER.to_json("r"))
    health = Health(feed_id="f", last_new_ms=1, failing_since_ms=2, reason="x")
    assert health == decode_health(encode_health(health))


@pytest.mark.parametrize(
    ("decode", "raw", "reason"),
    [
        (lambda raw: HeldRow.from_json(load_json(raw, "held")), held_with("article", title=5),
         "item.article.title: expected a string"),
        (lambda raw: HeldRow.from_json(load_json(raw, "held")), held_with("item", held_at=None),
         "item.held_at: missing"),
        (lambda raw: HeldRow.from_json(load_json(raw, "held")), b"[" * 100_000, "nested"),
        (StoredMember.from_json, member_with(shingles="zz"), "member.shingles: not hexadecimal"),
        (StoredMember.from_json, member_with(shingles="010203"), "member.shingles: 3 bytes"),
        (StoredMember.from_json, member_with(lead="x" * 2001), "member.lead: 2,001 characters"),
        (StoredMember.from_json, member_with(seen_ms="3"), "member.seen_ms: expected an integer"),
        (decode_health, health_with(last_new_ms=True), "health.last_new_ms"),
        (decode_health, health_with(feed_id=None), "health.feed_id: missing"),
    ],
)  # fmt: skip
def test_a_bad_record_of_a_compacted_topic_is_a_bad_record(
    decode: object, raw: bytes, reason: str
) -> None:
    """Held alerts, story members and feed health read back from their stores are checked too:
    the readers skip what is BadRecord instead of failing every flush or sync."""
    assert callable(decode)
    with pytest.raises(BadRecord) as caught:
        decode(raw)
    assert reason in caught.value.reason
