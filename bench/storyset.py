"""A labelled story-folding set from real text: Wikinews articles and copies of each made with the
edits syndication makes, and how well `monitor.stories` folds them.

Each of the 100 articles is a story. Its copies carry it the way other outlets' feeds do: a
dateline, a headline prefix or suffix or a headline of their own, only the first paragraph or a
body cut mid-sentence, a credit line, an update paragraph on top, a death toll changed, curly
quotes. The articles themselves are the distinct stories; many share a topic (suicide attacks in
Pakistan, earthquakes, Baghdad), so folding two of them together is the error to count.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from monitor.feeds.urls import url_key
from monitor.kernel.models import Article, make_article
from monitor.stories.index import Index, StoryIndex
from monitor.stories.sketch import lead

WIKINEWS = Path(__file__).resolve().parent.parent / "tests" / "data" / "wikinews" / "articles.jsonl"
CITIES = ("LONDON", "ISLAMABAD", "NEW YORK", "BAGHDAD", "TOKYO", "GENEVA", "NAIROBI")
AGENCIES = ("Reuters", "AP", "AFP", "dpa")


@dataclass(frozen=True, slots=True)
class Item:
    """One article of the set and the story it truly belongs to."""

    story: int
    original: bool
    article: Article


@dataclass(frozen=True, slots=True)
class Quality:
    """How a folding run did on the set."""

    copies: int
    copies_folded: int  # copies that ended in the story of their original
    stories: int
    stories_merged: int  # distinct stories that ended in a story with another one
    seconds: float  # assigning every article, sketch included

    @property
    def folded_share(self) -> float:
        """Share of copies folded into their story (target >= 0.95)."""
        return self.copies_folded / self.copies

    @property
    def merged_share(self) -> float:
        """Share of distinct stories wrongly folded together (target <= 0.01)."""
        return self.stories_merged / self.stories


def load_wikinews(path: Path = WIKINEWS) -> list[dict[str, object]]:
    """The articles, as stored."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p.strip()]


def _sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+", text)


def _headline(title: str, rng: random.Random, text: str) -> str:
    choices: list[Callable[[], str]] = [
        lambda: title,
        lambda: f"UPDATE {rng.randint(1, 4)}-{title}",
        lambda: f"{title} | World News",
        lambda: f"{title} - {rng.choice(AGENCIES)}",
        lambda: f"BREAKING: {title}",
        lambda: title.upper() if len(title) < 60 else title,
        # a headline of the outlet's own: the lead's first words
        lambda: " ".join(_sentences(text)[0].split()[:10]),
    ]
    return rng.choice(choices)()


# A count: a whole number on its own, after no name or number sign, before a lower-case word
# ("at least 12 people", "a further 45 wounded"); not a time, a decimal, a year, a date or an age
# ("21:43", "8.9", "2007", "March 19", "75-year-old").
NUMBER = re.compile(r"(?<![\w.:,/$#-])(\d{1,4})(?![\w.:,/%-]) (?=[a-z])")


def _update_count(text: str, by: int) -> str:
    """The text with its first count raised by `by`."""
    for found in NUMBER.finditer(text):
        before = text[: found.start(1)].split()
        if 1900 <= int(found[1]) <= 2099 or (before and before[-1][:1].isupper()):
            continue
        return text[: found.start(1)] + str(int(found[1]) + by) + text[found.end(1) :]
    return text


def _body(text: str, rng: random.Random) -> str:
    paras = _paragraphs(text)
    edit = rng.randrange(6)
    if edit == 0:  # the feed carries the lead paragraph only (a dateline line is no lead)
        body = next((p for p in paras if len(p.split()) >= 15), paras[0])
    elif edit == 1:  # cut mid-sentence, as summaries are
        body = text[: rng.randint(250, 600)].rsplit(" ", 1)[0] + " [...]"
    elif edit == 2:  # the first two or three paragraphs
        body = "\n\n".join(paras[: rng.randint(2, 3)])
    elif edit == 3:  # an update paragraph on top
        body = "Adds comment from officials, details of casualties.\n\n" + "\n\n".join(paras[:4])
    elif edit == 4:  # a toll updated: the first count in the lead changes
        body = _update_count(text, rng.randint(2, 9))
    else:
        body = text
    if rng.random() < 0.6:
        city = rng.choice(CITIES)
        body = f"{city} ({rng.choice(AGENCIES)}) - {body}"
    if rng.random() < 0.4:
        body += "\n\n(Reporting by Staff Writers; Editing by the World Desk)"
    if rng.random() < 0.3:
        body = body.replace('"', "\u201c").replace("'", "\u2019")
    return body


def build_storyset(*, copies: int = 4, seed: int = 17) -> list[Item]:
    """The articles and `copies` copies of each, in a shuffled order of arrival."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    items: list[Item] = []
    for n, raw in enumerate(load_wikinews()):
        title, text = str(raw["title"]), str(raw["text"])
        items.append(
            Item(
                n,
                True,
                make_article(
                    id=f"s{n}-0",
                    feed=f"wire-{n % 5}",
                    url=str(raw["url"]),
                    title=title,
                    content=text,
                ),
            )
        )
        for c in range(1, copies + 1):
            body = _body(text, rng)
            short = rng.random() < 0.5
            items.append(
                Item(
                    n,
                    False,
                    make_article(
                        id=f"s{n}-{c}",
                        feed=f"outlet-{c}",
                        url=f"https://outlet-{c}.example/news/{n}-{rng.randrange(10**6)}",
                        title=_headline(title, rng, text),
                        summary=body if short else _paragraphs(body)[0],
                        content="" if short else body,
                    ),
                )
            )
    rng.shuffle(items)
    return [
        Item(i.story, i.original, _at(i.article, start + timedelta(seconds=30 * k)))
        for k, i in enumerate(items)
    ]


def _at(article: Article, when: datetime) -> Article:
    return make_article(
        id=article.id,
        feed=article.feed,
        url=article.url,
        title=article.title,
        summary=article.summary,
        content=article.content,
        fetched_at=when,
    )


@dataclass(frozen=True, slots=True)
class Folded:
    """A set folded in its order of arrival: each article's story, and what it cost."""

    story_of: dict[str, str]  # article id -> story id
    truth: dict[str, set[int]]  # story id -> the true stories of its articles
    originals: dict[int, str]  # true story -> the story id its original ended in
    copies: list[Item]
    folded: int  # copies that ended in the story of their original
    seconds: float


def fold(items: list[Item], index: Index) -> Folded:
    """Assign every item in order (the story id is `assign`'s first value) and compare the
    stories made with the truth."""
    story_of: dict[str, str] = {}
    started = time.perf_counter()
    for item in items:
        a = item.article
        seen = int(a.fetched_at.timestamp() * 1000) if a.fetched_at else 0
        story_of[a.id] = index.assign(
            a.id, url_key(a.url), a.title, lead(a), a.feed or "", a.url, seen
        )[0]
    seconds = time.perf_counter() - started
    truth: dict[str, set[int]] = {}
    for item in items:
        truth.setdefault(story_of[item.article.id], set()).add(item.story)
    originals = {i.story: story_of[i.article.id] for i in items if i.original}
    copies = [i for i in items if not i.original]
    folded = sum(story_of[i.article.id] == originals[i.story] for i in copies)
    return Folded(story_of, truth, originals, copies, folded, seconds)


def evaluate(items: list[Item], index: Index | None = None) -> Quality:
    """Fold the items in their order of arrival and score the stories made."""
    f = fold(items, index if index is not None else StoryIndex(48 * 3600))
    merged = sum(len(f.truth[s]) > 1 for s in f.originals.values())
    return Quality(len(f.copies), f.folded, len(f.originals), merged, f.seconds)


if __name__ == "__main__":
    q = evaluate(build_storyset())
    print(
        q,
        f"folded {q.folded_share:.3f} merged {q.merged_share:.3f}",
        f"{q.seconds / (q.copies + q.stories) * 1e6:.1f} us/article",
    )


SEEDS = (17, 2026, 7)


def story_rows() -> list[dict[str, str]]:
    """`make bench` rows: fold quality on the evaluation set, and the cost of assignment
    against the matcher's on the same articles."""
    from bench.run import RUNS, median_rate, row
    from bench.workload import articles, names, rule_set, vocabulary
    from monitor.matching.compiler import compile_rules
    from monitor.matching.matcher import match_article
    from monitor.stories.index import new_index

    rows = []
    results = [evaluate(build_storyset(seed=s), new_index(48 * 3600)) for s in SEEDS]
    copies = sum(q.copies for q in results)
    folded = sum(q.copies_folded for q in results)
    stories = sum(q.stories for q in results)
    merged = sum(q.stories_merged for q in results)
    label = f"{len(SEEDS)} seeds x 100 Wikinews stories, 400 copies each"
    rows.append(
        row(
            f"stories: copies folded into their story ({label})",
            f"{folded / copies:.1%}",
            ">= 95%",
            f"{folded:,} of {copies:,}",
        )
    )
    rows.append(
        row(
            f"stories: distinct stories folded together ({label})",
            f"{merged / stories:.1%}",
            "<= 1%",
            f"{merged} of {stories}",
        )
    )
    words, people = vocabulary(100_000), names(200_000)
    docs = articles(200, words, people)
    wiki = [i.article for i in build_storyset(seed=SEEDS[0])]
    for size in (10_000, 100_000):
        compiled = compile_rules(rule_set(size, words, people))
        sample = docs if size == 10_000 else docs[:100]
        cases = (
            ("the workload's articles", sample),
            ("real text, 80% copies: more candidates per article; few watches fire", wiki[:200]),
        )
        for name, items in cases:
            match_rate = median_rate(partial(match_article, c=compiled), items)
            rate = _assign_rate(items, RUNS)
            rows.append(
                row(
                    f"stories: assignment cost vs matching, {size:,} rules ({name})",
                    f"{1e6 / rate:.1f} us/article ({rate:,.0f}/s)",
                    "< 10% of matching",
                    f"matching the same articles {1e6 / match_rate:.0f} us/article",
                    f"{match_rate / rate:.1%}",
                )
            )
        del compiled
    python_rate = _assign_rate(wiki, 3, native=False)
    rows.append(
        row(
            "stories: assignment, Python index (the fallback), Wikinews copies",
            f"{1e6 / python_rate:.1f} us/article",
        )
    )
    return rows


def _assign_rate(items: list[Article], runs: int, *, native: bool = True) -> float:
    """Median articles per second placed in a fresh index (sketch, search and insert)."""
    from monitor.stories.index import new_index

    rates = []
    for _ in range(runs):
        index = new_index(48 * 3600) if native else StoryIndex(48 * 3600)
        started = time.perf_counter()
        for n, a in enumerate(items):
            index.assign(a.id, url_key(a.url), a.title, lead(a), a.feed or "", a.url, n)
        rates.append(len(items) / (time.perf_counter() - started))
    rates.sort()
    return rates[len(rates) // 2]
