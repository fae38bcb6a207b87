"""Where the search UI's defaults come from, measured on Tatoeba (human translations).

    .venv/bin/python bench/relevance.py [--per-lang 300] [--eval-dir ../shared/data/eval]

1. **Calibrated cut-off** (`app.search.DEFAULT_MIN_Z`, `WEAK_Z`). A collection of non-English
   Tatoeba sentences (deu, fra, jpn, ara); queries are (a) English sentences whose translation is
   in the collection, (b) nonsense (random letters, digit strings), (c) English sentences whose
   translation is *not* in the collection (everyday topics: related but not the answer).
   Each query's z-score is its cosine to a passage, standardised (median, MAD) against 512
   random passages of the collection — exactly what `Searcher.baseline` does. Reported: how many translations
   pass each z cut-off, and how many nonsense queries' best hits do.
2. **Translation finder threshold** (Explore's default minimum margin). German and Japanese
   samples where half the sentences have their translation on the other side; ratio-margin
   mining (k=4, mutual best, `rosetta.mining.mine`) at margins 1.00–1.30; precision = mined
   pairs that are true translations.

Writes bench/results/relevance.json (with the CPU flags).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import string
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.search import robust_location_scale  # noqa: E402
from rosetta.mining import mine  # noqa: E402
from rosetta.models import Encoder  # noqa: E402
from rosetta.models.cpu import isa_flags  # noqa: E402
from rosetta.settings import Settings  # noqa: E402

LANGS = ("deu", "fra", "jpn", "ara")
Z_CUTS = (2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0)
MARGINS = (0.98, 1.0, 1.01, 1.02, 1.03, 1.04, 1.05, 1.06, 1.08, 1.1)


def read_pairs(eval_dir: Path, lang: str) -> list[tuple[str, str]]:
    base = eval_dir / "tatoeba" / f"tatoeba.{lang}-eng"
    src = Path(f"{base}.{lang}").read_text(encoding="utf-8").splitlines()
    eng = Path(f"{base}.eng").read_text(encoding="utf-8").splitlines()
    return list(zip(src, eng, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-lang", type=int, default=300)
    parser.add_argument("--eval-dir", type=Path, default=REPO.parent / "shared" / "data" / "eval")
    parser.add_argument("--parts", default="calibration,finder", help="comma list: calibration, finder")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    out = REPO / "bench" / "results" / "relevance.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    rng = random.Random(0)
    settings = Settings()
    encoder = Encoder.load(settings.model, settings.models_dir, "cpu")
    t0 = time.perf_counter()

    calibration = previous.get("calibration")
    finder_result = previous.get("translation_finder_de_ja")
    if "calibration" in parts:
        calibration = measure_calibration(encoder, args, rng)
    if "finder" in parts:
        finder_result = measure_finder(encoder, args, rng)
    result = {
        "benchmark": "relevance",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": encoder.identity.describe(),
        "machine": platform.machine(),
        "cpu_flags": isa_flags(),
        "note": "CPU shared with other jobs; quality numbers are deterministic (seed 0), time is not",
        "seconds": round(time.perf_counter() - t0, 1),
        "calibration": calibration,
        "translation_finder_de_ja": finder_result,
    }
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))


def measure_calibration(encoder: Encoder, args: argparse.Namespace, rng: random.Random) -> dict:
    corpus, answers, unrelated = [], [], []
    for lang in LANGS:
        pairs = read_pairs(args.eval_dir, lang)
        rng.shuffle(pairs)
        inside, outside = pairs[: args.per_lang], pairs[args.per_lang : args.per_lang + 25]
        for foreign, english in inside:
            answers.append((english, len(corpus)))
            corpus.append(foreign)
        unrelated += [english for _, english in outside]
    nonsense = [
        "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 9)))
        + " "
        + "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 8)))
        for _ in range(60)
    ]
    nonsense += [" ".join(str(rng.randint(10, 99999)) for _ in range(2)) for _ in range(40)]
    docs = encoder.encode_documents(corpus)
    sample = docs[rng.sample(range(len(docs)), 512)]
    queries = rng.sample(answers, 200)

    def zs(vectors: np.ndarray) -> np.ndarray:
        sims = vectors @ docs.T
        base = vectors @ sample.T
        centre_scale = np.array([robust_location_scale(row) for row in base])
        return (sims - centre_scale[:, :1]) / centre_scale[:, 1:]

    z_answer = zs(encoder.encode_queries([q for q, _ in queries]))
    answer_z = np.array([z_answer[i, j] for i, (_, j) in enumerate(queries)])
    answer_rank1 = float(np.mean([z_answer[i].argmax() == j for i, (_, j) in enumerate(queries)]))
    nonsense_top = zs(encoder.encode_queries(nonsense)).max(axis=1)
    unrelated_top = zs(encoder.encode_queries(unrelated)).max(axis=1)
    calibration = {
        "corpus": len(corpus),
        "queries_with_answer": len(queries),
        "nonsense_queries": len(nonsense),
        "unrelated_queries": len(unrelated),
        "answer_is_top1": round(answer_rank1, 3),
        "answer_z_percentiles": {p: round(float(np.percentile(answer_z, p)), 2) for p in (5, 10, 25, 50)},
        "nonsense_top_z_percentiles": {
            p: round(float(np.percentile(nonsense_top, p)), 2) for p in (50, 90, 95, 99, 100)
        },
        "unrelated_top_z_percentiles": {
            p: round(float(np.percentile(unrelated_top, p)), 2) for p in (50, 90, 100)
        },
        "by_cut": [
            {
                "z": z,
                "answers_kept": round(float(np.mean(answer_z >= z)), 3),
                "nonsense_with_any_hit": round(float(np.mean(nonsense_top >= z)), 3),
                "unrelated_with_any_hit": round(float(np.mean(unrelated_top >= z)), 3),
            }
            for z in Z_CUTS
        ],
    }

    return calibration


def measure_finder(encoder: Encoder, args: argparse.Namespace, rng: random.Random) -> dict:
    de = read_pairs(args.eval_dir, "deu")
    ja = read_pairs(args.eval_dir, "jpn")
    by_eng_ja = {eng: foreign for foreign, eng in ja}
    shared = [(foreign, by_eng_ja[eng]) for foreign, eng in de if eng in by_eng_ja]
    rng.shuffle(shared)
    n = min(250, len(shared))
    true_pairs = shared[:n]
    used = {d for d, _ in true_pairs} | {j for _, j in true_pairs}
    extra_de = [(d, e) for d, e in de if d not in used][:n]
    extra_ja = [(j, e) for j, e in ja if j not in used][n : 2 * n]
    english_of = {foreign: eng for foreign, eng in de + ja}
    side_de = [d for d, _ in true_pairs] + [d for d, _ in extra_de]
    side_ja = [j for _, j in true_pairs] + [j for j, _ in extra_ja]
    # A pair is right when both sides translate the same English sentence (distractors included).
    truth = {
        (i, j) for i, d in enumerate(side_de) for j, x in enumerate(side_ja) if english_of[d] == english_of[x]
    }
    xa, xb = encoder.encode_documents(side_de), encoder.encode_documents(side_ja)
    finder = []
    for margin in MARGINS:
        mined = mine(xa, xb, k=4, mode="intersection", threshold=margin)
        good = sum((p.src, p.tgt) in truth for p in mined)
        finder.append(
            {
                "min_margin": margin,
                "pairs": len(mined),
                "precision": round(good / len(mined), 3) if mined else None,
                "recall": round(good / len(truth), 3),
            }
        )
    return {"true_pairs": len(truth), "sentences_per_side": len(side_de), "by_margin": finder}


if __name__ == "__main__":
    main()
