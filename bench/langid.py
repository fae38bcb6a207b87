"""Passage language id: Rosetta's detector (`rosetta.langid.detect`) against langdetect's own
Detector with the same settings (3 trials, first 500 characters, 0.70 to answer), side by side:
accuracy on texts of 1, 3 and 8 sentences in every language langdetect knows, and CPU per text on
those and on the ingest bench's corpus (24 random languages, some langdetect does not know: those
never converge and cost the most).

    .venv/bin/python bench/langid.py [--per-cell 12]
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "parallel"
RESULTS = REPO / "bench" / "results" / "langid.json"
SIZES = (1, 3, 8)


def labelled_texts(per_cell: int, seed: int = 1) -> list[tuple[str, int, str]]:
    """(language, sentences, text) for every language langdetect has a profile for."""
    import langcodes
    from langdetect.detector_factory import PROFILES_DIRECTORY

    rng = random.Random(seed)
    codes = sorted({p.name.split("-")[0] for p in Path(PROFILES_DIRECTORY).iterdir()})
    out = []
    for code in codes:
        a3 = {"zh": "zho", "no": "nob"}.get(code) or langcodes.Language.get(code).to_alpha3()
        path = DATA / f"en-{a3}.tsv.gz"
        if not path.exists():  # English is the source side of every file
            path, column = DATA / "en-deu.tsv.gz", 0
        else:
            column = 1
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            lines = [line.rstrip("\n").split("\t")[column] for _, line in zip(range(3000), fh, strict=False)]
        rng.shuffle(lines)
        k = 0
        for size in SIZES:
            for _ in range(per_cell):
                out.append((code, size, " ".join(lines[k : k + size])))
                k += size
    return out


def bench_texts(languages: int = 24, per_lang: int = 400, seed: int = 0) -> list[str]:
    """Three-sentence passages as bench/ingest.py builds them (the same draw of languages)."""
    rng = random.Random(seed)
    files = sorted(DATA.glob("en-*.tsv.gz"))
    rng.shuffle(files)
    out = []
    for f in files[:languages]:
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            lines = [line.rstrip("\n").split("\t")[1] for _, line in zip(range(per_lang), fh, strict=False)]
        out += [" ".join(lines[i : i + 3]) for i in range(0, len(lines), 3)]
    return out


def langdetect_reference() -> Callable[[str], str]:
    """langdetect's Detector itself, configured as Rosetta's detector."""
    from langdetect import LangDetectException
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    from rosetta import langid

    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(0)

    def detect(text: str) -> str:
        if sum(ch.isalpha() for ch in text) < langid.MIN_LETTERS:
            return langid.UNDETERMINED
        detector = factory.create()
        detector.n_trial = langid.PASSAGE_TRIALS
        detector.set_max_text_length(langid.PASSAGE_SAMPLE_CHARS)
        detector.append(text)
        try:
            best = detector.get_probabilities()[0]
        except (LangDetectException, IndexError):
            return langid.UNDETERMINED
        code = {"zh-cn": "zh", "zh-tw": "zh"}.get(best.lang, best.lang)
        return code if best.prob >= langid.MIN_PROBABILITY else langid.UNDETERMINED

    return detect


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-cell", type=int, default=12, help="texts per language and size")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    from rosetta import langid
    from rosetta.models.cpu import isa_flags

    labelled = labelled_texts(args.per_cell)
    corpus = bench_texts()
    detectors = {"langdetect": langdetect_reference(), "rosetta": langid.detect}
    rows: dict[str, dict] = {}
    for name, detect in detectors.items():
        detect("warm up the language profiles")
        counts: dict[int, Counter[str]] = {size: Counter() for size in SIZES}
        start = time.process_time()
        for code, size, text in labelled:
            found = detect(text)
            verdict = (
                "und"
                if found == langid.UNDETERMINED
                else "ok"
                if langid.same_language(found, code)
                else "wrong"
            )
            counts[size][verdict] += 1
        labelled_ms = (time.process_time() - start) * 1000 / len(labelled)
        start = time.process_time()
        for text in corpus:
            detect(text)
        corpus_ms = (time.process_time() - start) * 1000 / len(corpus)
        rows[name] = {
            "cpu_ms_per_text_known_languages": round(labelled_ms, 3),
            "cpu_ms_per_text_ingest_corpus": round(corpus_ms, 3),
            **{
                f"{size}_sentences_%": {
                    k: round(100 * counts[size][k] / sum(counts[size].values()), 1)
                    for k in ("ok", "und", "wrong")
                }
                for size in SIZES
            },
        }
    result = {
        "languages": len({c for c, _, _ in labelled}),
        "texts": len(labelled),
        "ingest_corpus_texts": len(corpus),
        "settings": {
            "trials": langid.PASSAGE_TRIALS,
            "chars": langid.PASSAGE_SAMPLE_CHARS,
            "min_probability": langid.MIN_PROBABILITY,
        },
        "detectors": rows,
        "speedup_ingest_corpus": round(
            rows["langdetect"]["cpu_ms_per_text_ingest_corpus"]
            / rows["rosetta"]["cpu_ms_per_text_ingest_corpus"],
            2,
        ),
        "cpu_flags": isa_flags(),
        "python": platform.python_version(),
    }
    print(f"{result['texts']} texts in {result['languages']} languages; ingest corpus {len(corpus)} passages")
    for name, row in rows.items():
        acc = "  ".join(
            f"{s}s ok {row[f'{s}_sentences_%']['ok']:.1f} und {row[f'{s}_sentences_%']['und']:.1f} "
            f"wrong {row[f'{s}_sentences_%']['wrong']:.1f}"
            for s in SIZES
        )
        print(
            f"{name:10s} {row['cpu_ms_per_text_known_languages']:.2f} ms (known) "
            f"{row['cpu_ms_per_text_ingest_corpus']:.2f} ms (ingest corpus)  {acc}"
        )
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
