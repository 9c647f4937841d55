"""Deterministic synthetic workloads: rule sets and ~3 KB articles (same seed, same data).

The realistic workload models how watches meet news. Articles are common words (Zipf-skewed)
with a few proper names in them; watches name distinctive things (people, companies, places:
the names, alone, as two-word names, or as prefixes and globs of them) and some topic words, so,
as in real use, an article wakes a handful of rules, not hundreds. The dense workload, where
every watch is made of ordinary words, shows the cost when an article matches tens of rules.
"""

from __future__ import annotations

import random
from typing import Any

from monitor.kernel.models import Article, make_article
from monitor.matching.schema import link, parse_entity_file, parse_rule_file
from monitor.matching.spec import RuleSet

SYLLABLES = [
    "ba",
    "be",
    "bi",
    "bo",
    "ka",
    "ke",
    "ki",
    "ko",
    "la",
    "le",
    "li",
    "lo",
    "ma",
    "me",
    "mi",
    "mo",
    "na",
    "ne",
    "ni",
    "no",
    "ra",
    "re",
    "ri",
    "ro",
    "sa",
    "se",
    "si",
    "so",
    "ta",
    "te",
    "ti",
    "to",
    "va",
    "ve",
    "vi",
    "vo",
    "dra",
    "stri",
    "pel",
    "gun",
    "mar",
    "tor",
    "nis",
    "dex",
    "qua",
    "zor",
]


def vocabulary(size: int, seed: int = 7) -> list[str]:
    """`size` distinct pseudo-words of 2 to 4 syllables."""
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


NAME_SYLLABLES = [
    "Ak", "Bor", "Dan", "El", "Fen", "Gal", "Har", "Ith", "Jor", "Kel", "Lun", "Mor", "Nev",
    "Or", "Pax", "Quen", "Ros", "Syl", "Tav", "Ul", "Vor", "Wen", "Xan", "Yor", "Zed",
]  # fmt: skip


def names(size: int, seed: int = 5) -> list[str]:
    """`size` distinct capitalized pseudo-names of 3 to 5 syllables, none of them a word.

    Consecutive pairs (names[0] names[1], names[2] names[3], ...) are the two-word names that
    articles mention and watches name.
    """
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < size:
        parts = [rng.choice(NAME_SYLLABLES) for _ in range(rng.randint(3, 5))]
        found["".join(parts).capitalize()] = None
    return list(found)


def articles(
    count: int,
    words: list[str],
    people: list[str] | None = None,
    seed: int = 11,
    size_chars: int = 3000,
) -> list[Article]:
    """Articles of about `size_chars` characters, words drawn with a Zipf-like skew.

    With `people`, each article also mentions a few names, alone or as two-word names.
    """
    rng = random.Random(seed)
    weights = [1 / (rank + 1) ** 0.9 for rank in range(len(words))]
    out = []
    for i in range(count):
        body: list[str] = []
        length = 0
        while length < size_chars:
            sentence = rng.choices(words, weights, k=rng.randint(8, 20))
            if people and rng.random() < 0.3:
                pair = rng.randrange(len(people) // 2) * 2
                at = rng.randrange(len(sentence))
                sentence[at:at] = people[pair : pair + (2 if rng.random() < 0.5 else 1)]
            text = " ".join(sentence).capitalize() + ". "
            body.append(text)
            length += len(text)
        title = " ".join(rng.choices(words, weights, k=8)).title()
        content = "".join(body)
        out.append(
            make_article(
                id=f"a{i}", feed="bench", title=title, summary=content[:300], content=content
            )
        )
    return out


def _topic(rng: random.Random, words: list[str]) -> Any:
    # Watches name distinctive things: their words come from the rarer 90% of the vocabulary
    # (articles draw words with a Zipf skew, so these appear, but not in every article).
    words = words[len(words) // 10 :]
    kind = rng.random()
    if kind < 0.55:
        return rng.choice(words)
    if kind < 0.75:
        return " ".join(rng.sample(words, rng.randint(2, 3)))
    if kind < 0.87:
        word = rng.choice(words)
        return word[: max(4, len(word) - 2)] + "*"
    if kind < 0.97:
        return _glob(rng, rng.choice(words))
    return {"term": f"/{rng.choice(words)}\\s+\\w+/", "case": False}


def _glob(rng: random.Random, word: str) -> str:
    # As users write them ("organi?ation", "defen?e"): a variant letter well into the word.
    i = rng.randrange(min(len(word) // 2 + 1, len(word) - 1), len(word))
    return word[:i] + "?" + word[i + 1 :]


def _name(rng: random.Random, people: list[str]) -> Any:
    pair = rng.randrange(len(people) // 2) * 2
    name = people[pair]
    kind = rng.random()
    if kind < 0.45:
        return name.lower()
    if kind < 0.7:
        return f"{name} {people[pair + 1]}".lower()
    if kind < 0.8:
        return name.lower()[:-2] + "*"
    if kind < 0.9:
        return _glob(rng, name.lower())
    if kind < 0.97:
        return {"term": name, "case": True}
    return {"term": f"/{name}\\s+\\w+/", "case": False}


class _Terms:
    """Draws terms: names of things (with `people`; TOPICS of them are topic words) or words."""

    TOPICS = 0.05

    def __init__(self, rng: random.Random, words: list[str], people: list[str] | None) -> None:
        self.rng, self.words, self.people = rng, words, people

    def __call__(self) -> Any:
        if self.people and self.rng.random() >= self.TOPICS:
            return _name(self.rng, self.people)
        return _topic(self.rng, self.words)

    def topic(self) -> Any:
        """A topic word (or phrase, prefix, glob, regex) whatever the workload."""
        return _topic(self.rng, self.words)

    def entity_names(self) -> list[str]:
        rng, people = self.rng, self.people
        if not people:
            return [" ".join(rng.sample(self.words, 2)) for _ in range(rng.randint(1, 3))] + [
                rng.choice(self.words)
            ]
        pairs = [rng.randrange(len(people) // 2) * 2 for _ in range(rng.randint(1, 2))]
        return [f"{people[p]} {people[p + 1]}" for p in pairs] + [people[pairs[0] + 1]]


def rule_set(
    count: int, words: list[str], people: list[str] | None = None, seed: int = 13
) -> RuleSet:
    """`count` rules: keywords, phrases, wildcards, ~3% regex, entity watches, nesting.

    With `people` the watches name things (the realistic workload); without, they are made of
    ordinary words (the dense one).
    """
    rng = random.Random(seed)
    term = _Terms(rng, words, people)
    entity_count = max(10, count // 10)
    entities = []
    for e in range(entity_count):
        entity: dict[str, Any] = {
            "id": f"e{e}",
            "type": "org",
            "names": term.entity_names(),
            "tags": [f"t{e % 50}"],
        }
        if rng.random() < 0.3:
            entity["context"] = rng.sample(words[:3000], 3)
        entities.append(entity)
    rules = []
    for r in range(count):
        rule: dict[str, Any] = {"id": f"r{r}"}
        shape = rng.random()
        if shape < 0.6:
            rule["match"] = {"any": [term() for _ in range(rng.randint(1, 5))]}
        elif shape < 0.8:
            rule["match"] = {
                "all": [term(), {"any": [term.topic() for _ in range(3)]}],
                "none": [term.topic()],
            }
        elif shape < 0.9:
            rule["match"] = {"any": [term() for _ in range(4)], "min": 2}
        else:
            ref = (
                f"e{rng.randrange(entity_count)}"
                if rng.random() < 0.7
                else f"tag:t{rng.randrange(50)}"
            )
            rule["entities"] = {"any": [ref]}
            if rng.random() < 0.5:
                rule["match"] = {"any": [term() for _ in range(2)]}
        rules.append(rule)
    specs, problems = parse_rule_file("bench-rules", {"rules": rules})
    entity_specs, entity_problems = parse_entity_file("bench-entities", {"entities": entities})
    result = RuleSet(rules=tuple(specs), entities=tuple(entity_specs))
    problems += entity_problems + link(result)
    if problems:
        raise ValueError(f"generated rules are invalid: {problems[:3]}")
    return result
