"""Which language an article is in: declared, doubted only when clearly wrong, else detected."""

from __future__ import annotations

import threading

import pytest
from py3langid.langid import LanguageIdentifier

from monitor.kernel import language as language_module
from monitor.kernel.language import (
    article_language,
    clearly_wrong,
    detect_language,
    metric_label,
    script_of,
)
from monitor.kernel.models import make_article
from tests.feeds.test_poller import Rig, rig  # noqa: F401  (the poller rig fixture)

# Headlines written for this test (the held-out measurement is in bench/language.py).
HEADLINES = [
    ("en", "Defence ministers of the Commonwealth meet to discuss air defence cooperation"),
    ("ru", "Министры обороны стран СНГ обсудили сотрудничество в области ПВО"),
    ("uk", "Міністри оборони країн СНД обговорили співпрацю у сфері протиповітряної оборони"),
    ("kk", "ТМД елдерінің қорғаныс министрлері әуе шабуылына қарсы қорғанысты талқылады"),
    ("ar", "وزراء دفاع رابطة الدول المستقلة يناقشون التعاون في مجال الدفاع الجوي"),
    ("zh", "独联体国家国防部长讨论防空领域的合作问题"),
    ("de", "Die Verteidigungsminister der GUS beraten über die Zusammenarbeit bei der Luftabwehr"),
    (
        "fr",
        "Les ministres de la Défense de la CEI discutent de la coopération en matière de défense",
    ),
    ("es", "Los ministros de Defensa de la CEI debaten la cooperación en materia de defensa aérea"),
    ("tr", "BDT ülkelerinin savunma bakanları hava savunması alanında işbirliğini görüştü"),
]


@pytest.mark.parametrize(("language", "title"), HEADLINES)
def test_detects_the_language_of_a_headline(language: str, title: str) -> None:
    """An undeclared headline in each of ten languages is detected as that language."""
    assert language == detect_language(title)
    assert language == article_language(make_article(id="a", title=title))


@pytest.mark.parametrize("text", ["", "OK", "12:30 — 14:45", "NATO G7"])
def test_too_little_text_is_not_guessed(text: str) -> None:
    """A title with fewer than ten letters gets no language rather than a guess."""
    assert detect_language(text) is None


@pytest.mark.parametrize(
    ("declared", "title", "expected"),
    [
        # a declared language is kept, even where detection would disagree within a script
        ("uk", "Министры обороны стран СНГ обсудили сотрудничество", "uk"),
        ("en-US", "Defence ministers meet to discuss air defence", "en-us"),
        ("xx", "Министры обороны стран СНГ обсудили сотрудничество", "xx"),
        # ... unless it names a script the text is not in
        ("en", "Министры обороны стран СНГ обсудили сотрудничество в области ПВО", "ru"),
        ("ru", "独联体国家国防部长讨论防空领域的合作问题", "zh"),
        ("ar", "Defence ministers of the Commonwealth meet to discuss cooperation", "en"),
    ],
)
def test_declared_language_is_kept_unless_clearly_wrong(
    declared: str, title: str, expected: str
) -> None:
    """The publisher's word stands unless the text's script rules the language out."""
    assert expected == article_language(make_article(id="a", title=title, language=declared))


def test_scripts() -> None:
    """The script of a text is the one most of its letters are in; a mix has none."""
    assert "CYRILLIC" == script_of("Казахстан и Россия, 2026")
    assert "CJK" == script_of("独联体国家国防部长讨论防空")
    assert script_of("Kazakhstan Казахстан Qazaqstan Қазақстан") is None
    assert clearly_wrong("en", "Казахстан и Россия подписали соглашение")
    assert not clearly_wrong("ja", "日本の防衛大臣がカザフスタンを訪問した")
    assert not clearly_wrong("en", "Kazakhstan")  # too few letters to doubt anyone


@pytest.mark.parametrize(
    ("language", "label"),
    [(None, "und"), ("", "und"), ("EN-gb", "en"), ("kk", "kk"), ("ckb", "ckb"), ("x!", "other")],
)
def test_metric_labels_are_bounded(language: str | None, label: str) -> None:
    """The metric's label is a primary subtag, never a raw declared string."""
    assert label == metric_label(language)


async def test_the_poller_publishes_detected_languages(rig: Rig) -> None:  # noqa: F811
    """Items of a feed that declares no language reach the bus with the detected one, and the
    language metric counts them."""
    rig.server.feeds["mixed"] = _feed(HEADLINES[1][1], HEADLINES[5][1], "OK")
    result = await rig.poller.poll(rig.feed("/feeds/mixed"))
    assert ("ok", 3) == (result.result, result.new)
    languages = {a.title: a.language for a in await rig.articles()}
    assert {HEADLINES[1][1]: "ru", HEADLINES[5][1]: "zh", "OK": None} == languages
    for label in ("ru", "zh", "und"):
        assert 1.0 == rig.metrics.registry.get_sample_value(
            "monitor_articles_total", {"language": label}
        )


def test_threads_detecting_at_once_load_the_model_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four threads detecting at the same moment, before the model is loaded (as the poller's
    workers do on a first poll of many feeds), load it once between them, not once each (each
    load holds 115 MB at its height): all four get their answer."""
    for name in ("_identifier", "_load_identifier"):  # forget the model this process loaded
        cached = getattr(language_module, name, None)
        if cached is not None:
            cached.cache_clear()
    loads: list[int] = []
    load = LanguageIdentifier.from_model_file

    def counted(*args: object, **kwargs: object) -> LanguageIdentifier:
        loads.append(1)
        return load(*args, **kwargs)

    monkeypatch.setattr(LanguageIdentifier, "from_model_file", staticmethod(counted))
    together = threading.Barrier(4)
    found: list[str | None] = []

    def detect() -> None:
        together.wait()
        found.append(detect_language(HEADLINES[0][1]))

    threads = [threading.Thread(target=detect) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ["en"] * 4 == found
    assert [1] == loads


def _feed(*titles: str) -> bytes:
    items = "".join(
        f"<item><title>{t}</title><guid>g{i}</guid></item>" for i, t in enumerate(titles)
    )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()
