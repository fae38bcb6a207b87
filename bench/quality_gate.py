"""Quality gate of the encoder backends against torch fp32 (the reference), in one run.

Tatoeba (6 languages, accuracy) and STS17 (Spearman) through `training.evaluation`, and a
cross-language passage retrieval eval built from the shared parallel data (never copied into the repo):
passages of 3 sentences in one of 8 languages, pooled; each English query is the translation of a
passage's first sentence (and the reverse: a query in the passage's language against English passages).
nDCG@10 with one relevant passage per query, for every (query backend, passage backend) pair, which
is what decides whether a collection written by one backend may be searched with another.

Gate: Tatoeba and STS17 means within 1.0 point, nDCG@10 within 0.5 point of torch fp32.

    .venv/bin/python bench/quality_gate.py [--backends torch,torch-bf16,onnx-int8,onnx] [--passages 150]
        [--student PATH [--student-backends torch,onnx-int8]]

`--student` holds another model (a smaller student of this one) to the same gate against this
model's torch fp32: its backends run as student-<backend>, and retrieval pairs only within one model
(a collection refuses queries of another model).
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
RESULTS = REPO / "bench" / "results" / "quality_gate.json"
TATOEBA_LANGS = ["deu", "spa", "fra", "ita", "ara", "tur"]
RETRIEVAL_LANGS = ["deu", "spa", "fra", "ara", "tur", "zho", "hin", "rus"]
SKIP_LINES = 2000  # the start of each file is what training runs sample first
# name -> (backend, precision); "torch" (fp32) is the reference every other variant is held to.
VARIANTS = {
    "torch": ("torch", "fp32"),
    "torch-bf16": ("torch", "bf16"),
    "onnx": ("onnx", "fp32"),
    "onnx-int8": ("onnx-int8", "fp32"),
}


def retrieval_set(passages_per_lang: int, seed: int = 0) -> dict[str, list]:
    """Passages (3 sentences, language X) with an English query for the first sentence, and English
    passages with a query in X; ids line up (query i's relevant passage is passage i)."""
    rng = random.Random(seed)
    xx_passages, en_queries, en_passages, xx_queries, langs = [], [], [], [], []
    for lang in RETRIEVAL_LANGS:
        with gzip.open(SHARED / "parallel" / f"en-{lang}.tsv.gz", "rt", encoding="utf-8") as fh:
            pairs = [line.rstrip("\n").split("\t") for line in fh][SKIP_LINES:]
        pairs = [p for p in pairs if len(p) == 2 and len(p[0]) > 20]
        rng.shuffle(pairs)
        for i in range(passages_per_lang):
            group = pairs[3 * i : 3 * i + 3]
            xx_passages.append(" ".join(p[1] for p in group))
            en_passages.append(" ".join(p[0] for p in group))
            en_queries.append(group[0][0])
            xx_queries.append(group[0][1])
            langs.append(lang)
    return {
        "xx_passages": xx_passages,
        "en_queries": en_queries,
        "en_passages": en_passages,
        "xx_queries": xx_queries,
        "langs": langs,
    }


def ndcg_at_10(queries: np.ndarray, passages: np.ndarray) -> float:
    """Mean nDCG@10 where query i's only relevant passage is passage i (ideal DCG = 1)."""
    scores = queries @ passages.T
    own = scores[np.arange(len(scores)), np.arange(len(scores))]
    rank = (scores > own[:, None]).sum(axis=1)  # 0-based
    gains = np.where(rank < 10, 1.0 / np.log2(rank + 2), 0.0)
    return float(gains.mean() * 100)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="torch,onnx-int8,onnx")
    ap.add_argument("--passages", type=int, default=150, help="passages per language")
    ap.add_argument("--model", default="multilingual-e5-small")
    ap.add_argument("--batch-size", type=int, default=32, help="as ingest batches (ROSETTA_BATCH_SIZE)")
    ap.add_argument(
        "--eval-backends",
        default=None,
        help="backends that also run Tatoeba and STS17 (default: all); the others only "
        "encode the retrieval set, their scores come from --reference",
    )
    ap.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="an earlier result whose Tatoeba/STS17 scores stand in for backends not "
        "evaluated here (read when the verdicts are made)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--student", default=None, help="a smaller model held to this model's gate")
    ap.add_argument("--student-backends", default="torch,onnx-int8")
    args = ap.parse_args()

    from rosetta.models import Encoder
    from rosetta.models.cpu import isa_flags
    from rosetta.settings import Settings
    from training.evaluation import evaluate_encoder

    settings = Settings()
    backends = args.backends.split(",")
    models = dict.fromkeys(backends, args.model)
    if args.student:
        for b in args.student_backends.split(","):
            VARIANTS[f"student-{b}"] = VARIANTS[b]
            models[f"student-{b}"] = args.student
            backends.append(f"student-{b}")
    eval_backends = set(args.eval_backends.split(",")) if args.eval_backends else set(backends)
    data = retrieval_set(args.passages)
    vectors: dict[str, dict[str, np.ndarray]] = {}
    result: dict = {
        "model": args.model,
        "student": args.student,
        "backends": {},
        "retrieval_pairs": {},
        "retrieval": {"languages": RETRIEVAL_LANGS, "passages": len(data["xx_passages"])},
        "gate": {"tatoeba_points": 1.0, "sts17_points": 1.0, "ndcg10_points": 0.5},
        "cpu_flags": isa_flags(),
        "python": platform.python_version(),
    }
    for backend in backends:
        t0 = time.perf_counter()
        engine, precision = VARIANTS[backend]
        encoder = Encoder.load(models[backend], settings.models_dir, "cpu", precision, engine)
        tasks = ["tatoeba", "sts17"] if backend in eval_backends else []
        ev = evaluate_encoder(encoder, SHARED / "eval", tasks, TATOEBA_LANGS, batch_size=args.batch_size)
        vectors[backend] = {
            "en_q": encoder.encode_queries(data["en_queries"], batch_size=args.batch_size),
            "xx_q": encoder.encode_queries(data["xx_queries"], batch_size=args.batch_size),
            "xx_p": encoder.encode_documents(data["xx_passages"], batch_size=args.batch_size),
            "en_p": encoder.encode_documents(data["en_passages"], batch_size=args.batch_size),
        }
        result["backends"][backend] = {
            "model": models[backend],
            "identity": encoder.identity.to_dict(),
            "precision": encoder.precision,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        if tasks:
            result["backends"][backend].update(
                {
                    "tatoeba_mean": round(
                        100 * float(np.mean([v["accuracy"] for v in ev["tatoeba"].values()])), 2
                    ),
                    "tatoeba": ev["tatoeba"],
                    "sts17_mean": ev["summary"].get("sts17_mean"),
                    "sts17": ev["sts17"],
                }
            )
        for qb in vectors:
            for pb in vectors:
                if f"{qb}->{pb}" in result["retrieval_pairs"] or models[qb] != models[pb]:
                    continue
                q, p = vectors[qb], vectors[pb]
                result["retrieval_pairs"][f"{qb}->{pb}"] = {
                    "en_query_to_xx_passage": round(ndcg_at_10(q["en_q"], p["xx_p"]), 2),
                    "xx_query_to_en_passage": round(ndcg_at_10(q["xx_q"], p["en_p"]), 2),
                }
        b = result["backends"][backend]
        print(
            f"{backend}: tatoeba {b.get('tatoeba_mean')}, sts17 {b.get('sts17_mean')} ({b['seconds']} s)",
            flush=True,
        )
        _merge_reference(result, args.reference, eval_backends)
        _verdicts(result)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    for name, verdict in result["verdicts"].items():
        print(f"{name:24s} {verdict}")
    return 0 if all(v["pass"] for v in result["verdicts"].values()) else 1


def _merge_reference(result: dict, reference: Path | None, evaluated: set[str]) -> None:
    if reference is None or not reference.exists():
        return
    earlier = json.loads(reference.read_text())["backends"]
    for name, entry in result["backends"].items():
        before = earlier.get(name)
        # Older results name no model per backend: theirs was the main model.
        if name in evaluated or before is None or before.get("model", result["model"]) != entry["model"]:
            continue
        entry.update(
            {k: v for k, v in before.items() if k.startswith(("tatoeba", "sts17"))},
            scores_from=reference.name,
        )


def _verdicts(result: dict) -> None:
    """Deltas against torch fp32 (torch->torch retrieval) for every backend and backend pair."""
    ref = result["backends"].get("torch")
    ref_pairs = result["retrieval_pairs"].get("torch->torch")
    if ref is None or ref_pairs is None:
        return
    gate = result["gate"]
    verdicts = {}
    for name, scores in result["retrieval_pairs"].items():
        d = {k: round(v - ref_pairs[k], 2) for k, v in scores.items()}
        ok = all(abs(x) <= gate["ndcg10_points"] or x > 0 for x in d.values())
        entry: dict = {"ndcg10_delta": d}
        qb, pb = name.split("->")
        b = result["backends"][qb]
        if qb == pb and "tatoeba_mean" in b and "tatoeba_mean" in ref:
            entry["tatoeba_delta"] = round(b["tatoeba_mean"] - ref["tatoeba_mean"], 2)
            entry["sts17_delta"] = round(b["sts17_mean"] - ref["sts17_mean"], 2)
            ok = (
                ok
                and entry["tatoeba_delta"] >= -gate["tatoeba_points"]
                and entry["sts17_delta"] >= -gate["sts17_points"]
            )
        entry["pass"] = ok
        verdicts[name] = entry
    result["verdicts"] = verdicts


if __name__ == "__main__":
    sys.exit(main())
