"""Hostile `until` values for a mute (`POST /-/watches/<id>/mute`): anything at all gives an
end time within 90 days ahead, or ActionRefused (422) in plain words; nothing else comes out."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.alerts.mutes import MAX_MUTE_S, parse_until
from monitor.kernel.console import ActionRefused

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
NOW_MS = 1_750_000_000_000
near = st.from_regex(r"\A\s*-?[0-9]{0,25}\s*(ms|s|m|h|d|w|y|)\s*([0-9]{0,4}[smhd])?\s*\Z")
times = st.datetimes().map(lambda d: d.isoformat()) | st.from_regex(
    r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?\Z"
)
anything = (
    st.text()
    | st.none()
    | st.integers()
    | st.floats()
    | st.lists(st.text(), max_size=2)
    | st.dictionaries(st.text(), st.text(), max_size=2)
    | st.sampled_from(["nan", "inf", "1e999d", "99999999999999999999999d", "\x00", "0s", "-1h"])
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(near | times | anything, st.integers(min_value=0, max_value=2**45))
def test_until_is_a_time_ahead_or_a_plain_refusal(value: object, now_ms: int) -> None:
    refused: ActionRefused | None = None
    try:
        until = parse_until(value, now_ms)
    except ActionRefused as exc:
        refused, until = exc, now_ms + 1
    if refused is not None:
        assert 422 == refused.status
        assert 0 < len(refused.message) < 300
        assert "Traceback" not in refused.message
    assert isinstance(until, int)
    assert now_ms < until <= now_ms + MAX_MUTE_S * 1000
