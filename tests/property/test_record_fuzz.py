"""Records from the bus are untrusted (`make fuzz` runs it longer): whatever bytes an `articles`
or `matches` record holds, it decodes, and is then safe for every consumer, or raises BadRecord;
never another exception. What the service encodes decodes to itself."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.kernel.models import (
    EVIDENCE_KINDS,
    MODES,
    SEVERITIES,
    TEXT_FIELDS,
    Alert,
    Article,
    Evidence,
    Match,
    MatchedArticle,
    alert_from_dict,
)
from monitor.kernel.records import MAX_DEPTH, BadRecord, check_depth, load_json

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
PROFILE = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip
# Text with JSON's troublemakers: brackets and quotes inside strings, escapes, lone surrogates.
tricky = st.text(st.sampled_from('[]{}"\\\ud800\udc00 aé\x00\n'), max_size=20) | st.text(
    max_size=20
)
times = st.datetimes(
    min_value=datetime(1900, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
)
texts = st.text(max_size=30)

articles = st.builds(
    Article,
    id=texts, feed=st.none() | texts, url=texts, title=texts, summary=texts, content=texts,
    author=texts, tags=st.lists(texts, max_size=3).map(tuple), published=st.none() | times,
    language=st.none() | texts, fetched_at=st.none() | times, guid=texts,
)  # fmt: skip
evidence = st.builds(
    Evidence,
    kind=st.sampled_from(EVIDENCE_KINDS), value=texts, field=st.sampled_from(TEXT_FIELDS),
    text=texts, snippet=texts, start=st.integers(0, 10**6), end=st.integers(0, 10**6),
    language=st.none() | texts,
)  # fmt: skip
matches = st.builds(
    Match,
    rule_id=texts, article_id=texts, severity=st.sampled_from(SEVERITIES),
    notify=st.lists(texts, max_size=3).map(tuple), evidence=st.lists(evidence, max_size=3).map(tuple),
    mode=st.sampled_from(MODES),
)  # fmt: skip
matched = st.builds(MatchedArticle, match=matches, article=articles, description=texts)


def used(decoded: Article | MatchedArticle) -> None:
    """What the consumers do with a decoded record: none of it may raise."""
    article = decoded if isinstance(decoded, Article) else decoded.article
    for name in TEXT_FIELDS:
        article.field_text(name).strip().casefold()
    assert (article.fetched_at or article.published or datetime.now(UTC)).tzinfo is not None
    article.to_bytes().decode()
    if isinstance(decoded, MatchedArticle):
        alert = Alert.for_channel(decoded, "hook", None)
        json.dumps(alert.to_dict(), ensure_ascii=False).encode()
        for e in decoded.match.evidence:
            article.field_text(e.field)[e.start : e.end]
        assert alert_from_dict(alert.to_dict()).id == alert.id


def decode_both(raw: bytes) -> None:
    """Decode as either topic's record: a record, or BadRecord."""
    for decode in (Article.from_bytes, MatchedArticle.from_bytes):
        try:
            decoded = decode(raw)
        except BadRecord:
            continue
        used(decoded)


@PROFILE
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_are_a_bad_record(raw: bytes) -> None:
    """Arbitrary bytes: a record or BadRecord."""
    decode_both(raw)


@PROFILE
@given(json_values)
def test_any_json_decodes_or_is_a_bad_record(value: Any) -> None:
    """Any JSON value: a record or BadRecord."""
    decode_both(json.dumps(value).encode())


@PROFILE
@given(matched, st.data())
def test_a_record_with_one_field_replaced_decodes_safely_or_is_bad(
    good: MatchedArticle, data: st.DataObject
) -> None:
    """A good `matches` record with any one field (of the match, the article or an evidence)
    replaced by any JSON value (title 5, url ["x"], ...): safe to use, or BadRecord."""
    record = json.loads(good.to_bytes())
    targets = [record, record["match"], record["article"], *record["match"]["evidence"]]
    target = data.draw(st.sampled_from(targets))
    key = data.draw(st.sampled_from(sorted(target)) | st.text(max_size=5))
    target[key] = data.draw(json_values | tricky)
    raw = json.dumps(record, ensure_ascii=data.draw(st.booleans())).encode("utf-8", "surrogatepass")
    decode_both(raw)
    decode_both(json.dumps(record["article"]).encode())


@PROFILE
@given(articles, st.sampled_from([*TEXT_FIELDS, "id", "feed", "guid", "language"]), tricky)
def test_any_text_in_a_field_decodes_safely_or_is_bad(
    article: Article, name: str, text: str
) -> None:
    """Brackets, quotes, escapes, NUL or an unpaired surrogate in any text field (sent escaped,
    as JSON allows): safe to use, or BadRecord."""
    record = json.loads(article.to_bytes())
    record[name] = [text] if name == "tags" else text
    decode_both(json.dumps(record).encode())


@PROFILE
@given(articles)
def test_an_article_round_trips(article: Article) -> None:
    """decode(encode(article)) == article."""
    assert article == Article.from_bytes(article.to_bytes())


@PROFILE
@given(matched)
def test_a_matched_article_round_trips(record: MatchedArticle) -> None:
    """decode(encode(record)) == record."""
    assert record == MatchedArticle.from_bytes(record.to_bytes())


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    return 0


deep_values = st.recursive(
    st.text(st.sampled_from('[]{}"\\a'), max_size=6) | st.integers(),
    lambda inner: (
        st.lists(inner, min_size=1, max_size=2)
        | st.dictionaries(
            st.text(st.sampled_from('[{"\\'), max_size=3), inner, min_size=1, max_size=2
        )
    ),
    max_leaves=60,
)


@PROFILE
@given(deep_values, st.integers(1, 12))
def test_the_depth_scan_agrees_with_the_decoded_depth(value: Any, limit: int) -> None:
    """The scan before json.loads refuses exactly the values nested deeper than the limit,
    whatever brackets, quotes and escapes their strings hold."""
    raw = json.dumps(value).encode()
    deeper = depth_of(value) > limit
    try:
        check_depth(raw, "test", limit)
    except BadRecord:
        assert deeper
    else:
        assert not deeper


@pytest.mark.parametrize("depth", [MAX_DEPTH, MAX_DEPTH + 1, 1000, 100_000])
@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_deep_nesting_is_a_bad_record_not_a_recursion_error(depth: int, opener: bytes) -> None:
    """A record nested `depth` deep (100,000 took the service down) is refused past MAX_DEPTH."""
    closer = b"]" if opener == b"[" else b"}"
    raw = b'{"id":' + opener * (depth - 1) + b"1" + closer * (depth - 1) + b"}"
    if depth <= MAX_DEPTH:
        assert load_json(raw, "article")
    else:
        with pytest.raises(BadRecord, match="nested deeper than"):
            load_json(raw, "article")
    with pytest.raises(BadRecord):
        Article.from_bytes(raw)  # deep or not, an id must be a string


def _waiting_row(decoded: MatchedArticle) -> dict[str, Any]:
    """A held row as a dispatcher writes one that waits for its channel (the whole alert)."""
    from monitor.alerts.digest import HeldAlert
    from monitor.alerts.held import OUTAGE, HeldRow

    alert = Alert.for_channel(decoded, "hook", None)
    row = HeldRow("hook", OUTAGE, 1, HeldAlert.of(alert, datetime.now(UTC)), alert)
    parsed: dict[str, Any] = json.loads(row.to_json())
    return parsed


@PROFILE
@given(matched, st.sampled_from(["held", "item", "alert"]), json_values)
def test_a_held_record_with_any_part_replaced_decodes_or_is_bad(
    decoded: MatchedArticle, where: str, value: Any
) -> None:
    """The `held` topic takes records from any producer: a waiting row whose record, item or
    kept alert is any JSON at all decodes to a row that sends, or is a BadRecord (skipped and
    counted), never another exception that would stop the flusher."""
    from monitor.alerts.held import HeldRow

    data: Any = _waiting_row(decoded)
    original = HeldRow.from_json(data)
    assert original.alert is not None
    assert original.alert.id == Alert.for_channel(decoded, "hook", None).id
    if where == "held":
        data = value
    elif where == "item":
        data["item"] = value
    else:
        data["item"]["alert"] = value
    raw = json.dumps(data).encode()
    try:
        row = HeldRow.from_json(load_json(raw, "held"))  # as the held store reads its topic
    except BadRecord:
        return
    if row.alert is not None:
        json.dumps(row.alert.to_dict(), ensure_ascii=False).encode()
