"""A secret a server echoes in its answer is never shown in part where the reason is shortened
(the 80-character reason phrase, the 200-character reason of a round's failing feed, the
300-character log sentence): the secrets are redacted first, then the text is cut."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.feeds.rounds import failing_entry
from monitor.kernel.neterrors import describe_status, printable
from monitor.kernel.redact import REDACTED, use

SECRET = "tok_" + "S3cr3tV4lue" * 3
PART = SECRET[:8]  # what a cut through the secret would leave


@pytest.fixture(autouse=True)
def secret() -> Iterator[None]:
    use([SECRET])
    yield
    use([])


@pytest.mark.parametrize("limit", [80, 200, 300])
def test_a_secret_across_the_cut_is_redacted_whole(limit: int) -> None:
    """The cut falls inside the secret: the text shows `[redacted]` or nothing of it."""
    text = "x" * (limit - 12) + " " + SECRET + " tail"
    shown = printable(text, limit)
    assert PART not in shown
    assert len(shown) <= limit


def test_a_reason_phrase_echoing_a_token_does_not_show_it() -> None:
    """A proxy answering 502 with the feed's bearer token in its reason phrase, straddling the
    80-character cut of the phrase."""
    problem = describe_status(502, "Bad Gateway for " + "y" * 50 + " " + SECRET, url="http://h/f")
    assert PART not in problem.reason
    assert PART not in problem.words()
    assert REDACTED in problem.reason or len(problem.reason) <= 80


def test_a_round_s_failing_feed_does_not_show_the_token() -> None:
    """A round's failing feed: its reason cut at 200 characters, after redaction."""
    entry = failing_entry("f", "h:443", "z" * 190 + " " + SECRET, None)
    assert PART not in entry.why
