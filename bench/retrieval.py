"""Language-agnostic retrieval: plain ranking vs corpus means vs the model's language vectors.

    .venv/bin/python bench/retrieval.py [--docs 80] [--pairs 64] [--cache-dir /tmp/rosetta-eval]

The task, pools and metrics are `training.evaluation.retrieval` (also `rosetta eval --tasks
retrieval`). Embeddings are cached on disk (--cache-dir), so a rerun only ranks. Writes
bench/results/retrieval.json and retrieval.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rosetta.models import Encoder  # noqa: E402
from rosetta.models.cpu import isa_flags  # noqa: E402
from rosetta.settings import Settings, resolve_device  # noqa: E402
from training.evaluation.retrieval import (  # noqa: E402
    DEFAULT_DISTRACTORS,
    DEFAULT_DOCS,
    DEFAULT_PAIRS,
    evaluate_retrieval,
    markdown,
)
from training.language_vectors import CachedEmbedder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parallel", type=Path, default=REPO.parent / "shared/data/parallel")
    parser.add_argument("--docs", type=int, default=DEFAULT_DOCS)
    parser.add_argument("--distractors", type=int, default=DEFAULT_DISTRACTORS)
    parser.add_argument("--pairs", type=int, default=DEFAULT_PAIRS)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/rosetta-eval"))
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/retrieval")
    args = parser.parse_args()
    settings = Settings()
    encoder = Encoder.load(
        settings.model, settings.models_dir, resolve_device(settings.device), args.precision
    )
    started = time.perf_counter()
    result = evaluate_retrieval(
        CachedEmbedder(encoder, args.cache_dir, settings.batch_size),
        args.parallel,
        n_docs=args.docs,
        n_distractors=args.distractors,
        pairs=args.pairs,
    )
    result.update(
        {
            "model": encoder.identity.to_dict(),
            "precision": encoder.precision,
            "seconds": round(time.perf_counter() - started, 1),
            "cpu_flags": isa_flags(),
            "machine": f"{platform.machine()}, {platform.processor() or '?'}; shared by several jobs",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    table = markdown(result)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    args.out.with_suffix(".md").write_text(
        f"# Language-agnostic retrieval ({encoder.identity.describe()}, {encoder.precision})\n\n"
        f"{len(result['langs'])} languages ({', '.join(result['langs'])}), {result['documents']} documents, "
        f"{result['queries']} queries, language vectors from {result['pairs_per_language']} pairs per "
        f"language.\n{table}\n"
    )


if __name__ == "__main__":
    main()
