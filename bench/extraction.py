"""Article extraction on Zyte's article-extraction benchmark (bench/data/article-extraction-
benchmark: 181 news pages and the text a person marked as each one's article body).

Scored as the benchmark's own evaluate.py scores: per page, the true and extracted texts are cut
into word 4-grams ("shingles"); true positives, false positives and false negatives are counted
over them and normalized to sum to one, so a long page weighs no more than a short one; precision
and recall are averaged over the pages and F1 is their harmonic mean.
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
import time
from collections import Counter
from pathlib import Path

from monitor.feeds.extract import extract_page

DATA = Path(__file__).parent / "data" / "article-extraction-benchmark"
_TOKEN_RE = re.compile(r"\w+")
SHINGLE = 4


def _shingles(text: str) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN_RE.findall(text)
    return Counter(tuple(tokens[i : i + SHINGLE]) for i in range(max(1, len(tokens) - SHINGLE + 1)))


def tp_fp_fn(true: str, pred: str) -> tuple[float, float, float]:
    """The shingle counts of one page, normalized to sum to one."""
    a, b = _shingles(true), _shingles(pred)
    tp = sum((a & b).values())
    fp = sum((b - a).values())
    fn = sum((a - b).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def scores(rows: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """(F1, precision, recall) over the pages, as the benchmark computes them."""

    def precision(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else 0.0 if tp == fp == 0 else tp / (tp + fp)

    def recall(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else 0.0 if tp == fn == 0 else tp / (tp + fn)

    p = statistics.mean(precision(*r) for r in rows if r[0] + r[1] > 0)
    r = statistics.mean(recall(*r) for r in rows if r[0] + r[2] > 0)
    return 2 * p * r / (p + r), p, r


def evaluate() -> tuple[float, float, float, float]:
    """(F1, precision, recall, pages per second) of `extract_page` on the benchmark."""
    truth = json.loads((DATA / "ground-truth.json").read_text(encoding="utf-8"))
    pages = {k: gzip.decompress((DATA / "html" / f"{k}.html.gz").read_bytes()) for k in truth}
    started = time.perf_counter()
    found = {k: extract_page(body, truth[k].get("url", "")).text for k, body in pages.items()}
    rate = len(pages) / (time.perf_counter() - started)
    rows = [tp_fp_fn(truth[k].get("articleBody", ""), found[k]) for k in truth]
    return (*scores(rows), rate)


def extraction_rows() -> list[dict[str, str]]:
    """`make bench` rows: extraction quality and speed."""
    from bench.run import row

    f1, precision, recall, rate = evaluate()
    return [
        row(
            "article extraction F1, Zyte benchmark (181 news pages)",
            f"{f1:.3f} (precision {precision:.3f}, recall {recall:.3f})",
            ">= 0.95",
            "published: trafilatura 2.0 0.958, readability-lxml 0.922, newspaper4k 0.949",
        ),
        row("article extraction speed", f"{rate:,.0f} pages/s", "-"),
    ]
