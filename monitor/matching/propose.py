"""A starting watch from an article: its entities, and its rarest multi-word phrases among the
stored articles, as YAML text a person then edits. Pure."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence

from monitor.kernel.models import Article

_WORD = re.compile(r"[^\W\d_]{3,}(?:['\u2019-][^\W\d_]+)*", re.UNICODE)
# Words that make a phrase common whatever its other words: a phrase never starts or ends on one.
STOPWORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "that",
        "this",
        "from",
        "have",
        "has",
        "had",
        "was",
        "were",
        "are",
        "been",
        "will",
        "would",
        "could",
        "should",
        "into",
        "onto",
        "over",
        "under",
        "about",
        "after",
        "before",
        "than",
        "then",
        "they",
        "them",
        "their",
        "there",
        "these",
        "those",
        "which",
        "while",
        "what",
        "when",
        "where",
        "who",
        "whom",
        "whose",
        "said",
        "says",
        "also",
        "more",
        "most",
        "many",
        "much",
        "some",
        "such",
        "only",
        "other",
        "its",
        "his",
        "her",
        "our",
        "your",
        "not",
        "but",
        "all",
        "any",
        "can",
        "may",
        "new",
        "one",
        "two",
        "out",
        "off",
        "per",
        "via",
    ]
)
MAX_PHRASES = 6


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def phrases(text: str, sizes: Sequence[int] = (2, 3)) -> set[str]:
    """The runs of 2 and 3 words in `text` (lower case) that neither start nor end on a
    stopword."""
    found: set[str] = set()
    for sentence in re.split(r"[.!?;:\n()\[\]\"“”]", text):
        words = _words(sentence)
        for size in sizes:
            for n in range(len(words) - size + 1):
                run = words[n : n + size]
                if run[0] in STOPWORDS or run[-1] in STOPWORDS:
                    continue
                found.add(" ".join(run))
    return found


def article_text(article: Article) -> str:
    """The article's searchable text (title, summary, content)."""
    return "\n".join((article.title, article.summary, article.content))


def rarest(article: Article, others: Iterable[Article], limit: int = MAX_PHRASES) -> list[str]:
    """The article's phrases that fewest other articles hold; in its title first on a tie,
    then the longer, then in order of the text."""
    own = phrases(article_text(article))
    counts: Counter[str] = Counter()
    for other in others:
        if other.id != article.id:
            counts.update(own & phrases(article_text(other)))
    title = phrases(article.title)
    order = {p: article_text(article).lower().find(p) for p in own}
    ranked = sorted(own, key=lambda p: (counts[p], p not in title, -len(p), order[p], p))
    chosen: list[str] = []
    for phrase in ranked:
        if any(phrase in kept or kept in phrase for kept in chosen):
            continue  # "air defence" and "joint air defence" say the same: keep one
        chosen.append(phrase)
        if len(chosen) == limit:
            break
    return chosen


def fresh_id(title: str, taken: Collection[str]) -> str:
    """An id for the new watch, from the title's first words, not in `taken`."""
    base = "-".join(_words(title)[:4]) or "watch"
    base = re.sub(r"[^a-z0-9-]+", "", base.encode("ascii", "ignore").decode()) or "watch"
    base = f"like-{base}"[:60].rstrip("-")
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def watch_yaml(rule_id: str, title: str, terms: Sequence[str], entities: Sequence[str]) -> str:
    """The proposed watch as YAML text, in shadow mode (it sends nothing until made live)."""
    lines = [
        f"id: {rule_id}",
        f"description: {json.dumps('like: ' + title[:100], ensure_ascii=False)}",
        "mode: shadow",
    ]
    if terms:
        lines += [
            "match:",
            f"  any: [{', '.join(json.dumps(t, ensure_ascii=False) for t in terms)}]",
        ]
    if entities:
        lines += ["entities:", f"  any: [{', '.join(json.dumps(e) for e in entities)}]"]
    return "\n".join(lines) + "\n"
