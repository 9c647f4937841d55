"""The adversarial workload: watches in the shapes a literal-anchored matcher handles worst.

`bench/workload.py` writes globs with the variant letter well into the word and regexes that
begin with a whole word, the shapes the engine anchors well. Real watches are not so kind
(`Al?Qaeda`, `/\\bAl[- ]?Qa[ei]da\\b/`, `/\\b\\w+stan\\b/`). Here, seeded:

- globs with the `?` at any position, the first included (`?arimo`, `k?rimo`, `kari?o*`);
- prefixes of three letters (`kar*`);
- regex terms (2% of terms) whose literals are two to four characters: syllables joined by
  classes, optional separators, alternations and `\\w+`;
- phrases of the commonest words;
- text over a small syllable vocabulary, so that every short literal occurs in every article.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

from bench.workload import SYLLABLES, articles, vocabulary
from monitor.kernel.models import Article
from monitor.matching.schema import link, parse_entity_file, parse_rule_file
from monitor.matching.spec import RuleSet

# Of the weak terms, the regexes: about 2% of all terms.
WEAK_REGEX = 0.055
VOCABULARY = 50_000


def words() -> list[str]:
    """The adversarial vocabulary: 50,000 words of 2 to 4 syllables (46 syllables)."""
    return vocabulary(VOCABULARY, seed=17)


def adversarial_articles(count: int, seed: int = 19) -> list[Article]:
    """`count` articles of about 3 KB over the adversarial vocabulary."""
    return articles(count, words(), seed=seed)


def _syllable(rng: random.Random) -> str:
    return rng.choice(SYLLABLES)


def regex_term(rng: random.Random) -> dict[str, Any]:
    """A regex term whose literals are two to four characters long."""
    s = [_syllable(rng) for _ in range(4)]
    shape = rng.randrange(8)
    pattern = [
        rf"\b{s[0]}{s[1]}[a-z]{{2}}{s[2]}\b",  # /\bkari[a-z]{2}mo\b/
        rf"\b{s[0]}[- ]?{s[1]}[ei]{s[2][1:] or s[2]}\b",  # /\bAl[- ]?Qa[ei]da\b/
        rf"\b\w+{s[0]}{s[1]}\b",  # /\b\w+stan\b/
        rf"{s[0]}\w{{1,3}}{s[1]}",
        rf"\b({s[0]}|{s[1]}){s[2]}\w*\b",
        rf"\b{s[0]}\w*\s+{s[1]}{s[2]}",
        rf"\b{s[0]}[aeiou]{s[1]}\b",
        rf"{s[0]}(\s+\w+){{0,2}}\s+{s[1]}{s[2]}\b",
    ][shape]
    return {"term": f"/{pattern}/", "case": rng.random() < 0.1}


def glob_term(rng: random.Random, word: str) -> str:
    """`word` with one letter made `?` at any position, sometimes open-ended."""
    i = rng.randrange(len(word))
    glob = word[:i] + "?" + word[i + 1 :]
    return glob + "*" if rng.random() < 0.2 else glob


class AdversarialTerms:
    """Draws terms in the adversarial shapes: distinctive ones (words, globs, case-sensitive
    words, from the rarer half of the vocabulary) and weak ones (prefixes of three letters,
    phrases of the commonest words, regexes), which hit in nearly every article and so are
    mostly asked for alongside a distinctive one, as watches narrow a broad term."""

    def __init__(self, rng: random.Random, vocab: list[str]) -> None:
        self.rng, self.common, self.rare = rng, vocab[:100], vocab[len(vocab) // 2 :]

    def distinctive(self) -> Any:
        rng, kind = self.rng, self.rng.random()
        word = rng.choice(self.rare)
        if kind < 0.5:
            return word
        if kind < 0.9:
            return glob_term(rng, word)
        return {"term": word.capitalize(), "case": True}

    def weak(self) -> Any:
        rng, kind = self.rng, self.rng.random()
        if kind < WEAK_REGEX:
            return regex_term(rng)
        if kind < 0.6:
            return rng.choice(self.rare)[:3] + "*"
        return " ".join(rng.sample(self.common, rng.randint(2, 3)))


def adversarial_rule_set(count: int, seed: int = 23) -> RuleSet:
    """`count` watches in the adversarial shapes, nested as the realistic workload's are."""
    rules, entities = adversarial_documents(count, seed)
    specs, problems = parse_rule_file("adversarial-rules", {"rules": rules})
    entity_specs, entity_problems = parse_entity_file(
        "adversarial-entities", {"entities": entities}
    )
    result = RuleSet(rules=tuple(specs), entities=tuple(entity_specs))
    problems += entity_problems + link(result)
    if problems:
        raise ValueError(f"generated rules are invalid: {problems[:3]}")
    return result


def adversarial_documents(
    count: int, seed: int = 23
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The watches and entities of `adversarial_rule_set`, as their YAML files hold them."""
    rng = random.Random(seed)
    vocab = words()
    term = AdversarialTerms(rng, vocab)
    entity_count = max(10, count // 10)
    entities = [
        {
            "id": f"e{e}",
            "type": "org",
            "names": [term.distinctive() for _ in range(rng.randint(1, 3))],
            "tags": [f"t{e % 50}"],
        }
        for e in range(entity_count)
    ]
    rules = []
    for r in range(count):
        rule: dict[str, Any] = {"id": f"r{r}"}
        shape = rng.random()
        if shape < 0.5:
            rule["match"] = {"any": [term.distinctive() for _ in range(rng.randint(1, 4))]}
        elif shape < 0.8:
            weak = [term.weak() for _ in range(rng.randint(1, 3))]
            rule["match"] = {"all": [term.distinctive(), {"any": weak}]}
        elif shape < 0.9:
            rule["match"] = {
                "any": [term.distinctive(), term.weak(), term.weak(), term.distinctive()],
                "min": 3,
            }
        else:
            rule["entities"] = {"any": [f"e{rng.randrange(entity_count)}"]}
            if rng.random() < 0.5:
                rule["match"] = {"any": [term.weak()], "none": [term.distinctive()]}
        rules.append(rule)
    return rules, entities


def write_rules_dir(directory: Path, count: int, files: int = 100, seed: int = 23) -> None:
    """Write the adversarial watches into `files` rule files of `directory`, as a user keeps
    them (block style), with their entities in `entities/`."""
    rules, entities = adversarial_documents(count, seed)
    (directory / "entities").mkdir(parents=True, exist_ok=True)
    per_file = -(-count // files)
    for k in range(files):
        chunk = rules[k * per_file : (k + 1) * per_file]
        text = yaml.safe_dump({"rules": chunk}, sort_keys=False, allow_unicode=True)
        (directory / f"watches-{k:03d}.yaml").write_text(text, encoding="utf-8")
    text = yaml.safe_dump({"entities": entities}, sort_keys=False, allow_unicode=True)
    (directory / "entities" / "adversarial.yaml").write_text(text, encoding="utf-8")


# One watch of each shape the language allows, written to cost the most: a regex that matches
# every field, or whose only factor is a single letter, or a repeat of any word; globs with no
# letter to anchor on; a two-letter prefix (the shortest allowed); phrases of prefixes and of
# the commonest words; a watch of many terms.
WORST_SHAPES: dict[str, Any] = {
    "regex matching every field /\\w+/": {"any": ["/\\w+/"]},
    "regex matching the empty string /x*/": {"any": ["/x*/"]},
    "regex whose factor is one letter /[aeiou]\\w*[aeiou]\\w*q/": {
        "any": ["/[aeiou]\\w*[aeiou]\\w*q/"]
    },
    "regex of repeated words /(\\w+\\s+){8}\\w+/": {"any": ["/(\\w+\\s+){8}\\w+/"]},
    "regex, long alternation": {"any": ["/\\b(" + "|".join(SYLLABLES) + ")+\\b/"]},
    "glob of ? only (???)": {"any": ["???"]},
    "glob ?* (any word)": {"any": ["?*"]},
    "phrase of any four words (?* ?* ?* ?*)": {"any": ["?* ?* ?* ?*"]},
    "regex of a long bounded run /[a-z]{4,12}ka/": {"any": ["/[a-z]{4,12}ka/"]},
    "two-letter prefix ka*": {"any": ["ka*"]},
    "phrase of prefixes (ka* ko* ba*)": {"any": ["ka* ko* ba*"]},
    "phrase of 8 common words": {"any": [" ".join(words()[:8])]},
    "200 terms, min 100": {"any": words()[:200], "min": 100},
}


def with_watch(rules: RuleSet, match: dict[str, Any]) -> RuleSet:
    """`rules` and one more watch (id `worst`) matching by `match`."""
    specs, problems = parse_rule_file("worst", {"rules": [{"id": "worst", "match": match}]})
    if problems:
        raise ValueError(f"the worst watch is invalid: {problems[:3]}")
    return RuleSet(rules=rules.rules + tuple(specs), entities=rules.entities)
