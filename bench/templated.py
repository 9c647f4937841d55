"""A labelled story-folding set from templated feeds: real earthquake reports, security
advisories and match results, copies of some as other outlets republish them, and synthetic
hard negatives written from the same templates, and how well `monitor.stories` keeps them apart.

Each real item (tests/data/templated/, with its source and licence) is a distinct event: the
feed writes every item from one template, so two events share most of their words while every
fact differs (magnitude, place, depth and time; CVE id, product and versions; teams and score).
A copy carries an event as a mirror or a news desk would: the same title or one with a prefix or
suffix, the summary as text, cut, datelined or with a credit line, and the facts unchanged. A
hard negative is another event in the same sentence frame: the quake's magnitude, place, depth
and time changed (an aftershock at the same place, or the same figures at another place), the
next CVE id for the same product with other versions, the same teams with another score or the
same home side against another opponent the next week. Folding a copy into its event is right;
folding any two distinct events (real or synthetic) together is the error that silences an alert.
"""

from __future__ import annotations

import html
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.storyset import AGENCIES, Item, Quality, _at, fold
from monitor.kernel.models import make_article
from monitor.stories.index import Index, StoryIndex

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "templated"
SHAPES = ("quake", "advisory", "results")
SEEDS = (17, 2026, 7)
WINDOW_S = 48 * 3600


@dataclass(frozen=True, slots=True)
class Event:
    """One real item of a templated feed, as stored."""

    event: str
    title: str
    summary: str
    url: str
    published: str


@dataclass(frozen=True, slots=True)
class ShapeQuality:
    """How a folding run did on one shape's set, distinct events split real and synthetic."""

    shape: str
    quality: Quality
    real: int
    real_merged: int  # real events that ended in a story with another event
    synthetic: int
    synthetic_merged: int
    silenced: int  # distinct events no story of their own was founded for: they never alert


def load(shape: str) -> list[Event]:
    """The real events of one shape, in the feed's order."""
    path = DATA / f"{shape}.jsonl"
    return [Event(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()]


def plain(text: str) -> str:
    """A feed item's HTML as a republisher that keeps only the text writes it."""
    text = re.sub(r"</(dd|dt|p)>", " ", text)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split())


# --- copies: the facts unchanged ---------------------------------------------------------------


def _cut(text: str, rng: random.Random) -> str:
    """The text cut mid-way at a word, as feed summaries are (never under 60% of its words)."""
    words = text.split()
    keep = rng.randint(max(1, (len(words) * 3) // 5), len(words))
    return " ".join(words[:keep]) + (" [...]" if keep < len(words) else "")


def _copy_body(text: str, rng: random.Random, dateline: str) -> str:
    edit = rng.randrange(4)
    body = text if edit == 0 else _cut(text, rng) if edit == 1 else text
    if edit == 2 or rng.random() < 0.3:
        body = f"{dateline} ({rng.choice(AGENCIES)}) - {body}"
    if edit == 3 or rng.random() < 0.2:
        body += "\n\n(Compiled by the Data Desk; Editing by Staff)"
    return body


def _quake_copy(ev: Event, rng: random.Random) -> tuple[str, str]:
    title = rng.choice(
        [
            ev.title,
            f"{ev.title} | USGS",
            f"BREAKING: {ev.title}",
            f"Earthquake: {ev.title}",
            f"{ev.title} - {rng.choice(AGENCIES)}",
        ]
    )
    if rng.random() < 0.3:  # a mirror of the Atom feed: the summary's HTML as is
        return title, ev.summary
    return title, _copy_body(plain(ev.summary), rng, "GOLDEN, Colorado")


def _advisory_copy(ev: Event, rng: random.Random) -> tuple[str, str]:
    first = " ".join(ev.summary.split()[:8])
    title = rng.choice([ev.title, f"{ev.title} - {first}", f"{ev.title}: {first}...", ev.title])
    body = rng.choice(
        [
            ev.summary,
            f"{ev.title}: {ev.summary}",
            f"Description: {ev.summary}\n\nReferences: {ev.url}",
            _cut(ev.summary, rng),
        ]
    )
    return title, body


def _results_copy(ev: Event, rng: random.Random) -> tuple[str, str]:
    title = rng.choice(
        [
            ev.title,
            f"UPDATE 1-{ev.title}",
            f"Soccer-{ev.title}",
            f"{ev.title} | Premier League",
            f"FULL TIME: {ev.title}",
        ]
    )
    return title, _copy_body(ev.summary, rng, "LONDON")


COPY: dict[str, Callable[[Event, random.Random], tuple[str, str]]] = {
    "quake": _quake_copy,
    "advisory": _advisory_copy,
    "results": _results_copy,
}


# --- hard negatives: the same template, other facts ---------------------------------------------

QUAKE_SUMMARY = re.compile(
    r"<dt>Time</dt><dd>(?P<utc>[\d-]+ [\d:]+) UTC</dd>"
    r"<dd>(?P<local>[\d-]+ [\d:]+) (?P<off>[+-]\d\d:\d\d) at epicenter</dd>"
    r"<dt>Location</dt><dd>(?P<lat>[\d.]+)&deg;(?P<ns>[NS]) (?P<lon>[\d.]+)&deg;"
    r"(?P<ew>[EW])</dd><dt>Depth</dt><dd>(?P<depth>-?[\d.]+) km"
)
QUAKE_TITLE = re.compile(
    r"M (?P<mag>[\d.]+)(?P<kind>[A-Za-z ]*) - (?:(?P<km>\d+)km (?P<dir>[NSEW]+) of )?(?P<place>.+)"
)
DIRECTIONS = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW")


def _parse(pattern: re.Pattern[str], text: str, ev: Event) -> re.Match[str]:
    found = pattern.search(text)
    if found is None:
        raise ValueError(f"{DATA}: event {ev.event}: {text!r} is not in the feed's template")
    return found


def _day(text: str, form: str) -> datetime:
    return datetime.strptime(text, form).replace(tzinfo=UTC)


def _quake_negative(ev: Event, others: list[Event], rng: random.Random, n: int) -> Event:
    t, s = _parse(QUAKE_TITLE, ev.title, ev), _parse(QUAKE_SUMMARY, ev.summary, ev)
    mag = max(4.5, float(t["mag"]) + rng.choice((-0.4, -0.3, -0.2, -0.1, 0.1, 0.2, 0.3, 0.5)))
    shift = timedelta(minutes=rng.randint(3, 12 * 60), seconds=rng.randint(0, 59))
    utc = _day(s["utc"], "%Y-%m-%d %H:%M:%S") + shift
    if rng.random() < 0.5 or t["km"] is None:  # an aftershock: the same place, other figures
        km = int(t["km"] or 0) + rng.randint(2, 30)
        where = f"{km}km {rng.choice(DIRECTIONS)} of {t['place']}" if t["km"] else t["place"]
        at = s
    else:  # the same figures at another event's place, where it is
        other = rng.choice([o for o in others if o.event != ev.event])
        where, at = other.title.split(" - ", 1)[1], _parse(QUAKE_SUMMARY, other.summary, other)
    sign, hours, minutes = at["off"][0], int(at["off"][1:3]), int(at["off"][4:])
    local = utc + (1 if sign == "+" else -1) * timedelta(hours=hours, minutes=minutes)
    # A tenth of a degree away; the depth often the same (10 km is the depth USGS fixes when it
    # cannot resolve one): the figures that stay are words shared.
    lat = float(at["lat"]) + rng.uniform(-0.15, 0.15)
    lon = float(at["lon"]) + rng.uniform(-0.15, 0.15)
    depth = float(at["depth"])
    if rng.random() < 0.5:
        depth = max(1.0, depth + rng.choice((-8.0, 5.3, 12.71, 24.0, 40.5)))
    summary = (
        f"<dl><dt>Time</dt><dd>{utc:%Y-%m-%d %H:%M:%S} UTC</dd>"
        f"<dd>{local:%Y-%m-%d %H:%M:%S} {at['off']} at epicenter</dd>"
        f"<dt>Location</dt><dd>{lat:.3f}&deg;{at['ns']} {lon:.3f}&deg;{at['ew']}</dd>"
        f"<dt>Depth</dt><dd>{depth:.2f} km ({depth * 0.621371:.2f} mi)</dd></dl>"
    )
    eid = f"synthetic{n:04d}"
    return Event(
        eid,
        f"M {mag:.1f}{t['kind']} - {where}",
        summary,
        f"https://earthquake.usgs.gov/earthquakes/eventpage/{eid}",
        f"{utc:%Y-%m-%dT%H:%M:%S}Z",
    )


CVE = re.compile(r"CVE-(\d{4})-(\d{4,})")
VERSION = re.compile(r"\b(\d+)\.(\d+)(?:\.(\d+))?\b")
XFORCE = re.compile(r"(X-Force ID:) (\d+)")


def _bump(m: re.Match[str], rng: random.Random) -> str:
    parts = [p for p in m.groups() if p is not None]
    parts[-1] = str(int(parts[-1]) + rng.randint(1, 4))
    return ".".join(parts)


def _advisory_negative(ev: Event, others: list[Event], rng: random.Random, n: int) -> Event:
    year, _number = _parse(CVE, ev.title, ev).groups()
    cve = f"CVE-{year}-{90000 + n}"  # unique: events' ids plus an offset could collide
    text = CVE.sub(lambda m: f"CVE-{m[1]}-{int(m[2]) + rng.randint(1, 9)}", ev.summary)
    text = VERSION.sub(lambda m: _bump(m, rng), text)
    text = XFORCE.sub(lambda m: f"{m[1]} {int(m[2]) + rng.randint(100, 9000)}", text)
    return Event(cve, cve, text, f"https://nvd.nist.gov/vuln/detail/{cve}", ev.published)


RESULT_TITLE = re.compile(r"(?P<home>.+) (?P<hg>\d+)-(?P<ag>\d+) (?P<away>.+)")
RESULT_SUMMARY = re.compile(
    r"Full time: .+? \d+, .+? \d+ \(half time \d+-\d+\)\. (?P<league>.+?), Matchday (?P<round>\d+),"
    r" kick-off (?P<date>[\d-]+) (?P<time>[\d:]+) UK time\."
)


def _results_negative(ev: Event, others: list[Event], rng: random.Random, n: int) -> Event:
    t, s = _parse(RESULT_TITLE, ev.title, ev), _parse(RESULT_SUMMARY, ev.summary, ev)
    home, away, rnd = t["home"], t["away"], int(s["round"])
    day = _day(s["date"], "%Y-%m-%d")
    if rng.random() < 0.5:  # the same fixture, another score (the return match, a cup tie)
        home, away = (away, home) if rng.random() < 0.5 else (home, away)
        day += timedelta(days=rng.choice((3, 4, 7, 14)))
    else:  # the same home side the next week, another opponent
        opponents = {_parse(RESULT_TITLE, o.title, o)["away"] for o in others}
        away = rng.choice(sorted(opponents - {home, away}))
        day += timedelta(days=7)
        rnd += 1
    hg, ag = rng.randint(0, 4), rng.randint(0, 4)
    while (hg, ag) == (int(t["hg"]), int(t["ag"])):
        hg, ag = rng.randint(0, 4), rng.randint(0, 4)
    hh, ha = rng.randint(0, hg), rng.randint(0, ag)
    slug = f"{home}-v-{away}".lower().replace(" ", "-")
    return Event(
        f"synthetic/{n:04d}/{slug}",
        f"{home} {hg}-{ag} {away}",
        f"Full time: {home} {hg}, {away} {ag} (half time {hh}-{ha}). {s['league']}, Matchday "
        f"{rnd}, kick-off {day:%Y-%m-%d} {s['time']} UK time.",
        f"https://results.example/football/synthetic/{n:04d}/{slug}",
        f"{day:%Y-%m-%d}T{s['time']}:00+01:00",
    )


NEGATIVE: dict[str, Callable[[Event, list[Event], random.Random, int], Event]] = {
    "quake": _quake_negative,
    "advisory": _advisory_negative,
    "results": _results_negative,
}
FEED = {"quake": "usgs-4.5-week", "advisory": "nvd", "results": "results-wire"}


# --- the set and its score --------------------------------------------------------------------


def build_templated(
    shape: str, *, seed: int = 17, copy_share: float = 0.5, negative_share: float = 0.5
) -> tuple[list[Item], set[int]]:
    """One shape's items in a shuffled order of arrival, and the stories that are synthetic
    negatives. A `copy_share` of the events get one or two copies on other feeds; a
    `negative_share` of them lend their template to a synthetic negative on the source feed."""
    rng = random.Random(f"{shape}-{seed}")
    events = load(shape)
    feed = FEED[shape]
    items: list[Item] = []
    synthetic: set[int] = set()

    def add(story: int, original: bool, ev: Event, on: str, title: str, body: str, n: int) -> None:
        article = make_article(
            id=f"{shape}-{story}-{n}", feed=on, url=ev.url, title=title, summary=body
        )
        items.append(Item(story, original, article))

    for n, ev in enumerate(events):
        add(n, True, ev, feed, ev.title, ev.summary, 0)
        if rng.random() < copy_share:
            for c in range(1, rng.choice((1, 1, 2)) + 1):
                title, body = COPY[shape](ev, rng)
                outlet = f"{shape}-mirror-{c}"
                copy = Event(ev.event, title, body, f"https://{outlet}.example/{n}-{c}", "")
                add(n, False, copy, outlet, title, body, c)
    for n, ev in enumerate(events):
        if rng.random() < negative_share:
            story = len(events) + n
            neg = NEGATIVE[shape](ev, events, rng, n)
            synthetic.add(story)
            # on the source feed, or on a mirror that carries every event of the feed
            on = feed if rng.random() < 0.5 else f"{shape}-mirror-1"
            add(story, True, neg, on, neg.title, neg.summary, 0)
    rng.shuffle(items)
    start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    return [
        Item(i.story, i.original, _at(i.article, start + timedelta(seconds=30 * k)))
        for k, i in enumerate(items)
    ], synthetic


def evaluate(shape: str, items: list[Item], synthetic: set[int], index: Index) -> ShapeQuality:
    """Fold the items in their order of arrival and score the stories made."""
    f = fold(items, index)
    merged = {story for story, sid in f.originals.items() if len(f.truth[sid]) > 1}
    real = [s for s in f.originals if s not in synthetic]
    founder: dict[str, int] = {}  # story id -> the true story of its first article
    for item in items:
        founder.setdefault(f.story_of[item.article.id], item.story)
    alerting = set(founder.values())
    return ShapeQuality(
        shape,
        Quality(len(f.copies), f.folded, len(f.originals), len(merged), f.seconds),
        len(real),
        len(merged - synthetic),
        len(synthetic),
        len(merged & synthetic),
        len(set(f.originals) - alerting),
    )


def run(shape: str, seed: int, index: Index | None = None) -> ShapeQuality:
    """Build one shape's set with `seed` and fold it (the Python index unless one is given)."""
    items, synthetic = build_templated(shape, seed=seed)
    return evaluate(shape, items, synthetic, index if index is not None else StoryIndex(WINDOW_S))


def templated_rows() -> list[dict[str, str]]:
    """`make bench` rows: per shape, the share of copies folded into their event and the share of
    distinct events (real and synthetic) folded into another, over the seeds, native index."""
    from bench.run import row
    from monitor.stories.index import new_index

    rows = []
    for shape in SHAPES:
        runs = [run(shape, s, new_index(WINDOW_S)) for s in SEEDS]
        copies = sum(r.quality.copies for r in runs)
        folded = sum(r.quality.copies_folded for r in runs)
        stories = sum(r.quality.stories for r in runs)
        merged = sum(r.quality.stories_merged for r in runs)
        real, synthetic = sum(r.real for r in runs), sum(r.synthetic for r in runs)
        label = (
            f"{len(SEEDS)} seeds x {len(load(shape))} real {shape} events, "
            f"~{synthetic // len(SEEDS)} synthetic, ~{copies // len(SEEDS)} copies"
        )
        rows.append(
            row(
                f"templated: copies folded into their event ({label})",
                f"{folded / copies:.1%}",
                ">= 95%",
                f"{folded:,} of {copies:,}",
            )
        )
        rows.append(
            row(
                f"templated: distinct events folded into another ({label})",
                f"{merged / stories:.1%}",
                "0",
                f"{merged} of {stories}: real {sum(r.real_merged for r in runs)} of {real}, "
                f"synthetic {sum(r.synthetic_merged for r in runs)} of {synthetic}; "
                f"{sum(r.silenced for r in runs)} never alert",
            )
        )
    return rows


if __name__ == "__main__":
    for shape in SHAPES:
        for seed in SEEDS:
            r = run(shape, seed)
            q = r.quality
            print(
                f"{shape:9} seed {seed:5}: copies folded {q.copies_folded}/{q.copies} "
                f"({q.folded_share:.1%}); distinct merged {q.stories_merged}/{q.stories} "
                f"({q.merged_share:.1%}; real {r.real_merged}/{r.real}, "
                f"synthetic {r.synthetic_merged}/{r.synthetic}; {r.silenced} never alert); "
                f"{q.seconds / (q.copies + q.stories) * 1e6:.1f} us/article"
            )
