"""What the ingest reader's CPU costs the encoder beside it: encoder throughput (the default bf16/fp32
torch encoder, token-sorted batches of 32) alone, then with language id running at a given duty cycle
in a thread of the same process (GIL and cores shared) and in another process (cores only).

Answers whether moving the reader into worker processes would lift the pipeline/encoder ratio on a
machine whose cores the encoder already uses (it does not when both rows drop alike).

    .venv/bin/python bench/reader_contention.py [--duty 0.3] [--repeats 2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "parallel"
RESULTS = REPO / "bench" / "results" / "reader_contention.json"
LANGS = ["deu", "rus", "zho", "ara", "tur", "fra", "hin", "jpn"]


def passages() -> list[str]:
    out: list[str] = []
    for lang in LANGS:
        with gzip.open(DATA / f"en-{lang}.tsv.gz", "rt", encoding="utf-8") as fh:
            lines = [line.rstrip("\n").split("\t")[1] for _, line in zip(range(144), fh, strict=False)]
        out += [" ".join(lines[i : i + 3]) for i in range(0, len(lines), 3)]
    return out


def language_id_load(stop: Any, duty: float) -> None:
    """Detect passage languages for `duty` of every 10 ms, as the reader does beside the encoder."""
    from rosetta.langid import detect

    texts, i = passages(), 0
    while not stop.is_set():
        start = time.perf_counter()
        while time.perf_counter() - start < 0.010 * duty:
            detect(texts[i % len(texts)])
            i += 1
        time.sleep(0.010 * (1 - duty))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duty", type=float, default=0.3, help="share of one core the language id takes")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    import torch

    from rosetta.models import Encoder
    from rosetta.models.cpu import isa_flags
    from rosetta.settings import Settings

    settings = Settings()
    encoder = Encoder.load(settings.model, settings.models_dir, "cpu", settings.precision, "torch")
    texts = passages()
    tokens = [len(encoder.tokenizer(t)["input_ids"]) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: -tokens[i])

    def chunks_per_s() -> float:
        start = time.perf_counter()
        for s in range(0, len(order), 32):
            encoder.encode_documents([texts[i] for i in order[s : s + 32]], batch_size=32)
        return len(texts) / (time.perf_counter() - start)

    chunks_per_s()  # warm up
    modes = ("alone", "language id in a thread", "language id in a process")
    rows: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(args.repeats):
        for mode in rows:
            stop: Any = None
            worker: Any = None
            if mode.endswith("thread"):
                stop = threading.Event()
                worker = threading.Thread(target=language_id_load, args=(stop, args.duty))
            elif mode.endswith("process"):
                stop = mp.Event()
                worker = mp.Process(target=language_id_load, args=(stop, args.duty))
            if worker is not None:
                worker.start()
                time.sleep(1.5)  # profiles loaded, load running
            rows[mode].append(round(chunks_per_s(), 1))
            if worker is not None:
                stop.set()
                worker.join()
    best = {mode: max(v) for mode, v in rows.items()}
    for mode, value in best.items():
        print(f"{mode:26s} {value:6.1f} chunks/s  ({value / best['alone']:.2f} of alone)")
    result = {
        "encoder": f"{encoder.identity.name}, torch {encoder.precision}, {torch.get_num_threads()} threads",
        "duty_of_one_core": args.duty,
        "chunks_per_s": rows,
        "relative_to_alone": {mode: round(v / best["alone"], 3) for mode, v in best.items()},
        "cpu_flags": isa_flags(),
        "cpus": os.cpu_count(),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
