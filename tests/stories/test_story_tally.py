"""A big story costs each placement the same as a small one: the story an alert carries is
kept up to date member by member (`monitor.stories.tally`), lists a bounded number of members
and counts the rest. These tests count the work (members listed and serialized), not time."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Sequence

from monitor.alerts.render import also_reported
from monitor.kernel.metrics import make_metrics
from monitor.kernel.models import Alert, Article, Match, MatchedArticle
from monitor.stories.desk import StoryDesk
from monitor.stories.listing import Listed, print_stories
from monitor.stories.store import StoredMember
from monitor.stories.tally import HEAD, TAIL, Tallies
from tests.support.schemas import validator


class NoLog:
    """A story log that keeps nothing: the desk's own work is what is measured."""

    async def load(self, since_ms: int) -> list[StoredMember]:
        return []

    async def record(self, members: Sequence[tuple[StoredMember, str]]) -> None:
        return None

    async def sync(self) -> list[StoredMember]:
        return []


def home_page_item(i: int, rule: str = "r1") -> MatchedArticle:
    """An item of a feed that links every item to its home page: one story of them all."""
    a = Article(
        id=f"a{i}",
        feed=f"f{i % 3}",
        url="https://home.example/",
        title=f"Item {i} of the day",
        content=f"Body {i} with a few words of its own, {i}.",
    )
    return MatchedArticle(match=Match(rule_id=rule, article_id=a.id, severity="high"), article=a)


async def test_a_story_of_thousands_lists_a_bounded_number_and_counts_the_rest() -> None:
    """3,000 copies: every alert lists at most HEAD + TAIL members (the first and the latest)
    and says how many it does not list; the body still matches the published schema."""
    clock = [1_000_000.0]
    desk = StoryDesk(NoLog(), window_s=3600, metrics=make_metrics(), clock=lambda: clock[0])
    listed_sizes = []
    for i in range(3000):
        m = home_page_item(i)
        clock[0] += 0.01
        await desk.place([m])
        story = desk.story(m.article)
        listed_sizes.append(len(story.articles))
        assert i + 1 == story.size
    assert HEAD + TAIL == max(listed_sizes)
    m = home_page_item(3000)
    await desk.place([m])
    story = desk.story(m.article)
    ids = [r.article_id for r in story.articles]
    assert [f"a{i}" for i in range(HEAD)] == ids[:HEAD]  # who broke it
    assert [f"a{i}" for i in range(3001 - TAIL, 3001)] == ids[HEAD:]  # who carries it now
    assert ("f0", "f1", "f2") == story.feeds

    body = Alert.for_channel(m, "hook", story).to_dict()
    validator("alert").validate(body)
    assert 3001 == body["story"]["articles"]
    assert HEAD + TAIL - 1 == len(body["story"]["also_reported"])
    assert 3001 - (HEAD + TAIL) == body["story"]["not_listed"]
    assert len(json.dumps(body)) < 50_000
    assert also_reported(Alert.for_channel(m, "hook", story)).endswith(" and 2990 more")


async def test_a_small_story_lists_every_member_and_no_count_beyond() -> None:
    """Below the cap, the alert's story is what it always was: every member, no extra field."""
    desk = StoryDesk(NoLog(), window_s=3600, metrics=make_metrics())
    for i in range(3):
        await desk.place([home_page_item(i)])
    m = home_page_item(3)
    await desk.place([m])
    body = Alert.for_channel(m, "hook", desk.story(m.article)).to_dict()
    assert 4 == body["story"]["articles"]
    assert ["a0", "a1", "a2"] == [r["article_id"] for r in body["story"]["also_reported"]]
    assert "not_listed" not in body["story"]


def test_tallies_forget_members_with_the_index_rule_and_stay_consistent() -> None:
    """Random stories, a window and a bound: each story's count and listed members are those
    of a plain list of its members kept with the same window and bound."""
    rng = random.Random(7)
    tallies = Tallies(window_ms=1000, max_members=40)
    members: list[tuple[str, str, str, int]] = []
    now = 0
    for i in range(2000):
        now += rng.randrange(0, 30)
        story = f"s{rng.randrange(5)}"
        feed = f"f{rng.randrange(4)}"
        tallies.add(f"a{i}", story, feed, "t", "u", now)
        members.append((f"a{i}", story, feed, now))
        tallies.evict(now)
        while members and (members[0][3] < now - 1000 or len(members) > 40):
            members.pop(0)
        assert len(members) == len(tallies)
        for s in {m[1] for m in members}:
            mine = [m for m in members if m[1] == s]
            told = tallies.story(s, (s,))
            assert len(mine) == told.size
            assert set(told.feeds) == {m[2] for m in mine}
            listed = [r.article_id for r in told.articles]
            assert set(listed) <= {m[0] for m in mine}
            assert len(listed) <= HEAD + TAIL
            if len(mine) <= HEAD:
                assert [m[0] for m in mine] == listed
            assert mine[-1][0] == listed[-1]  # the latest member is always listed


def test_stories_list_a_big_story_in_part_and_say_how_many_more() -> None:
    """`monitor stories` shows the first and latest members of a big story and the count."""
    members = tuple(
        StoredMember(
            article_id=f"a{i}",
            story_id="a0",
            url_key="",
            shingles=b"",
            feed="f",
            title=f"T{i}",
            url="",
            seen_ms=i * 1000,
            rules=("r1",),
        )
        for i in range(500)
    )
    out = io.StringIO()
    print_stories([Listed("a0", members)], as_json=False, label="last day", out=out)
    lines = out.getvalue().splitlines()
    assert any(f"and {500 - HEAD - TAIL} more articles" in line for line in lines)
    assert HEAD + TAIL == sum(1 for line in lines if "  f  T" in line)
