"""Facts: distinct events written from one template stay apart, copies still fold, and every
fold says why. Both index implementations (Python, the reference; native, the service's)."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.kernel import native
from monitor.kernel.models import Reason
from monitor.kernel.records import BadRecord
from monitor.store.state import StateStore
from monitor.stories import facts
from monitor.stories.index import Index, StoryIndex, Why
from monitor.stories.listing import Explained, Listed, print_explained
from monitor.stories.store import LocalStoryLog, StoredMember

NativeIndex = native.story_index_type()
IMPLEMENTATIONS: list[Callable[[float, int], Index]] = [StoryIndex]
if NativeIndex is not None:
    IMPLEMENTATIONS.append(NativeIndex)

QUAKE = (
    "M {m} - {km} km {dir} of {town}, CA",
    "Time {day} {time} UTC | depth {depth} km. A magnitude {m} earthquake struck {km} km {dir} "
    "of {town}, California, the Geological Survey said. There are no reports of damage.",
)
ADVISORY = (
    "{cve}",
    "A SQL injection vulnerability in Acme Widget 2.1 allows remote attackers to execute "
    "arbitrary SQL commands via the id parameter. Fixed in Acme Widget 2.2.",
)


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda t: t.__module__)
def make(request: pytest.FixtureRequest) -> Callable[[], Index]:
    return lambda: request.param(3600, 1000)


@pytest.fixture
def index(make: Callable[[], Index]) -> Index:
    return make()


def place(index: Index, article_id: str, feed: str, title: str, body: str) -> tuple[str, Why]:
    story, _, _, why = index.assign(article_id, "", title, body, feed, "", 0)
    return story, why


def quake(**facts_of: str) -> tuple[str, str]:
    values = {"m": "4.8", "km": "26", "dir": "SSW", "town": "Ridgecrest", "day": "2026-12-01"}
    values |= {"time": "10:22:31", "depth": "8.2"} | facts_of
    return QUAKE[0].format(**values), QUAKE[1].format(**values)


def test_another_quake_from_the_template_founds_its_own_story(index: Index) -> None:
    """Same place, other magnitude, time and depth: an aftershock, not a copy."""
    assert place(index, "q1", "usgs", *quake())[0] == "q1"
    assert place(index, "q2", "usgs", *quake(m="3.1", time="11:05:10", depth="5.4"))[0] == "q2"
    # only the time differs (another quake of the same size at the same place)
    assert place(index, "q3", "emsc", *quake(time="13:40:02"))[0] == "q3"


def test_a_quake_copy_on_another_feed_folds_and_says_why(index: Index) -> None:
    title, body = quake()
    place(index, "q1", "usgs", title, body)
    story, why = place(index, "c1", "desk", f"BREAKING: {title}", f"RIDGECREST (AP) - {body}")
    assert story == "q1"
    kind, other, share, agreed = why
    assert (kind, other) == ("text", "q1")
    assert share >= 0.4
    assert {"4.8", "26", "10:22:31", "Ridgecrest"} <= set(agreed)


def test_advisories_differing_only_by_their_id_each_found_a_story(index: Index) -> None:
    for n, cve in enumerate(("CVE-2026-1234", "CVE-2026-1235", "CVE-2026-1236")):
        assert place(index, f"a{n}", "nvd", cve, ADVISORY[1])[0] == f"a{n}"
    # a mirror with a title of its own and the id only in its body still tells them apart
    mirror = ("Acme Widget SQL injection", f"CVE-2026-1237: {ADVISORY[1]}")
    assert place(index, "m", "mirror", *mirror)[0] == "m"
    copy = (f"{ADVISORY[0].format(cve='CVE-2026-1235')} - Acme Widget", ADVISORY[1])
    assert place(index, "c", "mirror-2", *copy)[0] == "a1"


def test_a_toll_updated_folds_but_two_numbers_changed_do_not(
    index: Index, make: Callable[[], Index]
) -> None:
    body = (
        "At least {n} people were killed and {w} injured when a bomb went off in Minsk on Monday."
    )
    place(index, "a", "wire", "Bomb kills 12 in Minsk", body.format(n=12, w=40))
    both = place(index, "c", "daily", "Bomb kills 14 in Minsk", body.format(n=14, w=45))
    assert both[0] == "c"
    fresh = make()
    place(fresh, "a", "wire", "Bomb kills 12 in Minsk", body.format(n=12, w=40))
    story, (kind, _, _, agreed) = place(
        fresh, "b", "paper", "Bomb kills 14 in Minsk", body.format(n=14, w=40)
    )
    assert (story, kind) == ("a", "text")
    assert "14" not in agreed
    assert "40" in agreed


def test_update_prefixes_and_datelines_are_not_facts(index: Index) -> None:
    body = "The Foreign Minister met her counterpart in Berlin on Tuesday to discuss 3 treaties."
    place(
        index, "u1", "wire-a", "UPDATE 1-Minister meets counterpart", f"BERLIN (Reuters) - {body}"
    )
    story, _ = place(index, "u2", "wire-b", "UPDATE 2-Minister meets counterpart", body)
    assert story == "u1"
    other_city = body.replace("Berlin", "Paris")
    assert place(index, "u3", "wire-c", "Minister meets counterpart", other_city)[0] == "u3"


def test_two_feeds_stubs_under_unrelated_headlines_do_not_fold(index: Index) -> None:
    """The limit docs/performance.md named until now: the same paywall stub on two feeds."""
    stub = "Subscribe to read the full story. Already a subscriber? Sign in to keep reading."
    assert place(index, "s1", "paper-a", "Council approves housing plan", stub)[0] == "s1"
    assert place(index, "s2", "paper-b", "Storm closes schools across region", stub)[0] == "s2"
    # a headline made of the lead's first words still folds with its original
    lead = "Storm closes schools across region as rivers rise and roads flood in the north."
    place(index, "r1", "paper-c", "Flooding shuts schools", lead)
    story, _ = place(index, "r2", "paper-d", "Storm closes schools across", lead)
    assert story == "r1"


def test_a_url_or_guid_match_says_so(index: Index) -> None:
    index.assign("a", "https://x.example/1\nguid:AP-77", "T", "body text here", "f", "", 0)
    assert index.assign("b", "https://x.example/1", "U", "other", "g", "", 0)[3][:2] == ("url", "a")
    assert index.assign("c", "guid:AP-77", "V", "more", "h", "", 0)[3][:2] == ("guid", "a")


def test_facts_are_bounded_whatever_the_text(index: Index) -> None:
    """A title of a million numbers and a lead of identifiers give at most MAX_FACTS facts, and
    a member keeps no more of a lead than its prefix, whatever the index is given."""
    title = " ".join(str(n) for n in range(1_000_000))
    body = " ".join(f"CVE-2026-{n}" for n in range(100_000))
    assert len(facts.facts(title, body)) == facts.MAX_FACTS
    _, _, lead, _ = index.assign("big", "", title, body, "f", "", 0)
    assert lead == " ".join(f"CVE-2026-{n}" for n in range(facts.FACT_TOKENS))
    one_token = "x" * 1_000_000  # no spaces: the prefix is cut at FACT_CHARS characters
    assert index.assign("one", "", "t", one_token, "f", "", 0)[2] == "x" * facts.FACT_CHARS
    assert index.insert("given", "s", "", b"", one_token, "f", "t", "", 0)
    assert index.assign("given", "", "t", "", "f", "", 0)[2] == "x" * facts.FACT_CHARS


def test_the_lead_prefix_gives_the_facts_of_the_whole_body() -> None:
    """What a member keeps is enough: the same facts as its whole lead, "1-Car" split or not."""
    body = "UPDATE 1-Car " + " ".join(f"Town{n} 2-Bus {n} people" for n in range(60))
    prefix = facts.lead_prefix(body)
    assert len(facts.tokens(prefix, 1000)) in (facts.FACT_TOKENS, facts.FACT_TOKENS + 1)
    assert facts.by_slot(facts.facts("t", prefix)) == facts.by_slot(facts.facts("t", body))
    assert facts.lead_prefix(prefix) == prefix


def test_a_story_record_with_an_oversized_lead_is_a_bad_record() -> None:
    """The Kafka decoder refuses a lead longer than FACT_CHARS, naming the field; a lead of any
    text up to that decodes."""
    base = {"article": "a", "story": "a", "shingles": "", "seen_ms": 1, "rule": "r"}
    good = StoredMember.from_json(json.dumps(base | {"lead": "x" * facts.FACT_CHARS}).encode())
    assert good.lead == "x" * facts.FACT_CHARS
    with pytest.raises(BadRecord, match=r"lead: 2,001 characters, over 2,000"):
        StoredMember.from_json(json.dumps(base | {"lead": "x" * 2001}).encode())
    with pytest.raises(BadRecord, match="lead"):
        StoredMember.from_json(json.dumps(base | {"lead": 5}).encode())
    with pytest.raises(BadRecord, match="shingles: not hexadecimal"):
        StoredMember.from_json(json.dumps(base | {"shingles": "zz"}).encode())


def test_events_named_only_in_the_headline_stay_apart(index: Index) -> None:
    """Templates whose event is named in the headline alone, or first in the lead: a regional
    warning, an earnings date, a malicious package, a dividend on two wires."""
    warning = "Thunderstorms with heavy rain and hail are expected. Stay indoors until 18:00."
    pairs = [
        ("Yellow Thunderstorm Warning for Oberbayern", "Yellow Thunderstorm Warning for Schwaben"),
        ("Malicious code in left-padx (npm)", "Malicious code in reqeusts-lib (PyPI)"),
        ("What we know about the Louvre heist", "What we know about the Air India crash"),
    ]
    for n, (first, second) in enumerate(pairs):
        assert place(index, f"w{n}a", "alerts", first, warning)[0] == f"w{n}a"
        assert place(index, f"w{n}b", "alerts", second, warning)[0] == f"w{n}b"
    dividend = (
        "{c} declared a quarterly cash dividend of $0.25 per share, payable on January 15, 2027 "
        "to shareholders of record at the close of business on December 31, 2026."
    )
    for n, (company, feed) in enumerate([("Acme Corp", "wire-a"), ("Globex Inc", "wire-b")]):
        story, _ = place(index, f"d{n}", feed, f"{company} Declares Quarterly Dividend",
                         dividend.format(c=company))  # fmt: skip
        assert story == f"d{n}"


def test_copies_fold_whatever_a_desk_puts_on_the_headline(index: Index) -> None:
    """A label before a colon or joined by a hyphen, a tail after a bar or a dash, a number
    written with or without its commas, an abbreviation with or without its dots."""
    body = (
        "At least 1,200 people were evacuated in the U.S. state of Texas on Monday, officials said."
    )
    place(index, "o", "wire", "Floods force 1,200 from homes in Texas", body)
    for n, title in enumerate(
        [
            "FULL TIME: Floods force 1,200 from homes in Texas",
            "Weather-Floods force 1,200 from homes in Texas",
            "Floods force 1,200 from homes in Texas | World News",
            "Floods force 1200 from homes in Texas - AP",
        ]
    ):
        assert place(index, f"c{n}", f"desk-{n}", title, body.replace("U.S.", "US"))[0] == "o"
    # one number changed in the headline and the lead: a toll updated
    updated = place(index, "u", "paper", "Floods force 1,500 from homes in Texas",
                    body.replace("1,200", "1,500"))  # fmt: skip
    assert updated[0] == "o"


def test_candidates_tried_are_bounded(index: Index) -> None:
    """Hundreds of earlier items with one stub under long headlines of their own: a new item
    is tried against at most MAX_TRIED of them (each one's headline cut at FACT_CHARS)."""
    stub = "Subscribe to read the full story. Already a subscriber? Sign in to keep reading it."
    for n in range(300):
        title = f"Item {n} " + " ".join(f"word{n}x{k}" for k in range(3000))
        index.assign(f"s{n}", "", title, stub, f"feed-{n % 7}", "", n)
    story, _ = place(index, "new", "other-feed", "Storm closes schools across the region", stub)
    assert story == "new"


def test_a_deeply_nested_stored_reason_does_not_stop_the_start(tmp_path: Path) -> None:
    """A reason in state.db nested 100,000 deep is read as not known, not a RecursionError."""

    async def run() -> StoredMember:
        state = StateStore(tmp_path)
        await state.start()
        log = LocalStoryLog(state)
        member = StoredMember(
            article_id="a", story_id="a", url_key="", shingles=b"", feed="f", title="t",
            url="", seen_ms=int(time.time() * 1000), reason=Reason(kind="founded"),
        )  # fmt: skip
        await log.record([(member, "r")])

        def nest(db: sqlite3.Connection) -> None:
            db.execute("UPDATE story_facts SET reason = ?", ("[" * 100_000,))

        await state.file.write(nest)
        (loaded,) = await log.load(0)
        await state.stop()
        return loaded

    assert asyncio.run(run()).reason is None


def test_explain_escapes_a_feed_name_from_a_record() -> None:
    """A record's feed with terminal escapes and a newline prints escaped, on one line."""
    feed = "evil\x1b]0;pwned\x07\x1b[2J\nfake line"
    member = StoredMember(
        article_id="a", story_id="a", url_key="", shingles=b"", feed=feed, title="t", url="",
        seen_ms=0, reason=Reason(kind="founded"),
    )  # fmt: skip
    out = io.StringIO()
    print_explained(Explained(member, Listed("a", (member,)), None), as_json=False, out=out)
    assert "\x1b" not in out.getvalue()
    assert "\nfake line" not in out.getvalue()
