"""Ingest throughput: the whole pipeline vs the encoder alone, on the same texts, in one run.

The corpus is built from the shared parallel data (never copied into the repo): sentences in
many languages, grouped into documents, written as .txt files into a temporary folder.
The pipeline (discover, read, chunk, language, sparse, encode, upsert into embedded Qdrant)
must reach ≥ 0.9× the chunks/s of `encode_documents` on exactly the chunks it produced.

    .venv/bin/python bench/ingest.py [--sentences 2400] [--languages 24] [--per-doc 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "parallel"
RESULTS = REPO / "bench" / "results" / "ingest.json"


def build_corpus(folder: Path, sentences: int, languages: int, per_doc: int, rounds: int,
                 seed: int = 0) -> list[Path]:
    """Write documents of `per_doc` sentences each into `rounds` folders (languages split between
    them, so document ids never collide); returns the folders."""
    rng = random.Random(seed)
    files = sorted(DATA.glob("en-*.tsv.gz"))
    rng.shuffle(files)
    files = files[:languages]
    per_lang = sentences // len(files)
    folders = [folder / f"round{r}" for r in range(rounds)]
    for k, f in enumerate(files):
        lang = f.name[3:].split(".")[0]
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            lines = [line.rstrip("\n").split("\t")[1] for _, line in zip(range(per_lang), fh, strict=False)]
        target = folders[k % rounds] / lang
        target.mkdir(parents=True, exist_ok=True)
        for i in range(0, len(lines), per_doc):
            (target / f"{i // per_doc:04d}.txt").write_text(" ".join(lines[i:i + per_doc]) + "\n")
    return folders


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=2400)
    ap.add_argument("--languages", type=int, default=24)
    ap.add_argument("--per-doc", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=4,
                    help="alternate pipeline and encoder-only runs over this many corpus slices, so a "
                         "change in machine load hits both sides alike")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--model", default="multilingual-e5-small")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    from indexer.discovery import discover
    from indexer.pipeline import Index
    from indexer.readers import ReadOptions, read_source
    from indexer.store import open_embedded
    from rosetta.models import Encoder
    from rosetta.settings import Settings, resolve_device

    settings = Settings()
    device = resolve_device(settings.device)
    encoder = Encoder.load(args.model, settings.models_dir, device, settings.precision)
    pipeline_s = encoder_s = 0.0
    # CPU seconds of this process (all threads): robust to other processes loading the machine,
    # which makes wall-clock rates on a shared box swing by ±30 % from one minute to the next.
    pipeline_cpu = encoder_cpu = 0.0
    chunks_added = n_chunks = n_docs = 0
    failed = 0
    with tempfile.TemporaryDirectory(prefix="rosetta-bench-") as tmp:
        folders = build_corpus(Path(tmp) / "corpus", args.sentences, args.languages, args.per_doc,
                               args.rounds)
        store = open_embedded(Path(tmp))
        index = Index(store, encoder, "bench", batch_size=args.batch_size)
        index.ensure()
        # Warm both sides up: the encoder's first batches, langdetect's profiles, the vocab scan.
        encoder.encode_documents(["warm up the encoder"] * args.batch_size, batch_size=args.batch_size)
        from indexer.sparse import sparse_vectors
        from rosetta.langid import detect

        detect("warm up the language profiles")
        sparse_vectors(encoder.tokenizer, ["warm up"])
        for r, folder in enumerate(folders):
            # The encoder-only side gets exactly the chunks the pipeline will embed.
            docs = [d for src in discover([folder]).files for d in read_source(src, ReadOptions())]
            texts = [c.text for d in docs for c in index.chunker.split(d.text, d.pages)]
            n_docs += len(docs)
            n_chunks += len(texts)

            def encode_only(texts: list[str] = texts) -> float:
                nonlocal encoder_cpu
                t0, c0 = time.perf_counter(), time.process_time()
                encoder.encode_documents(texts, batch_size=args.batch_size)
                encoder_cpu += time.process_time() - c0
                return time.perf_counter() - t0

            def pipeline(folder: Path = folder) -> float:
                nonlocal chunks_added, failed, pipeline_cpu
                t0, c0 = time.perf_counter(), time.process_time()
                report = index.add([folder])
                pipeline_cpu += time.process_time() - c0
                chunks_added += report.chunks_added
                failed += len(report.files_failed)
                return time.perf_counter() - t0

            if r % 2 == 0:
                encoder_s += encode_only()
                pipeline_s += pipeline()
            else:
                pipeline_s += pipeline()
                encoder_s += encode_only()
            print(f"round {r + 1}/{len(folders)}: {len(texts)} chunks; pipeline {pipeline_s:.1f} s, "
                  f"encoder {encoder_s:.1f} s so far", flush=True)
        stored = store.count("bench")
        store.close()
    assert chunks_added == n_chunks == stored, (chunks_added, n_chunks, stored)

    pipeline_rate = chunks_added / pipeline_s
    encoder_rate = n_chunks / encoder_s
    result = {
        "documents": n_docs,
        "chunks": n_chunks,
        "languages": args.languages,
        "rounds": args.rounds,
        "model": args.model,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "pipeline_seconds": round(pipeline_s, 2),
        "encoder_seconds": round(encoder_s, 2),
        "pipeline_chunks_per_s": round(pipeline_rate, 2),
        "encoder_chunks_per_s": round(encoder_rate, 2),
        "ratio": round(pipeline_rate / encoder_rate, 3),
        "pipeline_cpu_seconds": round(pipeline_cpu, 2),
        "encoder_cpu_seconds": round(encoder_cpu, 2),
        "cpu_ratio": round(encoder_cpu / pipeline_cpu, 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "target_ratio": 0.9,
        "files_failed": failed,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(f"corpus: {n_docs} documents, {n_chunks} chunks, {args.languages} languages")
    print(f"encoder only : {encoder_rate:8.1f} chunks/s ({encoder_s:.1f} s)")
    print(f"pipeline     : {pipeline_rate:8.1f} chunks/s ({pipeline_s:.1f} s)")
    print(f"ratio        : {result['ratio']:.3f} (target ≥ 0.9)")
    print(f"CPU-time ratio (encoder CPU s / pipeline CPU s): {result['cpu_ratio']:.3f}; "
          f"load average {result['load_average_1m']} on {result['cpus']} CPUs")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["ratio"] >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
