"""Every structure the story desk keeps stays at its bound however many articles pass, the
oldest evicted first and counted, and /metrics reports each one's fill (entries, estimated
bytes, bound, evictions). Aliases, unbounded before, are forgotten once no article of their
story is left in the window, and beyond their bound the oldest group goes."""

from __future__ import annotations

from collections.abc import Sequence

from monitor.kernel.metrics import Metrics, make_metrics
from monitor.kernel.models import Article, Match, MatchedArticle
from monitor.stories.aliases import Aliases
from monitor.stories.desk import StoryDesk
from monitor.stories.store import StoredMember

BOUND = 30
STRUCTURES = ("story_members", "story_tallies", "matched_pairs", "story_reasons", "story_aliases")


class QueuedLog:
    """A story log that records nothing and hands `sync` what a test queued: members recorded
    by another dispatcher."""

    def __init__(self) -> None:
        self.queued: list[StoredMember] = []

    async def load(self, since_ms: int) -> list[StoredMember]:
        return []

    async def record(self, members: Sequence[tuple[StoredMember, str]]) -> None:
        return None

    async def sync(self) -> list[StoredMember]:
        found, self.queued = self.queued, []
        return found


def distinct(i: int, rule: str) -> MatchedArticle:
    """An article of its own story: its own URL and words."""
    a = Article(
        id=f"article-{i:06d}",
        feed=f"f{i % 5}",
        url=f"https://news.example/{i}",
        title=f"Report {i} on zeppelin number {i * 7}",
        content=f"Zeppelin {i} was seen over town {i * 3} by {i * 11} people at {i % 24} hours.",
    )
    return MatchedArticle(match=Match(rule_id=rule, article_id=a.id, severity="high"), article=a)


def sample(metrics: Metrics, name: str, structure: str) -> float:
    value = metrics.registry.get_sample_value(name, {"structure": structure})
    assert value is not None, f"{name}{{structure={structure!r}}} is not exported"
    return value


async def test_each_structure_stays_at_its_bound_and_its_gauges_report_it() -> None:
    """2,000 distinct articles, each matched by two rules, through a desk bounded at 30
    articles: after every batch each structure holds at most its bound; at the end each is
    full, its gauge says so, and the rest were evicted and counted."""
    metrics = make_metrics()
    clock = [1_000_000.0]
    desk = StoryDesk(
        QueuedLog(), window_s=3600, metrics=metrics, max_articles=BOUND, clock=lambda: clock[0]
    )
    bounds = {s: sample(metrics, "monitor_dispatcher_bound", s) for s in STRUCTURES}
    assert {"story_members": 30, "story_tallies": 30, "matched_pairs": 120} == {
        s: bounds[s] for s in STRUCTURES[:3]
    }
    for i in range(0, 2000, 4):
        clock[0] += 0.01
        await desk.place([distinct(j, r) for j in range(i, i + 4) for r in ("r1", "r2")])
        for structure in STRUCTURES:
            entries = sample(metrics, "monitor_dispatcher_entries", structure)
            assert entries <= bounds[structure], f"{structure} holds {entries} > its bound"
    assert BOUND == len(desk.index or ())
    for structure, kept in (
        ("story_members", 30),
        ("story_tallies", 30),
        ("matched_pairs", 120),
        ("story_reasons", 30),
    ):
        assert kept == sample(metrics, "monitor_dispatcher_entries", structure)
        per_entry = sample(metrics, "monitor_dispatcher_bound_bytes", structure) / bounds[structure]
        assert kept * per_entry == sample(metrics, "monitor_dispatcher_bytes", structure) > 0
    assert 2000 - 30 == sample(metrics, "monitor_dispatcher_evicted_total", "story_members")
    assert 2000 - 30 == sample(metrics, "monitor_dispatcher_evicted_total", "story_tallies")
    assert 4000 - 120 == sample(metrics, "monitor_dispatcher_evicted_total", "matched_pairs")
    assert 2000 - 30 == sample(metrics, "monitor_dispatcher_evicted_total", "story_reasons")
    # The newest stay: the last article is still placed in its story.
    assert "article-001999" == desk.story(distinct(1999, "r1").article).id


async def test_an_alias_lasts_while_its_story_has_members_in_the_window_then_goes() -> None:
    """Another dispatcher recorded this desk's article under another story id: the ids are
    joined. The alias holds while the story has a member in the window, however many other
    stories pass (an alert settled under either id still counts for both: no resend); once
    the story's last member leaves, the alias is forgotten (nothing can be placed under those
    ids again) and counted."""
    metrics = make_metrics()
    clock = [1_000_000.0]
    log = QueuedLog()
    desk = StoryDesk(
        log, window_s=3600, metrics=metrics, max_articles=BOUND, clock=lambda: clock[0]
    )
    first = distinct(0, "r1")
    await desk.place([first])
    stored = StoredMember(
        article_id=first.article.id,
        story_id="other-dispatchers-id",
        url_key=first.article.url,
        shingles=b"",
        feed="f0",
        title=first.article.title,
        url=first.article.url,
        seen_ms=int(clock[0] * 1000),
        rules=("r2",),
    )
    log.queued.append(stored)
    for i in range(1, BOUND):  # the window fills up to its bound; the first article stays
        clock[0] += 0.01
        await desk.place([distinct(i, "r1")])
        story = desk.story(first.article)
        assert ("other-dispatchers-id",) == story.aliases
    assert 2 == sample(metrics, "monitor_dispatcher_entries", "story_aliases")
    clock[0] += 0.01
    await desk.place([distinct(BOUND, "r1")])  # the first article leaves: its story is closed
    assert 0 == sample(metrics, "monitor_dispatcher_entries", "story_aliases")
    assert 2 == sample(metrics, "monitor_dispatcher_evicted_total", "story_aliases")
    assert ("other-dispatchers-id",) == Aliases().of("other-dispatchers-id")


def test_aliases_beyond_their_bound_forget_the_oldest_group_first() -> None:
    """A union-find bounded at 10 ids, 100 pairs joined: it keeps the latest 5 groups whole,
    counts the 190 ids forgotten, and a forgotten id stands alone again."""
    aliases = Aliases(max_ids=10)
    for i in range(100):
        aliases.join(f"a{i:03d}", f"b{i:03d}")
        assert len(aliases) <= 10
    assert 10 == len(aliases)
    assert 190 == aliases.evicted
    assert ("a099", "b099") == aliases.of("b099")
    assert ("a095", "b095") == aliases.of("a095")
    assert ("a094",) == aliases.of("a094")


def test_a_group_is_forgotten_only_when_none_of_its_ids_is_live() -> None:
    """Three ids joined; one of them closes while another is live: kept. All dead: gone."""
    aliases = Aliases(max_ids=100)
    aliases.join("s1", "s2")
    aliases.join("s2", "s3")
    live = {"s3"}
    aliases.forget_dead(["s1"], live.__contains__)
    assert ("s1", "s2", "s3") == aliases.of("s2")
    live.clear()
    aliases.forget_dead(["s3"], live.__contains__)
    assert 0 == len(aliases)
    assert 3 == aliases.evicted
    aliases.forget_dead(["never-joined"], live.__contains__)
    assert 3 == aliases.evicted
