"""Which story an article belongs to: the recent articles, indexed by URL and shingle. Pure.

An article joins the story of the earlier article it most resembles (the same URL, or most of
the shorter one's shingles in common: see `monitor.stories.sketch`), or founds a story of its
own whose id is its own article id. `url_key` holds the article's keys, one a line: its
canonical URL, and its feed's guid when that is not a URL. A candidate resembling by text must
also pass three checks, tried in order of share (the earliest member first on a tie) until one
passes:
- its facts agree (`monitor.stories.facts`): a templated event (another quake, another CVE)
  shares the sentences but not the numbers, identifiers and names;
- two items of one feed share a run of title words: a feed that gives every item the same text
  (a paywall stub, a podcast blurb) publishes distinct items, while its own updates of a story
  keep the headline's words ("UPDATE 2-...");
- items of two feeds with no run of title words in common share two title key words (or
  two of one's are in the other's lead): two feeds' stubs under unrelated headlines are not a
  story;
- the headlines do not name other things in one template ("Warning for Oberbayern" and
  "... for Schwaben", see `titles_differ`).
At most MAX_TRIED candidates are tried.
Only the first POSTED_PER_STORY members of a story have their shingles in the postings: a
report carried by hundreds of feeds would otherwise make its own shingles common enough to be
skipped as boilerplate (COMMON_POSTINGS), and each further copy would found a story of its own.
The members past them are kept and listed; when a posted member leaves, the oldest of them
takes its place, so a story that outlives its first members keeps folding.
Founding by article id makes two dispatchers that see one new article give it one story id
without talking to each other.

This is the reference implementation, and the fallback where the native extension is missing;
`monitor_native.StoryIndex` does the same, about ten times faster (`new_index` picks).
"""

from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass
from typing import Final, Protocol

from monitor.kernel import native
from monitor.stories import facts as fact_sets
from monitor.stories.facts import FACT_CHARS, FACT_TOKENS
from monitor.stories.sketch import LEAD_WORDS, TITLE_BIT, shingles, sketch, unpack, words

THRESHOLD: Final = 0.4  # share of the smaller article's shingles found in the other
MIN_SHARED: Final = 4  # fewer shingles in common is chance, however short the articles
COMMON_POSTINGS: Final = 256  # a shingle this many articles share proposes no candidates
POSTED_PER_STORY: Final = 64  # members of one story whose shingles are in the postings

TITLE_KEY_MIN: Final = 4  # title words this long (or with a digit) tie two headlines
NAMED: Final = 3  # words a template's headline names its event by ("for Schwaben")
MAX_TRIED: Final = 16  # candidates above the threshold tried for agreement, best first
# Words a desk puts on a headline: no part of what it says ("UPDATE 2-", "BREAKING:")
DASHES: Final = frozenset({"|", "-", "\u2013", "\u2014"})
DESK_WORDS: Final = frozenset(
    {"update", "updated", "breaking", "exclusive", "refile", "corrected", "urgent", "flash"}
)
# Words that long that any two headlines may share
TITLE_STOPWORDS: Final = frozenset(
    {
        *("with", "from", "after", "over", "says", "said", "that", "this", "will", "into"),
        *("amid", "about", "their", "have", "more", "than", "been", "were", "what", "when"),
        *("where", "which", "while", "year", "years", "first", "last", "news", "update"),
        *("breaking", "report", "reports", "live", "video", "watch", "photos", "today", "week"),
    }
)

# (article id, feed, title, url, seen at in ms since the epoch)
MemberRow = tuple[str, str, str, str, int]
# Why an article is in its story: ("founded" | "url" | "guid" | "text", the member it was
# matched with, the share of shingles in common, the facts that agreed)
Why = tuple[str, str, float, tuple[str, ...]]


class Index(Protocol):
    """What the story desk needs of an index: the Python one below, or the native one."""

    def assign(
        self,
        article_id: str,
        url_key: str,
        title: str,
        body: str,
        feed: str,
        url: str,
        seen_ms: int,
    ) -> tuple[str, bytes, str, Why]:
        """Find the article's story, add the article to it; return the story id, the sketch,
        the lead prefix facts read (`monitor.stories.facts.lead_prefix`), and why."""
        ...

    def insert(
        self,
        article_id: str,
        story_id: str,
        url_key: str,
        shingles: bytes,
        lead: str,
        feed: str,
        title: str,
        url: str,
        seen_ms: int,
    ) -> bool:
        """Add a member recorded elsewhere (stored, or by another dispatcher); first wins."""
        ...

    def story_of(self, article_id: str) -> str | None:
        """The story of an article still in the index."""
        ...

    def story(self, story_id: str) -> list[MemberRow]:
        """A story's members in the order they were added."""
        ...

    def evict(self, now_ms: int) -> None:
        """Forget members seen before the window, and the oldest beyond the bound."""
        ...

    def __len__(self) -> int: ...


@dataclass(slots=True)
class _Member:
    serial: int
    article_id: str
    story_id: str
    url_key: str
    shingles: frozenset[int]
    packed: bytes
    lead: str  # the lead prefix its facts are read from
    row: MemberRow
    facts: dict[int, set[int]] | None = None  # made when it is first a candidate
    posted: bool = False  # its shingles are in the postings (see POSTED_PER_STORY)

    def facts_by_slot(self) -> dict[int, set[int]]:
        """Its facts, made once."""
        if self.facts is None:
            self.facts = fact_sets.by_slot(fact_sets.facts(self.row[2], self.lead))
        return self.facts


class StoryIndex:
    """The members of the stories still open: seen within `window_s`, at most `max_members`."""

    def __init__(self, window_s: float, max_members: int = 50_000) -> None:
        self.window_ms = int(window_s * 1000)
        self.max_members = max_members
        self._members: dict[str, _Member] = {}  # in the order they were added
        self._stories: dict[str, list[str]] = {}
        self._by_url: dict[str, str] = {}
        self._postings: dict[int, set[str]] = {}
        self._posted: dict[str, int] = {}  # by story: members in the postings
        self._unposted: dict[str, deque[str]] = {}  # by story: the others, oldest first
        self._serial = 0

    def __len__(self) -> int:
        return len(self._members)

    def assign(
        self,
        article_id: str,
        url_key: str,
        title: str,
        body: str,
        feed: str,
        url: str,
        seen_ms: int,
    ) -> tuple[str, bytes, str, Why]:
        """Find the article's story, add the article to it; return the story id, the sketch,
        the lead prefix, and why (a member already in the index: "known")."""
        known = self._members.get(article_id)
        if known is not None:
            return known.story_id, known.packed, known.lead, ("known", "", 0.0, ())
        packed = sketch(title, body)
        lead = fact_sets.lead_prefix(body)
        story_id, why = self._find(article_id, url_key, unpack(packed), feed, title, lead)
        self.insert(article_id, story_id, url_key, packed, lead, feed, title, url, seen_ms)
        return story_id, packed, lead, why

    def _find(
        self,
        article_id: str,
        url_key: str,
        shingles: frozenset[int],
        feed: str,
        title: str,
        lead: str,
    ) -> tuple[str, Why]:
        for key in url_key.split("\n"):
            if key and key in self._by_url:
                other = self._members[self._by_url[key]]
                kind = "guid" if key.startswith("guid:") else "url"
                return other.story_id, (kind, other.article_id, 0.0, ())
        votes: Counter[str] = Counter()
        title_votes: Counter[str] = Counter()
        for shingle in shingles:
            posting = self._postings.get(shingle)
            if posting is not None and len(posting) < COMMON_POSTINGS:
                votes.update(posting)
                if shingle & TITLE_BIT:
                    title_votes.update(posting)
        ranked: list[tuple[float, int, _Member]] = []
        for candidate, shared in votes.items():
            if shared < MIN_SHARED:
                continue
            other = self._members[candidate]
            # `shared` undercounts only by the common shingles skipped above.
            share = shared / min(len(shingles), len(other.shingles))
            if share >= THRESHOLD:
                ranked.append((-share, other.serial, other))
        ranked.sort(key=lambda r: (r[0], r[1]))
        found = fact_sets.facts(title, lead) if ranked else []
        core = title_core(title)[:FACT_TOKENS] if ranked else []
        for negative_share, _, other in ranked[:MAX_TRIED]:
            titled = title_votes[other.article_id] > 0
            agreed = _agrees(other, titled, found, core, feed, title, lead)
            if agreed is not None:
                return other.story_id, ("text", other.article_id, -negative_share, agreed)
        return article_id, ("founded", "", 0.0, ())

    def insert(
        self,
        article_id: str,
        story_id: str,
        url_key: str,
        shingles: bytes,
        lead: str,
        feed: str,
        title: str,
        url: str,
        seen_ms: int,
    ) -> bool:
        """Add a member recorded elsewhere (stored, or by another dispatcher); first wins."""
        if article_id in self._members:
            return False
        found = unpack(shingles)
        self._serial += 1
        member = self._members[article_id] = _Member(
            self._serial,
            article_id,
            story_id,
            url_key,
            found,
            shingles,
            fact_sets.lead_prefix(lead),
            (article_id, feed, title, url, seen_ms),
        )
        self._stories.setdefault(story_id, []).append(article_id)
        for key in url_key.split("\n"):
            if key:
                self._by_url.setdefault(key, article_id)
        if self._posted.get(story_id, 0) < POSTED_PER_STORY:
            self._post(member)
        else:
            self._unposted.setdefault(story_id, deque()).append(article_id)
        return True

    def _post(self, member: _Member) -> None:
        member.posted = True
        self._posted[member.story_id] = self._posted.get(member.story_id, 0) + 1
        for shingle in member.shingles:
            self._postings.setdefault(shingle, set()).add(member.article_id)

    def story_of(self, article_id: str) -> str | None:
        """The story of an article still in the index."""
        member = self._members.get(article_id)
        return member.story_id if member else None

    def story(self, story_id: str) -> list[MemberRow]:
        """A story's members in the order they were added."""
        return [self._members[a].row for a in self._stories.get(story_id, ())]

    def evict(self, now_ms: int) -> None:
        """Forget members seen before the window, and the oldest beyond `max_members`."""
        cutoff = now_ms - self.window_ms
        while self._members:
            oldest = next(iter(self._members.values()))
            if oldest.row[4] >= cutoff and len(self._members) <= self.max_members:
                return
            self._forget(oldest)

    def _forget(self, member: _Member) -> None:
        del self._members[member.article_id]
        ids = self._stories[member.story_id]
        ids.remove(member.article_id)
        if not ids:
            del self._stories[member.story_id]
        for key in member.url_key.split("\n"):
            if self._by_url.get(key) == member.article_id:
                del self._by_url[key]
        waiting = self._unposted.get(member.story_id)
        if not member.posted:
            if waiting is not None:
                waiting.remove(member.article_id)
                if not waiting:
                    del self._unposted[member.story_id]
            return
        for shingle in member.shingles:
            posting = self._postings[shingle]
            posting.discard(member.article_id)
            if not posting:
                del self._postings[shingle]
        self._posted[member.story_id] -= 1
        if not self._posted[member.story_id]:
            del self._posted[member.story_id]
        if waiting:  # the oldest member not posted takes the place
            self._post(self._members[waiting.popleft()])
            if not waiting:
                del self._unposted[member.story_id]


def title_keys(title: str) -> frozenset[str]:
    """The words of a headline that tie it to another: long enough or with a digit, and not
    the words any headline may have (of its first FACT_CHARS characters)."""
    return frozenset(
        w
        for w in words(title[:FACT_CHARS])
        if (len(w) >= TITLE_KEY_MIN or any("0" <= c <= "9" for c in w)) and w not in TITLE_STOPWORDS
    )


_THOUSANDS: Final = re.compile(r"(?<=[0-9]),(?=[0-9])")


def title_core(title: str) -> list[str]:
    """A headline's own words, lower-cased: without a desk's label before a colon among its
    first three words ("BREAKING:", "FULL TIME:") or joined to it ("Soccer-Liverpool", "UPDATE
    1-Car"), without a short tail after " | " or " - " ("| World News", "- AP"), and without
    desk words ("UPDATE 2")."""
    raw = title[:FACT_CHARS].split()
    for n in range(len(raw) - 1, max(len(raw) - 5, 0) - 1, -1):
        if n > 0 and raw[n] in DASHES:
            raw = raw[:n]
            break
    labelled = next((n for n, r in enumerate(raw[:3]) if r.endswith(":")), None)
    if labelled is not None and labelled + 1 < len(raw):
        raw = raw[labelled + 1 :]
    elif raw:
        label, dash, rest = raw[0].partition("-")
        if dash and label and rest[:1].isupper():
            raw = [rest, *raw[1:]]
    found = words(_THOUSANDS.sub("", " ".join(raw)))  # "1,200" is "1200"
    core: list[str] = []
    for n, w in enumerate(found):
        if w in DESK_WORDS or (n and found[n - 1] in DESK_WORDS and _number(w)):
            continue
        core.append(w)
    return core


def titles_differ(ours: list[str], other_title: str) -> bool:
    """Two headlines from one template naming other things: the same words before and after
    one stretch of at most NAMED words that differs on both sides ("... Warning for Oberbayern"
    and "... for Schwaben", "Acme Corp to Announce ..." and "Globex Inc to ..."), the same words
    being at least half the shorter; a number changed alone is a toll updated, not another
    event. Headlines of their own (words in another order) are not compared. `ours` is this
    headline's `title_core` (its first FACT_TOKENS words)."""
    theirs = title_core(other_title)[:FACT_TOKENS]
    shorter = min(len(ours), len(theirs))
    head = 0
    while head < shorter and ours[head] == theirs[head]:
        head += 1
    tail = 0
    while tail < shorter - head and ours[-1 - tail] == theirs[-1 - tail]:
        tail += 1
    mine, other = ours[head : len(ours) - tail], theirs[head : len(theirs) - tail]
    if not mine or not other or len(mine) > NAMED or len(other) > NAMED:
        return False
    if 2 * (head + tail) < shorter:
        return False
    if not set(mine).isdisjoint(other):
        return False  # the same words moved about: an edit, not another thing named
    return not (len(mine) == len(other) == 1 and _number(mine[0]) and _number(other[0]))


def _number(word: str) -> bool:
    return bool(word) and all("0" <= c <= "9" for c in word)


def _agrees(
    other: _Member,
    titled: bool,
    found: list[fact_sets.Fact],
    core: list[str],
    feed: str,
    title: str,
    body: str,
) -> tuple[str, ...] | None:
    """The facts that agree with a candidate whose text resembles, or None when it is no copy:
    one feed's boilerplate, two feeds' stubs, or a templated event (`core`: this headline's
    `title_core`, made once for all candidates)."""
    if not titled:
        if feed and other.row[1] == feed:
            return None  # one feed's items alike but for their titles: its boilerplate
        if not _titles_agree(title_keys(title), other, title, body):
            return None  # two feeds' stubs under unrelated headlines
    if titles_differ(core, other.row[2]):
        return None  # one template, other things named in the headline
    return fact_sets.agree(found, other.facts_by_slot())


def _titles_agree(keys: frozenset[str], other: _Member, title: str, body: str) -> bool:
    """Whether two headlines are about one thing: they share two key words (one, if either
    has only one), or two of the other's key words are in this lead, or this headline has a
    run of the other's lead (a headline made of the lead's first words). Headlines without key
    words say nothing."""
    theirs = title_keys(other.row[2])
    if not keys or not theirs or len(keys & theirs) >= min(2, len(keys), len(theirs)):
        return True
    if len(theirs & set(words(body, LEAD_WORDS))) >= min(2, len(theirs)):
        return True
    return any(h & ~TITLE_BIT in other.shingles for h in shingles(words(title[:FACT_CHARS])))


def new_index(window_s: float, max_members: int = 50_000) -> Index:
    """The native index where the extension is installed, else the Python one."""
    native_type = native.story_index_type()
    if native_type is not None:
        return native_type(window_s, max_members)
    return StoryIndex(window_s, max_members)
