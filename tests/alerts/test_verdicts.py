"""Feedback tokens: made and read with one key; altered, forged or garbage tokens say nothing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.alerts.verdicts import (
    NOT_RELEVANT,
    RELEVANT,
    FeedbackSigner,
    Verdict,
    feedback_links,
)

KEY = b"k" * 32


def test_a_token_reads_back_to_its_verdict() -> None:
    signer = FeedbackSigner(KEY)
    token = signer.token("grain-trade", "story-1", NOT_RELEVANT)
    assert Verdict("grain-trade", "story-1", NOT_RELEVANT) == signer.read(token)


def test_an_altered_or_forged_token_says_nothing() -> None:
    """The verdict flipped, the story changed, another key's token, a cut MAC: all None."""
    signer = FeedbackSigner(KEY)
    token = signer.token("grain-trade", "story-1", NOT_RELEVANT)
    version, rule, story, verdict, mac = token.split(".")
    flipped = ".".join([version, rule, story, RELEVANT, mac])
    other_story = signer.token("grain-trade", "story-2", NOT_RELEVANT).split(".")[2]
    moved = ".".join([version, rule, other_story, verdict, mac])
    assert signer.read(flipped) is None
    assert signer.read(moved) is None
    assert FeedbackSigner(b"x" * 32).read(token) is None
    assert signer.read(token[:-2]) is None
    assert signer.read(token + "A") is None


def test_links_carry_both_verdicts_under_the_base_url() -> None:
    signer = FeedbackSigner(KEY)
    links = feedback_links("https://monitor.example.org/", signer, "r", "s")
    assert set(links) == {RELEVANT, NOT_RELEVANT}
    for verdict, url in links.items():
        assert url.startswith("https://monitor.example.org/feedback/v1.")
        read = signer.read(url.rsplit("/", 1)[1])
        assert read == Verdict("r", "s", verdict)


@given(st.text(max_size=300))
def test_any_text_is_read_without_a_traceback(text: str) -> None:
    """Only None or a verdict comes out of any text (the URL's last part is anyone's)."""
    assert FeedbackSigner(KEY).read(text) is None


@given(
    st.text(min_size=1, max_size=80),
    st.text(min_size=1, max_size=80),
    st.sampled_from([RELEVANT, NOT_RELEVANT]),
)
def test_every_rule_and_story_round_trips(rule: str, story: str, verdict: str) -> None:
    signer = FeedbackSigner(KEY)
    try:
        token = signer.token(rule, story, verdict)
    except UnicodeEncodeError:  # lone surrogates cannot be in a rule id read from YAML
        return
    assert Verdict(rule, story, verdict) == signer.read(token)
