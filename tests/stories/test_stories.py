"""Stories: copies of one report fold into one story; distinct stories on one topic do not.

The index is tested in both implementations (Python, the reference; native, the one the
service runs), on hand-made cases and on the Wikinews evaluation set (real text, copies made
with the edits syndication makes). The desk is tested with the dispatcher and a real webhook
receiver; the service end to end in tests/stories/test_stories_e2e.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from bench.storyset import build_storyset, evaluate, load_wikinews
from monitor.alerts.channels import Tools, make_sender
from monitor.alerts.channels.http import HookSettings
from monitor.alerts.dispatch import Dispatcher
from monitor.alerts.held import HeldStore
from monitor.alerts.settings import DeliveryConfig
from monitor.bus.base import MATCHES, Record
from monitor.bus.local import LocalBus
from monitor.feeds.parse import shared_guid
from monitor.feeds.urls import canonical_url, url_key
from monitor.kernel import native
from monitor.kernel.metrics import make_metrics
from monitor.kernel.models import Article, Match, MatchedArticle
from monitor.store.state import StateStore
from monitor.stories.aliases import Aliases
from monitor.stories.desk import StoryDesk
from monitor.stories.index import Index, StoryIndex
from monitor.stories.listing import group_stories
from monitor.stories.sketch import story_keys
from monitor.stories.store import LocalStoryLog, StoredMember
from tests.support.helpers import article
from tests.support.servers import Receiver, serve

NativeIndex = native.story_index_type()
IMPLEMENTATIONS: list[Callable[[float, int], Index]] = [StoryIndex]
if NativeIndex is not None:
    IMPLEMENTATIONS.append(NativeIndex)
WIKINEWS = {str(r["url"]): r for r in load_wikinews()}
BHUTTO_OCT = WIKINEWS[
    "https://en.wikinews.org/wiki/'Large-scale_attack'_against_ex-Prime_Minister_Bhutto_leaves_more_than_100_dead_in_Pakistan"
]
BHUTTO_DEC = WIKINEWS["https://en.wikinews.org/wiki/Benazir_Bhutto_killed_in_suicide_attack"]


@pytest.mark.native
def test_the_native_index_is_installed() -> None:
    """`make` installs the extension: without it only the Python index would be tested."""
    assert NativeIndex is not None


def _place(index: Index, a: Article, at_ms: int = 0) -> str:
    body = a.content if len(a.content) > len(a.summary) else a.summary
    story = index.assign(a.id, story_keys(a), a.title, body, a.feed or "", a.url, at_ms)[0]
    return story


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda t: t.__module__)
def new_index(request: pytest.FixtureRequest) -> Callable[[float, int], Index]:
    return request.param  # type: ignore[no-any-return]


def test_wire_copies_join_and_a_distinct_story_on_the_topic_founds(
    new_index: Callable[[float, int], Index],
) -> None:
    """A datelined, retitled, cut copy joins the first article's story; the same politician's
    other attack (another month, another city) founds its own; so does a copy of that."""
    index = new_index(3600, 1000)
    oct_text, dec_text = str(BHUTTO_OCT["text"]), str(BHUTTO_DEC["text"])
    first = article(
        id="a",
        feed="wire",
        url="https://wire.example/1",
        title=str(BHUTTO_OCT["title"]),
        content=oct_text,
    )
    copy = article(
        id="b",
        feed="daily",
        url="https://daily.example/world/2",
        title=f"UPDATE 1-{BHUTTO_OCT['title']} | World News",
        summary="KARACHI (Reuters) - " + oct_text[:400] + " [...]",
    )
    other = article(id="c", feed="wire", title=str(BHUTTO_DEC["title"]), content=dec_text)
    other_copy = article(
        id="d",
        feed="daily",
        title="Bhutto dies",
        summary=dec_text.split("\n\n")[0] + "\n\n(Reporting by staff)",
    )
    assert "a" == _place(index, first)
    assert "a" == _place(index, copy)
    assert "c" == _place(index, other)
    assert "c" == _place(index, other_copy)
    assert ["a", "b"] == [row[0] for row in index.story("a")]
    assert ("b", "daily", copy.title, copy.url, 0) == index.story("a")[1]


def test_one_feeds_items_alike_but_for_their_titles_stay_apart(
    new_index: Callable[[float, int], Index],
) -> None:
    """A feed that gives every item the same text (a paywall stub) publishes distinct items;
    its own update of a story, with the headline's words, still folds."""
    index = new_index(3600, 1000)
    stub = (
        "This article is for subscribers only. Subscribe today to read it in full, with unlimited "
        "access to our reporting, newsletters and the archive of the last twenty years."
    )
    titles = ["Minister resigns over budget leak", "Port strike enters third week", "Rates held"]
    stories = [
        _place(index, article(id=f"p{n}", feed="paper", title=t, summary=stub))
        for n, t in enumerate(titles)
    ]
    assert ["p0", "p1", "p2"] == stories
    update = article(
        id="p3", feed="paper", title="UPDATE 2-Port strike enters third week", summary=stub
    )
    assert "p1" == _place(index, update)


def test_the_same_url_is_one_story_whatever_the_text(
    new_index: Callable[[float, int], Index],
) -> None:
    """Two items at one canonical URL (tracking parameters aside) are one story."""
    index = new_index(3600, 1000)
    a = article(id="a", url="https://Example.org/n/1?utm_source=x", title="Short")
    b = article(id="b", url="https://example.org/n/1", title="Entirely other words here")
    assert url_key(a.url) == canonical_url(a.url)
    assert "a" == _place(index, a)
    assert "a" == _place(index, b)


def test_an_agency_guid_carried_by_two_feeds_is_one_story(
    new_index: Callable[[float, int], Index],
) -> None:
    """Two feeds' items with the wire's own (non-URL) guid, different links and words, are one
    story; a URL guid is the article id already, and is not kept."""
    index = new_index(3600, 1000)
    guid = "tag:reuters.com,2026:newsml_L1N3M01"
    a = article(id="a", feed="f1", url="https://one.example/1", title="Strike", guid=guid)
    b = article(id="b", feed="f2", url="https://two.example/x", title="Walkout", guid=guid)
    c = article(id="c", feed="f3", url="https://three.example/y", title="Port", guid="other")
    assert ["a", "a", "c"] == [_place(index, x) for x in (a, b, c)]
    assert "" == shared_guid("https://wire.example/item/1")
    assert guid == shared_guid(f"  {guid} ")


def test_members_leave_with_the_window_and_the_bound(
    new_index: Callable[[float, int], Index],
) -> None:
    """A copy after the window founds a story again; beyond the bound the oldest goes first."""
    index = new_index(10, 2)
    text = "The council met on Tuesday to approve the budget for the coming year in full."
    assert "a" == _place(index, article(id="a", title="Budget", content=text), 0)
    assert "a" == _place(index, article(id="b", title="Budget", content=text), 5_000)
    index.evict(15_000)  # a (seen at 0) is out of the 10 s window; b (5 s) is not
    assert index.story_of("a") is None
    assert "a" == index.story_of("b")
    assert "a" == _place(index, article(id="c", title="Budget", content=text), 15_000)
    assert "d" == _place(
        index,
        article(id="d", title="Flood", content="Rain closed every road in the delta town."),
        15_000,
    )
    index.evict(15_000)  # bound of 2: b goes
    assert 2 == len(index)
    assert index.story_of("b") is None
    index.evict(40_000)
    assert 0 == len(index)


def test_the_first_record_of_an_article_wins(new_index: Callable[[float, int], Index]) -> None:
    """An article recorded twice (two dispatchers raced) keeps the story it was first given."""
    index = new_index(3600, 100)
    packed = bytes(range(12))
    assert index.insert("a", "s1", "", packed, "", "f", "t", "", 0)
    assert not index.insert("a", "s2", "", packed, "", "f", "t", "", 0)
    assert "s1" == index.story_of("a")


@pytest.mark.parametrize("seed", [17, 2026])
def test_the_wikinews_evaluation_set_meets_the_quality_targets(
    new_index: Callable[[float, int], Index], seed: int
) -> None:
    """On 100 real stories (many on one topic) and 400 syndicated copies: >= 95% of copies
    folded into their story, <= 1% of stories folded into another."""
    quality = evaluate(build_storyset(seed=seed), new_index(48 * 3600, 50_000))
    assert quality.copies == 400
    assert quality.folded_share >= 0.95
    assert quality.merged_share <= 0.01


def test_stories_are_listed_with_their_rules() -> None:
    """`monitor stories --rule` keeps the stories one of whose articles the rule matched."""

    def member(a: str, story: str, rules: tuple[str, ...], at: int) -> StoredMember:
        return StoredMember(
            article_id=a,
            story_id=story,
            url_key="",
            shingles=b"",
            feed=f"f-{a}",
            title=a,
            url="",
            seen_ms=at,
            rules=rules,
        )

    members = [
        member("b", "a", ("r2",), 2),
        member("a", "a", ("r1",), 1),
        member("c", "c", ("r1",), 3),
    ]
    listed = group_stories(members)
    assert [("a", ["a", "b"]), ("c", ["c"])] == [
        (s.id, [m.article_id for m in s.members]) for s in listed
    ]
    assert ["f-a", "f-b"] == listed[0].feeds
    assert ["r1", "r2"] == listed[0].rules
    assert ["a"] == [s.id for s in group_stories(members, "r2")]
    assert 2 == listed[0].to_dict()["articles"]


# The dispatcher with the desk, a local bus, state.db and a real webhook receiver.

WIRE = str(BHUTTO_OCT["text"])


def matched(article_id: str, feed: str, title: str, text: str, rule: str = "r1") -> Record:
    a = article(
        id=article_id,
        feed=feed,
        url=f"https://{feed}.example/{article_id}",
        title=title,
        content=text,
    )
    m = Match(rule_id=rule, article_id=article_id, severity="high")
    return Record(MATCHES, 0, 0, rule, MatchedArticle(match=m, article=a).to_bytes(), 0)


@pytest.fixture
async def rig(
    tmp_path: Path,
) -> AsyncIterator[tuple[Receiver, Callable[[float], Dispatcher], StateStore]]:
    receiver = Receiver()
    async with (
        serve(receiver.app()) as base,
        LocalBus(tmp_path / "bus.db") as bus,
        StateStore(tmp_path) as state,
        aiohttp.ClientSession() as session,
    ):
        receiver.base = base
        hook = HookSettings(name="hook", kind="webhook", url=receiver.url("/hook"), timeout_s=2)
        metrics = make_metrics()

        def dispatcher(window_s: float) -> Dispatcher:
            desk = StoryDesk(LocalStoryLog(state), window_s=window_s, metrics=metrics)
            return Dispatcher(
                senders={"hook": make_sender(hook, Tools(session, ThreadPoolExecutor(1)))},
                default_notify=("hook",),
                delivery=DeliveryConfig(attempts=2, backoff_s=0.01, max_backoff_s=0.01),
                settlements=state,
                bus=bus,
                metrics=metrics,
                throttle_of=lambda _: None,
                stop=asyncio.Event(),
                stories=desk,
                held=HeldStore(state),
            )

        yield receiver, dispatcher, state


async def test_three_copies_give_one_alert_listing_the_others_and_survive_a_restart(
    rig: tuple[Receiver, Callable[[float], Dispatcher], StateStore],
) -> None:
    """Three feeds' copies in one batch: one webhook naming the two other feeds; a fourth copy
    after a restart (a new desk reading state.db) sends nothing; another rule alerts once."""
    receiver, dispatcher, _ = rig
    first = dispatcher(48 * 3600)
    await first.stories.start()
    await first.handle(
        [
            matched("a", "wire", str(BHUTTO_OCT["title"]), WIRE),
            matched(
                "b", "daily", "UPDATE 1-" + str(BHUTTO_OCT["title"]), "KARACHI (AP) - " + WIRE[:600]
            ),
            matched("c", "gazette", "Bhutto targeted | World News", WIRE.split("\n\n")[0]),
        ]
    )
    ((_, body),) = receiver.received
    alert = json.loads(body)
    assert "alert" == alert["event"]
    assert {"id": "a", "articles": 3, "feeds": ["wire", "daily", "gazette"]} == {
        k: alert["story"][k] for k in ("id", "articles", "feeds")
    }
    assert ["daily", "gazette"] == [r["feed"] for r in alert["story"]["also_reported"]]

    again = dispatcher(48 * 3600)
    await again.stories.start()
    await again.handle([matched("d", "late", "Bhutto attack", "(Reuters) - " + WIRE[:300])])
    await again.handle(
        [matched("d", "late", "Bhutto attack", "(Reuters) - " + WIRE[:300], rule="r2")]
    )
    assert 2 == len(receiver.received)
    other_rule = json.loads(receiver.received[1][1])
    assert "r2" == other_rule["rule"]["id"]
    assert "a" == other_rule["story"]["id"]
    assert 4 == other_rule["story"]["articles"]


async def test_with_window_0_every_article_alerts(
    rig: tuple[Receiver, Callable[[float], Dispatcher], StateStore],
) -> None:
    """Folding off: the three copies alert three times, each a story of one."""
    receiver, dispatcher, _ = rig
    d = dispatcher(0)
    await d.stories.start()
    await d.handle([matched(i, i, "Bhutto", WIRE) for i in ("a", "b", "c")])
    assert 3 == len(receiver.received)
    assert [1, 1, 1] == [json.loads(b)["story"]["articles"] for _, b in receiver.received]


class SharedLog:
    """A story log several desks share, read like the Kafka topic: each reader its own cursor."""

    def __init__(self) -> None:
        self.records: list[StoredMember] = []

    def reader(self) -> SharedLog.Reader:
        return SharedLog.Reader(self)

    class Reader:
        def __init__(self, log: SharedLog) -> None:
            self.log, self.at = log, 0

        async def load(self, since_ms: int) -> list[StoredMember]:
            return await self.sync()

        async def sync(self) -> list[StoredMember]:
            new, self.at = self.log.records[self.at :], len(self.log.records)
            return new

        async def record(self, members: Sequence[tuple[StoredMember, str]]) -> None:
            self.log.records += [replace(m, rules=(rule,)) for m, rule in members]


def test_aliases_join_ids_and_name_a_group_by_its_smallest() -> None:
    """Joined ids form one group; a group's name is its smallest id; others stand alone."""
    aliases = Aliases()
    aliases.join("c", "b")
    aliases.join("d", "c")
    assert "b" == aliases.find("d")
    assert ("b", "c", "d") == aliases.of("c")
    assert ("x",) == aliases.of("x")


async def test_two_dispatchers_racing_on_one_story_still_alert_once_per_rule_after_a_rebalance(
    rig: tuple[Receiver, Callable[[float], Dispatcher], StateStore],
) -> None:
    """Rule A's dispatcher meets copy 2 first and founds a story; rule B's, at the same moment,
    meets copy 1 first and founds another, into which copy 2 then goes. After a rebalance,
    rule A's new dispatcher joins the two ids, so copy 3 finds A's alert settled and folds."""
    receiver, dispatcher, _ = rig
    shared = SharedLog()
    copy1 = ("c1", "wire", str(BHUTTO_OCT["title"]), WIRE)
    copy2 = ("c2", "daily", "UPDATE 1-" + str(BHUTTO_OCT["title"]), "(AP) - " + WIRE[:500])
    copy3 = ("c3", "late", "Bhutto attack", "(Reuters) - " + WIRE[:400])

    def on(d: Dispatcher, log: SharedLog.Reader) -> Dispatcher:
        d.stories.log = log
        return d

    rule_a = on(dispatcher(48 * 3600), shared.reader())
    rule_b = on(dispatcher(48 * 3600), shared.reader())
    await rule_a.handle([matched(*copy2, rule="A")])
    a_records, shared.records = shared.records, []  # rule B's dispatcher has not seen them
    await rule_b.stories.start()
    await rule_b.handle([matched(*copy1, rule="B"), matched(*copy2, rule="B")])
    shared.records += a_records  # the topic holds B's records first
    assert ["A", "B"] == [json.loads(b)["rule"]["id"] for _, b in receiver.received]

    after = on(dispatcher(48 * 3600), shared.reader())  # rule A's partition moved
    await after.stories.start()
    await after.handle([matched(*copy3, rule="A")])
    assert 2 == len(receiver.received)
    listed = group_stories(shared.records)
    assert [["c1", "c2", "c3"]] == [[m.article_id for m in s.members] for s in listed]
    assert ["A", "B"] == listed[0].rules


def test_three_hundred_copies_from_three_hundred_feeds_are_one_story(
    new_index: Callable[[float, int], Index],
) -> None:
    """A wire report carried by 300 feeds is one story: once 256 members shared its shingles,
    they proposed no candidates any more (a shingle that common was taken for boilerplate), and
    every further copy founded a story of its own, each an alert."""
    index = new_index(3600, 10_000)
    text = str(BHUTTO_OCT["text"])
    stories = {
        _place(
            index,
            article(
                id=f"c{n}",
                feed=f"outlet{n}",
                url=f"https://outlet{n}.example/world/{n}",
                title=str(BHUTTO_OCT["title"]),
                content=text,
            ),
        )
        for n in range(300)
    }
    assert {"c0"} == stories
    assert 300 == len(index.story("c0"))


def test_a_long_running_story_keeps_folding_as_its_first_members_leave_the_window(
    new_index: Callable[[float, int], Index],
) -> None:
    """Copies keep coming for longer than the window: each joins the story while a member of
    it is still in the window, however many copies came before."""
    index = new_index(60, 10_000)  # a minute's window; a copy every second, for five minutes
    text = str(BHUTTO_OCT["text"])
    stories = set()
    for n in range(300):
        at_ms = n * 1000
        index.evict(at_ms)
        copy = article(
            id=f"r{n}",
            feed=f"outlet{n}",
            url=f"https://outlet{n}.example/r/{n}",
            title=str(BHUTTO_OCT["title"]),
            content=text,
        )
        stories.add(_place(index, copy, at_ms))
    assert {"r0"} == stories
