"""The shipped country pack: CLDR names in 52 languages, inflected forms, evidence per language."""

from __future__ import annotations

import pytest

from monitor.kernel.yamlfile import parse_yaml
from monitor.matching.compiler import CompiledRules, compile_rules
from monitor.matching.loader import load_rules_dir
from monitor.matching.matcher import match_article, match_in_python
from monitor.matching.schema import parse_entity_file
from tests.support.helpers import article
from tools import countries

WATCH = "rules:\n  - id: watch\n    entities: {any: [kazakhstan, germany, russia, togo, chad]}\n"


@pytest.fixture(scope="module")
def packs(tmp_path_factory: pytest.TempPathFactory) -> tuple[CompiledRules, CompiledRules]:
    """The shipped entities and one watch, compiled for the native engine and for Python."""
    tmp = tmp_path_factory.mktemp("pack")  # the shipped pack comes with every rules dir
    (tmp / "watch.yaml").write_text(WATCH)
    rule_set = load_rules_dir(tmp)
    return compile_rules(rule_set), compile_rules(rule_set, engine=False)


@pytest.fixture(scope="module")
def pack(packs: tuple[CompiledRules, CompiledRules]) -> CompiledRules:
    return packs[0]


def test_the_shipped_pack_is_what_the_script_makes() -> None:
    """monitor/matching/entities/countries.yaml is tools/countries.py's output (refresh it with
    `python -m tools.countries`), so no one edits the generated file by hand."""
    assert 0 == countries.main(["--check"])


@pytest.mark.parametrize(
    ("title", "entity", "text", "language"),
    [
        # the forms of Kazakhstan
        ("Scholz reist nach Kasachstan", "kazakhstan", "Kasachstan", "de"),
        ("Visita oficial a Kazajistán", "kazakhstan", "Kazajistán", "es"),
        ("哈萨克斯坦总统访问北京", "kazakhstan", "哈萨克斯坦", "zh"),
        ("زيارة رسمية إلى كازاخستان", "kazakhstan", "كازاخستان", "ar"),
        ("Kazakistan ile yeni anlaşma", "kazakhstan", "Kazakistan", "tr"),
        # ... and inflected
        ("Учения прошли в Казахстане", "kazakhstan", "Казахстане", None),  # hand-kept stem
        ("Kazakistan'ın dış politikası", "kazakhstan", "Kazakistan'ın", "tr"),
        ("Қазақстанның сыртқы саясаты", "kazakhstan", "Қазақстанның", "kk"),
        ("Les relations avec l'Allemagne", "germany", "l'Allemagne", "fr"),
        ("Визит в Германию", "germany", "Германию", "ru"),
        ("Deutschlands Außenpolitik", "germany", "Deutschlands", "de"),
        ("اجتماع وزراء الدفاع بألمانيا", "germany", "بألمانيا", "ar"),
        ("Spotkanie w Rosji", "russia", "Rosji", "pl"),
    ],
)
def test_a_watch_finds_a_country_in_any_language(
    packs: tuple[CompiledRules, CompiledRules],
    title: str,
    entity: str,
    text: str,
    language: str | None,
) -> None:
    """One watch names the entity once; the form in the article's language is found, and the
    evidence names that form and its language (both engines)."""
    native, python = packs
    for matcher, compiled in ((match_article, native), (match_in_python, python)):
        (match,) = matcher(article(title=title), compiled)
        (evidence,) = match.evidence
        assert (entity, text, language) == (evidence.value, evidence.text, evidence.language)


@pytest.mark.parametrize(
    "title",
    [
        "Того же мнения придерживается министр",  # "of that", not Togo
        "чад от пожаров над городом",  # "fumes", lower case: the names are case-sensitive
        "kasachstan in lower case",
        "Белоруссия и Молдавия",  # neighbours, not the watched countries
    ],
)
def test_common_words_are_not_countries(pack: CompiledRules, title: str) -> None:
    """A name that is also a common word is left out or matched only with its capitals."""
    assert () == match_article(article(title=title), pack)


@pytest.mark.parametrize(
    ("languages", "problem"),
    [
        ("{de: Kasachstan}", "`languages` de must be a list"),
        ("{Deutsch: [Kasachstan]}", "'Deutsch' is not a language code: did you mean `de`"),
        ("[de, Kasachstan]", "`languages` must be a mapping"),
        ('{de: ["K*"]}', "a prefix needs at least"),
    ],
)
def test_bad_languages_are_located(languages: str, problem: str) -> None:
    """A mistake under `languages:` is a problem at its file and line, as everywhere else."""
    text = (
        "entities:\n  - id: kz\n    type: place\n    names: [Kazakhstan]\n"
        f"    languages: {languages}\n"
    )
    data, _ = parse_yaml(text, "entities/x.yaml")
    entities, problems = parse_entity_file("entities/x.yaml", data)
    assert [] == entities
    assert any(problem in p.message and p.line == 5 for p in problems), problems


def test_names_in_languages_are_case_sensitive_unless_said() -> None:
    """`languages:` names default to case-sensitive; `{term: X, case: false}` opts out."""
    text = (
        "entities:\n  - id: kz\n    type: place\n    names: [Kazakhstan]\n"
        "    languages: {de: [Kasachstan, {term: KASACHSTAN, case: false}]}\n"
    )
    data, _ = parse_yaml(text, "entities/x.yaml")
    (entity,), problems = parse_entity_file("entities/x.yaml", data)
    assert [] == problems
    assert [(False, None), (True, "de"), (False, "de")] == [
        (t.case, t.language) for t in entity.names
    ]
