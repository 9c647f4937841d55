"""Feed documents for the parsing benchmark: 50-item RSS 2.0 and Atom 1.0, about 94 KB.

Items look like a news site's: a title, a link and guid, a date, an author, two categories and
an HTML description of about 1.5 KB (paragraphs, a link, emphasis, entities).
"""

from __future__ import annotations

import random
from xml.sax.saxutils import escape

from bench.workload import vocabulary


def _html(rng: random.Random, words: list[str]) -> str:
    paragraphs = []
    for _ in range(4):
        sentence = " ".join(rng.choices(words, k=38)).capitalize()
        paragraphs.append(
            f'<p>{sentence} &amp; <a href="https://news.example.org/{rng.randrange(10**6)}">'
            f"<em>{rng.choice(words)}</em></a>.</p>"
        )
    return "".join(paragraphs)


def rss(items: int = 50, seed: int = 3) -> bytes:
    """A 50-item RSS 2.0 document."""
    rng = random.Random(seed)
    words = vocabulary(5_000, seed=seed)
    body = []
    for i in range(items):
        title = " ".join(rng.choices(words, k=9)).capitalize()
        body.append(
            f"<item><title>{escape(title)}</title>"
            f"<link>https://news.example.org/story/{i}</link>"
            f'<guid isPermaLink="false">story-{i}</guid>'
            f"<pubDate>Sat, 28 Nov 2026 {i % 24:02d}:{i % 60:02d}:00 +0000</pubDate>"
            f"<author>desk@news.example.org (News Desk)</author>"
            f"<category>{rng.choice(words)}</category><category>{rng.choice(words)}</category>"
            f"<description>{escape(_html(rng, words))}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        "<title>News</title><link>https://news.example.org/</link><language>en</language>"
        f"<description>All the news</description>{''.join(body)}</channel></rss>"
    ).encode()


def atom(items: int = 50, seed: int = 5) -> bytes:
    """A 50-item Atom 1.0 document."""
    rng = random.Random(seed)
    words = vocabulary(5_000, seed=seed)
    body = []
    for i in range(items):
        title = " ".join(rng.choices(words, k=9)).capitalize()
        body.append(
            f"<entry><title>{escape(title)}</title>"
            f'<link rel="alternate" href="https://news.example.org/story/{i}"/>'
            f"<id>tag:news.example.org,2026:{i}</id>"
            f"<updated>2026-11-28T{i % 24:02d}:{i % 60:02d}:00Z</updated>"
            f"<author><name>News Desk</name></author>"
            f'<category term="{rng.choice(words)}"/><category term="{rng.choice(words)}"/>'
            f'<summary type="html">{escape(_html(rng, words))}</summary></entry>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en"><title>News</title>'
        "<id>tag:news.example.org,2026:feed</id><updated>2026-11-28T00:00:00Z</updated>"
        f'<link href="https://news.example.org/"/>{"".join(body)}</feed>'
    ).encode()
