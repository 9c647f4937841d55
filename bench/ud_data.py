"""Make bench/data/ud/: sentences of Universal Dependencies treebanks, held out for the language
and entity figures (`python -m bench.ud_data MIRRORS`, MIRRORS holding the treebank clones).

Each line of `<language>.jsonl` is one sentence: its text and the lemmas of its proper nouns, as
the treebank's annotators wrote them. The lemmas are the ground truth of the entity figure: a
sentence with the lemma Казахстан mentions Kazakhstan, whatever form the text has.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).parent / "data" / "ud"
# language: (treebank, file) — the parallel PUD sets where one exists (news and Wikipedia), the
# Kazakh KTB (news, Wikipedia, stories) and the Ukrainian ParlaMint (parliament) test sets.
TREEBANKS = {
    "ar": ("UD_Arabic-PUD", "ar_pud-ud-test.conllu"),
    "de": ("UD_German-PUD", "de_pud-ud-test.conllu"),
    "en": ("UD_English-PUD", "en_pud-ud-test.conllu"),
    "es": ("UD_Spanish-PUD", "es_pud-ud-test.conllu"),
    "fr": ("UD_French-PUD", "fr_pud-ud-test.conllu"),
    "it": ("UD_Italian-PUD", "it_pud-ud-test.conllu"),
    "kk": ("UD_Kazakh-KTB", "kk_ktb-ud-test.conllu"),
    "pl": ("UD_Polish-PUD", "pl_pud-ud-test.conllu"),
    "ru": ("UD_Russian-PUD", "ru_pud-ud-test.conllu"),
    "tr": ("UD_Turkish-PUD", "tr_pud-ud-test.conllu"),
    "uk": ("UD_Ukrainian-ParlaMint", "uk_parlamint-ud-test.conllu"),
    "zh": ("UD_Chinese-PUD", "zh_pud-ud-test.conllu"),
}


def sentences(conllu: str) -> list[dict[str, object]]:
    """The sentences of a CoNLL-U document: text and proper-noun lemmas."""
    found: list[dict[str, object]] = []
    text, lemmas = "", list[str]()
    for line in conllu.splitlines():
        if line.startswith("# text = "):
            text = line[len("# text = ") :].strip()
        elif not line.strip():
            if text:
                found.append({"text": text, "lemmas": lemmas})
            text, lemmas = "", []
        elif not line.startswith("#"):
            cols = line.split("\t")
            if len(cols) > 3 and cols[3] == "PROPN" and cols[0].isdigit():
                lemmas.append(cols[2])
    if text:
        found.append({"text": text, "lemmas": lemmas})
    return found


def main(argv: list[str]) -> int:
    """Write one JSONL file per language from the treebanks under argv[0]."""
    mirrors = Path(argv[0])
    OUT.mkdir(parents=True, exist_ok=True)
    for language, (treebank, name) in TREEBANKS.items():
        path = next(mirrors.glob(f"*{treebank}*/**/{name}"), None) or mirrors / treebank / name
        rows = sentences(path.read_text(encoding="utf-8"))
        with (OUT / f"{language}.jsonl").open("w", encoding="utf-8") as out:
            for r in rows:
                out.write(json.dumps(r, ensure_ascii=False) + "\n")
        print(language, len(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
