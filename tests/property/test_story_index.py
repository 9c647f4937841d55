"""The native story index against the Python one (`make fuzz` runs it longer).

Both must cut the same words, hash the same shingles and put every article in the same story,
whatever the text: other scripts, case mappings that change length, punctuation runs, copies
made by editing an earlier article.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.kernel import native
from monitor.stories.index import StoryIndex
from monitor.stories.sketch import PUNCTUATION, sketch

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
PROFILE = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
native_index = native.story_index_type()
pytestmark = pytest.mark.native

WORDS = ["bomb", "Minsk", "ΟΔΟΣ", "İstanbul", "straße", "ﬁnal", "Київ", "北京", "x", "a1"]
# Facts: counts, years, decimals, identifiers, credits, version prefixes, dashes, dates
WORDS += ["12", "1,200", "2026", "4.8", "CVE-2026-1234", "(Reuters)", "UPDATE", "1-Car", "-"]
WORDS += ["No.", "#5", "December", "Q3", "killed.", "Ⅻ", "ǅ", "\u2014", "people", "at", "Acme"]
GAPS = [" ", "  ", "\n\n", "\t", ", ", "\u2028", "\u3000", "\x85", *PUNCTUATION]
# Characters Python's Unicode tables assign: Rust's tables are newer and lower-case letters
# added since (U+16EA0, Unicode 16) that Python 3.11 leaves as they are. Only such letters'
# case can differ, and the service sketches every article with one implementation.
assigned = st.characters(exclude_categories=["Cn", "Cs"])
text = st.lists(st.sampled_from(WORDS) | st.text(assigned, max_size=6), max_size=90).flatmap(
    lambda ws: st.lists(st.sampled_from(GAPS), min_size=len(ws), max_size=len(ws)).map(
        lambda gs: "".join(w + g for w, g in zip(ws, gs, strict=True))
    )
)


@PROFILE
@given(title=text, body=text)
def test_native_sketch_is_the_python_sketch(title: str, body: str) -> None:
    """The same shingles, whatever the text."""
    from monitor_native import story_sketch

    assert sketch(title, body) == story_sketch(title, body)


def _edit(source: str, cut: int, prefix: str) -> str:
    """A copy: cut and datelined; or, for an odd cut, the same template with its digits
    changed (another event)."""
    if cut % 2:
        source = source.translate(str.maketrans("0123456789", "1234567890"))
    return prefix + source[: max(cut, 0)]


@PROFILE
@given(
    articles=st.lists(
        st.tuples(
            text, text, st.integers(0, 9), st.integers(-1, 400), st.sampled_from(["", "X (AP) - "])
        ),
        min_size=1,
        max_size=25,
    ),
    window=st.integers(1, 30),
    bound=st.integers(1, 30),
)
def test_native_index_folds_as_the_python_index(
    articles: list[tuple[str, str, int, int, str]], window: int, bound: int
) -> None:
    """Article after article, both give the same story, keep the same members, forget the same."""
    assert native_index is not None
    ours, theirs = StoryIndex(window, bound), native_index(window, bound)
    bodies: list[str] = []
    for n, (title, body, source, cut, prefix) in enumerate(articles):
        if bodies and cut >= 0:  # a copy of an earlier article, cut and datelined
            body = _edit(bodies[source % len(bodies)], cut, prefix)
        bodies.append(body)
        url = f"https://example.org/{n % 7}" if n % 3 == 0 else ""
        args = (f"a{n}", url, title, body, f"f{n % 3}", url, n * 1000)
        assert ours.assign(*args) == theirs.assign(*args)
        ours.evict(n * 1000)
        theirs.evict(n * 1000)
        assert len(ours) == len(theirs)
    for n in range(len(articles)):
        story = ours.story_of(f"a{n}")
        assert story == theirs.story_of(f"a{n}")
        if story is not None:
            assert ours.story(story) == theirs.story(story)


long_text = st.tuples(text, st.integers(0, 400), st.sampled_from(["", "é", "北京", "x" * 300])).map(
    lambda t: t[0] * (1 + t[1] // max(len(t[0]), 1) % 40) + t[2] * (t[1] % 9)
)


@PROFILE
@given(title=long_text, body=long_text)
def test_native_lead_prefix_is_the_python_one(title: str, body: str) -> None:
    """What a member keeps of a lead (up to its 40th token, within 2,000 characters) is the same,
    however long the text and whatever its script."""
    assert native_index is not None
    ours, theirs = StoryIndex(60, 10), native_index(60, 10)
    assert ours.assign("a", "", title, body, "f", "", 0) == theirs.assign(
        "a", "", title, body, "f", "", 0
    )
    assert ours.insert("b", "s", "", b"", body, "f", title, "", 0)
    assert theirs.insert("b", "s", "", b"", body, "f", title, "", 0)
    assert ours.assign("b", "", "", "", "", "", 0) == theirs.assign("b", "", "", "", "", "", 0)
