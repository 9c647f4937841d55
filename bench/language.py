"""Language detection on held-out sentences in twelve languages (bench/data/ud)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from monitor.kernel.language import detect_language

DATA = Path(__file__).parent / "data" / "ud"
TITLE_CHARS = 60  # a headline's length: the first 60 characters of each sentence


def load(language: str) -> list[dict[str, Any]]:
    """The held-out sentences of one language."""
    lines = (DATA / f"{language}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def languages() -> list[str]:
    """The languages there are sentences of."""
    return sorted(p.stem for p in DATA.glob("*.jsonl"))


def accuracy(cut: int | None = None) -> dict[str, tuple[float, float]]:
    """Per language: (share detected right, share left undecided), texts cut to `cut` chars."""
    result = {}
    for language in languages():
        texts = [s["text"][:cut] if cut else s["text"] for s in load(language)]
        found = [detect_language(t) for t in texts]
        right = sum(f == language for f in found) / len(texts)
        undecided = sum(f is None for f in found) / len(texts)
        result[language] = (right, undecided)
    return result


def speed() -> float:
    """Sentences detected per second, over every language's sentences."""
    texts = [s["text"] for language in languages() for s in load(language)]
    detect_language(texts[0])  # the model loads once, outside the timing
    started = time.perf_counter()
    for t in texts:
        detect_language(t)
    return len(texts) / (time.perf_counter() - started)


def language_rows() -> list[dict[str, str]]:
    """`make bench` rows: per language, how often detection is right on whole sentences and on
    headline-length cuts, and how often it declines; then the speed."""
    from bench.run import row

    whole, titles = accuracy(), accuracy(TITLE_CHARS)
    rows = []
    for language in languages():
        (right, undecided), (t_right, t_undecided) = whole[language], titles[language]
        wrong, t_wrong = 1 - right - undecided, 1 - t_right - t_undecided
        rows.append(
            row(
                f"language detection, {language} ({len(load(language)):,} held-out sentences)",
                f"{right:.1%} right, {wrong:.1%} wrong, {undecided:.1%} undecided",
                "-",
                f"first {TITLE_CHARS} chars: {t_right:.1%} right, {t_wrong:.1%} wrong",
            )
        )
    mean = sum(r for r, _ in whole.values()) / len(whole)
    wrong_all = sum(1 - r - u for r, u in whole.values()) / len(whole)
    rows.append(
        row(
            f"language detection, mean of {len(whole)} languages",
            f"{mean:.1%} right, {wrong_all:.1%} wrong",
            "-",
            f"{speed():,.0f} sentences/s",
        )
    )
    return rows
