"""Country names in every language: how many mentions in real sentences the pack finds, and what
the bigger pack costs at 100,000 watches.

The mentions are those of bench/data/ud (held-out treebank sentences): a sentence mentions a
country when one of its proper nouns has, as the annotators' lemma, the country's one-word CLDR
name in that language (Казахстане has the lemma Казахстан). The pack is then asked, as a watch
would ask it, which countries each sentence mentions; a mention is found when the pack names
that country in that sentence. Three packs are compared: the hand-kept one alone (before this
pack), CLDR's names as written, and the shipped pack with its inflected forms.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from bench.language import languages, load
from bench.workload import names, rule_set, vocabulary
from monitor.kernel.models import make_article
from monitor.matching.compiler import CompiledRules, compile_rules
from monitor.matching.loader import load_rules_dir
from monitor.matching.matcher import match_article
from monitor.matching.schema import link, parse_rule_file
from monitor.matching.spec import RuleSet
from tools import countries

RULE = "rules:\n  - id: any-country\n    entities: {any: [tag:country]}\n"
# The treebank language codes as the pack's languages (Chinese PUD is in traditional script).
PACK_LANGUAGE = {"zh": "zh_Hant"}


def _norm(text: str) -> str:
    """Compare names and lemmas without case, diacritics marks or Arabic hamza seats."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    kept = "".join(ch for ch in decomposed if not unicodedata.category(ch).startswith("M"))
    return unicodedata.normalize("NFC", kept).translate(countries.HAMZA_ALIF)


def gold(language: str, codes: dict[str, str]) -> list[set[str]]:
    """Per sentence of `language`, the countries its proper-noun lemmas name."""
    locale_id = PACK_LANGUAGE.get(language, language)
    by_name: dict[str, str] = {}
    for entity, code in codes.items():
        for name in countries.cldr_names(code, locale_id):
            if " " not in name and "-" not in name:
                by_name[_norm(name)] = entity
    return [{by_name[_norm(x)] for x in s["lemmas"] if _norm(x) in by_name} for s in load(language)]


def found(language: str, compiled: CompiledRules) -> list[set[str]]:
    """Per sentence, the countries the pack finds in its text."""
    result = []
    for i, s in enumerate(load(language)):
        matches = match_article(make_article(id=str(i), title=s["text"]), compiled)
        result.append({e.value for m in matches for e in m.evidence if e.kind == "entity"})
    return result


def compile_pack(entities: list[dict[str, Any]]) -> CompiledRules:
    """The one-rule watch over a pack of country entities."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "entities").mkdir()
        (root / "rules.yaml").write_text(RULE, encoding="utf-8")
        pack = countries.render(entities, [], [], "# bench\n") if entities else ""
        # This pack alone, not the one monitor ships besides it.
        (root / "entities" / "countries.yaml").write_text(
            "shipped_pack: false\n" + pack, encoding="utf-8"
        )
        return compile_rules(load_rules_dir(root))


def packs() -> dict[str, CompiledRules]:
    """The three packs compared: hand-kept, CLDR as written, shipped (with inflections)."""
    base = yaml.safe_load(countries.BASE.read_text(encoding="utf-8"))["entities"]
    plain, _, _ = countries.build(base, inflect=False)
    shipped, _, _ = countries.build(base)
    return {
        "hand-kept": compile_pack([{**e, "languages": {}} for e in base]),
        "CLDR names": compile_pack(plain),
        "shipped": compile_pack(shipped),
    }


def recall(gold_sets: Iterable[set[str]], found_sets: Iterable[set[str]]) -> tuple[int, int, int]:
    """(mentions, found, other countries found) over the sentences."""
    mentions = hits = other = 0
    for g, f in zip(gold_sets, found_sets, strict=True):
        mentions += len(g)
        hits += len(g & f)
        other += len(f - g)
    return mentions, hits, other


def entity_rows() -> list[dict[str, str]]:
    """`make bench` rows: mentions found by language, then compile time and memory at 100,000
    watches with the pack."""
    from bench.run import row

    base = yaml.safe_load(countries.BASE.read_text(encoding="utf-8"))["entities"]
    codes = countries.iso_codes(base)
    compiled = packs()
    rows = []
    for language in languages():
        truth = gold(language, codes)
        counts = {name: recall(truth, found(language, c)) for name, c in compiled.items()}
        mentions, hits, other = counts["shipped"]
        if not mentions:
            continue
        before = " / ".join(
            f"{name} {counts[name][1] / mentions:.0%}" for name in ("hand-kept", "CLDR names")
        )
        rows.append(
            row(
                f"country mentions found, {language} ({mentions} in {len(truth):,} sentences)",
                f"{hits / mentions:.1%}",
                "-",
                before,
                f"{other} other finds",
            )
        )
    rows += _compile_rows()
    return rows


def _compile_rows() -> list[dict[str, str]]:
    from bench.run import row

    code = (
        "import gc, time\n"
        "from bench.entities import with_pack\n"
        "def kb(key):\n"
        "    return int(open('/proc/self/status').read().split(key + ':')[1].split()[0])\n"
        "rules = with_pack(100_000)\n"
        "gc.collect()\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"
        "before = kb('VmRSS')\n"
        "from monitor.matching.compiler import compile_rules\n"
        "t0 = time.perf_counter()\n"
        "compiled = compile_rules(rules)\n"
        "took = time.perf_counter() - t0\n"
        "print(before, kb('VmHWM'), kb('VmRSS'), took)\n"
    )
    runs = []
    for _ in range(3):
        out = subprocess.run(  # noqa: S603 - our own interpreter running our own code
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
        runs.append([float(x) for x in out])
    runs.sort(key=lambda r: r[3])
    before, peak, after, took = runs[1]
    names = sum(len(e.names) for e in with_pack(0).entities)
    return [
        row(
            f"compile 100,000 rules + the country pack ({names:,} names), median of 3",
            f"{took:.2f} s",
            "< 2 s",
        ),
        row(
            "compile 100,000 rules + the country pack, peak memory",
            f"{(peak - before) / 1024:,.0f} MB at peak, {(after - before) / 1024:,.0f} MB kept",
            "< 300 MB",
        ),
    ]


def with_pack(count: int) -> RuleSet:
    """The benchmark's `count` rules plus the shipped entities, and one watch in ten more on a
    country."""
    shipped = load_rules_dir(Path(__file__).resolve().parent.parent / "rules")
    countries_ids = [e.id for e in shipped.entities if "country" in e.tags]
    generated = rule_set(count, vocabulary(100_000), names(200_000)) if count else RuleSet()
    extra = {
        "rules": [
            {"id": f"c{i}", "entities": {"any": [countries_ids[i % len(countries_ids)]]}}
            for i in range(count // 10)
        ]
    }
    specs, problems = parse_rule_file("bench-country-rules", extra)
    result = RuleSet(
        rules=generated.rules + tuple(specs),
        entities=generated.entities + shipped.entities,
    )
    problems += link(result)
    if problems:
        raise ValueError(f"generated rules are invalid: {problems[:3]}")
    return result
