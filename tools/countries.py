"""Generate monitor/matching/entities/countries.yaml: the hand-kept pack plus country names
in 52 languages.

    python -m tools.countries            # write monitor/matching/entities/countries.yaml
    python -m tools.countries --check    # exit 1 if the file is not what this script makes

The hand-kept part (English names, demonyms, capitals, a few Russian stems, tags) is
`tools/countries_base.yaml`; edit that, then run this. The names in other languages are CLDR's
territory names, read through Babel, under each entity's `languages:`. How a name is written
into the pack:

- **Case-sensitive.** Every CLDR name is matched with its capitals (a `languages:` default):
  country names are capitalized in every cased script, so a common word that is also a name
  ("чад", Russian for fumes; "mali", Turkish for financial) matches only where it is capitalized.
- **Left out** (listed in the file's header with the reason):
  - a name two countries share in one language (it would say the wrong one half the time);
  - a name that is also a common capitalized word in its language (`COMMON_WORDS`, such as
    Russian "Того", "of that", at the start of a sentence);
  - a name already in the pack (the first language that has it names it).
- **Kept, but listed as a known confusion:** in scripts written without spaces (Chinese,
  Japanese, Thai) names match inside longer words, so a name inside another country's name
  (俄罗斯 in 白俄罗斯) is also found in articles about that country. Leaving 俄罗斯 out would
  miss Russia in every Chinese article; the header lists each such pair.
- **Inflection**, where the language inflects names and a rule is safe (`forms`):
  - Slavic and Baltic languages: the stem as a prefix ("Казахстан*", "Германи*") when it has at
    least 5 letters; shorter Russian, Ukrainian and Polish names get their case endings spelled out;
  - Turkish: the name and the name with a suffix after its apostrophe ("Kazakistan'*");
  - Kazakh, Kyrgyz, Uzbek, Turkmen, Azerbaijani, Finnish, Estonian, Hungarian and Korean, which
    add suffixes to the unchanged name: the name as a prefix (5 letters or more; Korean 2);
  - German: the genitive in -s;
  - French and Italian: the name with the elided article on it (l'Allemagne, dell'Australia);
  - Arabic and Hebrew: the name with the one-letter prefixes written onto it (و ب ل ف ك, ב ל ו מ ה
    ש), and Arabic names also without hamza on their alif (ألمانيا, المانيا).
  Other languages keep the name as CLDR writes it.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from babel import Locale

ROOT = Path(__file__).resolve().parent.parent
BASE = Path(__file__).parent / "countries_base.yaml"
OUT = ROOT / "monitor" / "matching" / "entities" / "countries.yaml"

# The languages of the pack: the UN's six, then the languages of the region the project watches
# most, the EU's, and the other large languages of the news, as Babel's locale ids.
_LANGUAGE_IDS = (
    "ar zh zh_Hant ru fr es uk be kk ky uz tg tk az tr fa ur hi bn he el de pt it nl pl cs sk sl hr"
    " sr bg mk ro hu fi et lv lt sv da nb id ms vi ja ko th ka hy mn sq"
)
LANGUAGES = tuple(_LANGUAGE_IDS.split())
# Entity ids whose English CLDR name differs from every name the base gives.
ISO_CODES = {"dr-congo": "CD", "myanmar": "MM", "saint-vincent-and-the-grenadines": "VC"}
NO_SPACE = {"zh", "zh-Hant", "ja", "th"}
# Names that are also common capitalized words, by (language, name); "*" for every language.
COMMON_WORDS = {
    ("*", "Того"): "also 'of that' in Russian, capitalized at the start of a sentence",
    ("tr", "Mali"): "also 'financial', capitalized at the start of a sentence",
    ("*", "عمان"): "also Amman, the capital of Jordan, unvocalized",
    ("id", "Chad"): "also a given name",
    ("ms", "Chad"): "also a given name",
    ("vi", "Chad"): "also a given name",
}
STEM_LANGUAGES = {"ru", "uk", "be", "pl", "cs", "sk", "sl", "hr", "sr", "lt", "lv"}
SUFFIX_LANGUAGES = {"kk", "ky", "uz", "tk", "az", "fi", "et", "hu"}
MIN_STEM = 5
_VOWELS = "аяоеёиыйьюєіїaeiouyąęěáéíóúýůāēīū"
# Case endings for short Russian and Ukrainian names (stem under MIN_STEM letters): genitive,
# dative, instrumental, prepositional/locative. Names ending in other vowels do not decline.
_SHORT_ENDINGS = {
    ("ru", ""): ("а", "у", "ом", "е"),
    ("ru", "а"): ("ы", "е", "у", "ой"),
    ("uk", ""): ("у", "ові", "ом", "і"),
    ("uk", "а"): ("и", "і", "у", "ою"),
    ("ru", "й"): ("я", "ю", "ем", "е"),
    ("ru", "я"): ("и", "ю", "ей"),
    ("uk", "я"): ("ї", "ю", "єю"),
    ("uk", "й"): ("ю", "єві", "єм", "ї"),
    ("pl", "a"): ("i", "ę", "ą", "y"),
    ("pl", "y"): ("ach", "ami", "om"),
}
# French and Italian write the article onto a name that begins with a vowel: l'Allemagne,
# dell'Australia (one word here, as "o'brien" is).
_ELISIONS = {
    "fr": ("l'", "L'", "d'", "D'"),
    "it": ("l'", "L'", "d'", "dell'", "all'", "nell'", "dall'", "sull'"),
}
_ARABIC_PREFIXES = ("", "و", "ب", "ل", "ف", "ك", "وب", "ول", "فب")
_HEBREW_PREFIXES = ("", "ב", "ל", "ו", "מ", "ה", "ש", "וב", "ול", "ומ")
HAMZA_ALIF = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا"})


def tag(locale_id: str) -> str:
    """Babel's locale id as a language tag: zh_Hant is zh-Hant."""
    return locale_id.replace("_", "-")


def iso_codes(entities: list[dict[str, Any]]) -> dict[str, str]:
    """Each entity's ISO 3166 code, found by its id or names among CLDR's English names."""
    english = Locale.parse("en").territories
    by_slug = {
        _slug(name): code for code, name in english.items() if re.fullmatch("[A-Z]{2}", code)
    }
    codes = {}
    for entity in entities:
        names = [entity["id"], *(_text(n) for n in entity["names"])]
        code = ISO_CODES.get(entity["id"]) or next(
            (by_slug[_slug(n)] for n in names if _slug(n) in by_slug), None
        )
        if code is None:
            raise SystemExit(f"{entity['id']}: no CLDR territory; add it to ISO_CODES")
        codes[entity["id"]] = code
    return codes


def cldr_names(code: str, locale_id: str) -> list[str]:
    """A territory's names in one language: "Myanmar (Burma)" is two names."""
    name = Locale.parse(locale_id).territories.get(code, "")
    parts = [p.strip() for p in re.split(r"[()（）]", name)]
    if any(len(p) < 3 for p in parts if p):  # 刚果（布）: the part in brackets is no name
        parts = [name]
    return [p for p in parts if p and not any(ch.isdigit() for ch in p)]


def forms(name: str, language: str) -> list[str]:
    """The terms that find a name and its inflected forms in one language (see the module)."""
    single = " " not in name and "-" not in name
    if language in STEM_LANGUAGES and single:
        stem = name[:-1] if name[-1] in _VOWELS else name  # Росси(я), not Росс(ия)
        if len(stem) >= MIN_STEM:
            return [f"{stem}*"]
        ending = name[len(stem) :]
        extra = _SHORT_ENDINGS.get((language, ending), ())
        return [name, *(stem + e for e in extra)]
    if language in _ELISIONS and name[0].casefold() in "aeiouhâéèêîôûœ":
        return [name, *(article + name for article in _ELISIONS[language])]
    if language == "tr" and single:
        return [name, f"{name}'*"]
    if language in SUFFIX_LANGUAGES and single and len(name) >= MIN_STEM:
        return [f"{name}*"]
    if language == "ko" and single and len(name) >= 2:
        return [f"{name}*"]
    if language == "de" and single and name[-1] not in "sxzß":
        return [name, f"{name}s"]
    if language == "ar":
        plain = name.translate(HAMZA_ALIF)
        bases = dict.fromkeys((name, plain))
        return [_clitic(p, b) for b in bases for p in _ARABIC_PREFIXES]
    if language == "he":
        return [p + name for p in _HEBREW_PREFIXES]
    return [name]


def _clitic(prefix: str, name: str) -> str:
    # ل before the article ال drops the article's alif: ل + الصين is للصين.
    if prefix.endswith("ل") and name.startswith("ال"):
        return prefix + name[1:]
    return prefix + name


def build(
    base: list[dict[str, Any]], *, inflect: bool = True
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """The entities with `languages:` added, the names left out with the reason, and the
    known confusions."""
    codes = iso_codes(base)
    # (language, name) -> entity ids, over every entity, to find shared names
    owners: dict[tuple[str, str], set[str]] = defaultdict(set)
    raw: dict[str, dict[str, list[str]]] = {}
    for entity in base:
        raw[entity["id"]] = {}
        for locale_id in LANGUAGES:
            names = cldr_names(codes[entity["id"]], locale_id)
            raw[entity["id"]][tag(locale_id)] = names
            for name in names:
                owners[(tag(locale_id), name)].add(entity["id"])
    left_out: list[str] = []
    confusions: list[str] = []
    out = []
    for entity in base:
        known = {_text(n).casefold() for n in entity["names"]}
        languages: dict[str, list[str]] = {}
        for language, names in raw[entity["id"]].items():
            kept = []
            for name in names:
                reason = _refusal(language, name, entity["id"], owners)
                if reason:
                    left_out.append(f"{language} {name} ({entity['id']}): {reason}")
                    continue
                inside = _inside(language, name, entity["id"], owners)
                if inside:
                    confusions.append(f"{language} {name} ({entity['id']}): inside {inside}")
                for term in forms(name, language) if inflect else [name]:
                    if term.casefold() not in known:
                        known.add(term.casefold())
                        kept.append(term)
            if kept:
                languages[language] = kept
        out.append({**entity, "languages": languages})
    return out, sorted(set(left_out)), sorted(set(confusions))


def _refusal(language: str, name: str, entity: str, owners: dict[tuple[str, str], set[str]]) -> str:
    for key in ((language, name), ("*", name)):
        if key in COMMON_WORDS:
            return COMMON_WORDS[key]
    shared = owners[(language, name)] - {entity}
    if shared:
        return f"also the name of {', '.join(sorted(shared))}"
    return ""


def _inside(language: str, name: str, entity: str, owners: dict[tuple[str, str], set[str]]) -> str:
    """The other countries whose names hold `name`, in a script written without spaces."""
    if language not in NO_SPACE:
        return ""
    inside = sorted(
        other
        for (lang, longer), ids in owners.items()
        if lang == language and name in longer and name != longer
        for other in ids
        if other != entity
    )
    return ", ".join(inside)


def render(
    entities: list[dict[str, Any]], left_out: list[str], confusions: list[str], header: str
) -> str:
    """The pack as YAML: one entity a block, one language a line, flow lists."""
    lines = [header.rstrip("\n"), "#", f"# Left out ({len(left_out)}):"]
    lines += [f"#   {item}" for item in left_out]
    lines += ["#", f"# Known confusions, names found inside other names ({len(confusions)}):"]
    lines += [f"#   {item}" for item in confusions]
    lines.append("entities:")
    for e in entities:
        lines.append(f"  - id: {e['id']}")
        lines.append(f"    type: {e['type']}")
        lines.append(f"    names: {_flow(e['names'])}")
        if e.get("tags"):
            lines.append(f"    tags: {_flow(e['tags'])}")
        if e.get("context"):
            lines.append(f"    context: {_flow(e['context'])}")
        if e["languages"]:
            lines.append("    languages:")
            lines += [f"      {lang}: {_flow(names)}" for lang, names in e["languages"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Write the pack, or with --check say whether the shipped one is up to date."""
    text = BASE.read_text(encoding="utf-8")
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    header += (
        "#\n# GENERATED by `python -m tools.countries` from tools/countries_base.yaml and CLDR\n"
        "# (Babel): edit those, not this file. `languages:` holds CLDR's names, case-sensitive,\n"
        "# with inflected forms as that script's docstring explains.\n"
    )
    entities, left_out, confusions = build(yaml.safe_load(text)["entities"])
    made = render(entities, left_out, confusions, header)
    if "--check" in argv:
        if OUT.read_text(encoding="utf-8") != made:
            print(f"{OUT} is not what tools/countries.py makes: run python -m tools.countries")
            return 1
        return 0
    OUT.write_text(made, encoding="utf-8")
    names = sum(len(v) for e in entities for v in e["languages"].values())
    print(f"wrote {OUT}: {len(entities)} countries, {names:,} names in other languages")
    return 0


def _text(name: object) -> str:
    return str(name["term"]) if isinstance(name, dict) else str(name)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z]+", "-", text.lower().replace("&", "and")).strip("-")


def _flow(values: list[Any]) -> str:
    dumped = yaml.safe_dump(values, default_flow_style=True, allow_unicode=True, width=1 << 20)
    return dumped.strip()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
