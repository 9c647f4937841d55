"""Deterministic synthetic workloads: rule sets and ~3 KB articles (same seed, same data)."""

from __future__ import annotations

import random
from typing import Any

from monitor.matching.schema import link, parse_entity_file, parse_rule_file
from monitor.matching.spec import RuleSet
from monitor.models import Article, make_article

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


def articles(count: int, words: list[str], seed: int = 11, size_chars: int = 3000) -> list[Article]:
    """Articles of about `size_chars` characters, words drawn with a Zipf-like skew."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) ** 0.9 for rank in range(len(words))]
    out = []
    for i in range(count):
        body: list[str] = []
        length = 0
        while length < size_chars:
            sentence = rng.choices(words, weights, k=rng.randint(8, 20))
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


def _term(rng: random.Random, words: list[str]) -> Any:
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
        word = rng.choice(words)
        i = rng.randrange(len(word))
        return word[:i] + "?" + word[i + 1 :]
    return {"term": f"/{rng.choice(words)}\\s+\\w+/", "case": False}


def rule_set(count: int, words: list[str], seed: int = 13) -> RuleSet:
    """`count` rules: keywords, phrases, wildcards, ~3% regex, entity watches, nesting."""
    rng = random.Random(seed)
    entity_count = max(10, count // 10)
    entities = []
    for e in range(entity_count):
        names = [" ".join(rng.sample(words, 2)) for _ in range(rng.randint(1, 3))] + [
            rng.choice(words)
        ]
        entity: dict[str, Any] = {
            "id": f"e{e}",
            "type": "org",
            "names": names,
            "tags": [f"t{e % 50}"],
        }
        if rng.random() < 0.3:
            entity["context"] = rng.sample(words, 3)
        entities.append(entity)
    rules = []
    for r in range(count):
        rule: dict[str, Any] = {"id": f"r{r}"}
        shape = rng.random()
        if shape < 0.6:
            rule["match"] = {"any": [_term(rng, words) for _ in range(rng.randint(1, 5))]}
        elif shape < 0.8:
            rule["match"] = {
                "all": [_term(rng, words), {"any": [_term(rng, words) for _ in range(3)]}],
                "none": [_term(rng, words)],
            }
        elif shape < 0.9:
            rule["match"] = {"any": [_term(rng, words) for _ in range(4)], "min": 2}
        else:
            ref = (
                f"e{rng.randrange(entity_count)}"
                if rng.random() < 0.7
                else f"tag:t{rng.randrange(50)}"
            )
            rule["entities"] = {"any": [ref]}
            if rng.random() < 0.5:
                rule["match"] = {"any": [_term(rng, words) for _ in range(2)]}
        rules.append(rule)
    specs, problems = parse_rule_file("bench-rules", {"rules": rules})
    entity_specs, entity_problems = parse_entity_file("bench-entities", {"entities": entities})
    result = RuleSet(rules=tuple(specs), entities=tuple(entity_specs))
    problems += entity_problems + link(result)
    if problems:
        raise ValueError(f"generated rules are invalid: {problems[:3]}")
    return result
