"""Training-step throughput: fp32 vs bf16 autocast, random vs length-grouped batches, side by side.

Usage: python bench/train_speed.py [--pairs 512] [--batch-size 32] [--threads 2]
Real pairs from ../shared/data/parallel (8 languages), the training student (mE5-small, frozen word
embeddings and bottom 6 layers, max 64 tokens), MSE steps as the trainer runs them. Timing needs
no particular targets, so they are fixed random vectors. Prints pairs/s per variant and the ratios.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch
from datasets import Dataset

from rosetta.models.precision import autocast
from rosetta.settings import Settings
from training.batching import LengthGroupedBatchSampler
from training.data import load_parallel, source_from_spec
from training.student import build_student

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "parallel"
LANGS = ["de", "es", "fr", "it", "ar", "tr", "zh", "ru"]


def random_batches(n: int, batch_size: int, seed: int) -> list[list[int]]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[k : k + batch_size] for k in range(0, n - batch_size + 1, batch_size)]


def run(
    model: torch.nn.Module,
    english: list[str],
    translation: list[str],
    batches: list[list[int]],
    precision: str,
) -> float:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5)
    target = torch.randn(1, model.get_embedding_dimension(), generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    for batch in batches:
        feats = [model.preprocess([col[i] for i in batch]) for col in (english, translation)]
        with autocast(precision, "cpu"):
            out = [model(f)["sentence_embedding"].float() for f in feats]
            loss = sum(((o - target) ** 2).mean() for o in out)
        loss.backward()
        opt.step()
        opt.zero_grad()
    return len(batches) * len(batches[0]) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "train_speed.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    data = load_parallel(
        [source_from_spec(str(DATA), LANGS)],
        langs=LANGS,
        max_pairs_per_lang=args.pairs // len(LANGS),
        max_chars=250,
        heldout_per_lang=0,
    )
    english = ["query: " + p.english for p in data.train]
    translation = ["query: " + p.translation for p in data.train]
    model, _ = build_student(
        "multilingual-e5-small",
        Settings().models_dir,
        "cpu",
        target_dim=384,
        normalized_target=False,
        freeze_embeddings=True,
        max_seq_length=64,
        freeze_layers=6,
    )
    columns = Dataset.from_dict({"english": english, "translation": translation})
    grouped = list(LengthGroupedBatchSampler(columns, args.batch_size, drop_last=True, seed=0))
    plain = random_batches(len(english), args.batch_size, 0)
    run(model, english, translation, plain[:2], "fp32")  # warm-up: allocator, oneDNN kernels
    results = {}
    for batching, batches in (("random", plain), ("length-grouped", grouped)):
        for precision in ("fp32", "bf16"):
            rate = run(model, english, translation, batches, precision)
            results[f"{precision}/{batching}"] = round(rate, 1)
            print(f"{precision:5s} {batching:15s} {rate:6.1f} pairs/s", flush=True)
    base = results["fp32/random"]
    ratios = {k: round(v / base, 2) for k, v in results.items()}
    print("speed-up over fp32/random: " + ", ".join(f"{k} ×{v}" for k, v in ratios.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "pairs": len(english),
        "batch_size": args.batch_size,
        "threads": args.threads,
        "pairs_per_second": results,
        "speedup": ratios,
    }
    args.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
