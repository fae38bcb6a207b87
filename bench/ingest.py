"""Ingest throughput of every encoder backend, side by side in one run: the whole pipeline vs the
encoder alone on the same texts, query-encode latency on one thread, and the quality deltas.

The corpus is built from the shared parallel data (never copied into the repo): sentences in
many languages, grouped into documents, written as .txt files into a temporary folder.
The pipeline (discover, read, chunk, language, sparse, encode, upsert into embedded Qdrant)
must reach ≥ 0.9× the chunks/s of `encode_documents` on exactly the chunks it produced; the default
backend's pipeline is compared with torch fp32's (the reference). Rounds alternate the variants over
corpus slices, so a change in machine load hits all of them alike.

    .venv/bin/python bench/ingest.py [--sentences 2400] [--languages 24] [--variants ...]
        [--isa avx2]            # as on an AVX2-only CPU (CPUID masked, bench/isa_mask.py)
        [--student PATH]        # also a smaller model (e.g. a --keep-layers student) on ONNX int8
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

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "parallel"
RESULTS = REPO / "bench" / "results" / "ingest.json"
GATE = REPO / "bench" / "results" / "quality_gate.json"
# name -> (backend, precision); torch-bf16 only runs where bf16 is native.
VARIANTS = {
    "torch-fp32": ("torch", "fp32"),
    "torch-bf16": ("torch", "bf16"),
    "onnx-fp32": ("onnx", "fp32"),
    "onnx-int8": ("onnx-int8", "fp32"),
}
GATE_NAMES = {"torch-fp32": "torch", "onnx-fp32": "onnx"}  # the same variants in quality_gate.py
QUERIES = [
    "how do plants grow",
    "Wie spät ist es?",
    "¿Dónde está la estación de tren?",
    "prix de l'électricité en hiver",
    "学习外语的最好方法",
    "погода на завтра",
    "best way to learn a language",
    "symptoms of the flu",
]


def build_corpus(
    folder: Path, sentences: int, languages: int, per_doc: int, rounds: int, seed: int = 0
) -> list[Path]:
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
            (target / f"{i // per_doc:04d}.txt").write_text(" ".join(lines[i : i + per_doc]) + "\n")
    return folders


def query_p50_ms(encoder, repeats: int) -> float:
    """Median latency of encoding one query on one thread (what a search pays)."""
    from rosetta.models.onnx_backend import OnnxRunner

    saved_threads, saved_runner = torch.get_num_threads(), encoder.runner
    torch.set_num_threads(1)
    if saved_runner is not None:
        encoder.runner = OnnxRunner(saved_runner.path, encoder.tokenizer, encoder.max_seq_length, threads=1)
    if encoder.query_onnx is not None:  # auto's query engine (ONNX Runtime fp32)
        engine = encoder._query_engine()
        encoder._query_runner = OnnxRunner(engine.path, engine.tokenizer, encoder.max_seq_length, threads=1)
    try:
        encoder.encode_queries(QUERIES[:2])
        times = []
        for i in range(repeats):
            t0 = time.perf_counter()
            encoder.encode_queries([QUERIES[i % len(QUERIES)]])
            times.append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(saved_threads)
        encoder.runner = saved_runner
    return float(np.median(times) * 1000)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=9600)
    ap.add_argument("--languages", type=int, default=24)
    ap.add_argument("--per-doc", type=int, default=3)
    ap.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="corpus slices; each variant runs pipeline and encoder-only on each slice",
    )
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--model", default="multilingual-e5-small")
    ap.add_argument("--variants", default="torch-fp32,torch-bf16,onnx-int8")
    ap.add_argument("--query-repeats", type=int, default=60)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument(
        "--isa",
        default="native",
        help="native | avx512-bf16 | avx512 | avx2: run with the newer extensions hidden from CPUID",
    )
    ap.add_argument(
        "--student",
        default=None,
        help="another model (a smaller student) to run as variants student-<variant> on the same chunks",
    )
    ap.add_argument("--student-variants", default="onnx-int8")
    args = ap.parse_args()
    from isa_mask import reexec_masked

    reexec_masked(args.isa)

    from indexer.discovery import discover
    from indexer.pipeline import Index
    from indexer.readers import ReadOptions, read_source
    from indexer.sparse import sparse_vectors
    from rosetta.langid import detect
    from rosetta.models import Encoder
    from rosetta.models.backends import choose_backend
    from rosetta.models.cpu import isa_flags, isa_mask
    from rosetta.models.precision import resolve_precision
    from rosetta.settings import Settings
    from rosetta.store import open_embedded

    settings = Settings()
    names = [n for n in args.variants.split(",") if n]
    if "torch-bf16" in names and resolve_precision("auto", "cpu") != "bf16":
        print("torch-bf16 skipped: bf16 is not native on this CPU")
        names.remove("torch-bf16")
    encoders = {
        n: Encoder.load(args.model, settings.models_dir, "cpu", VARIANTS[n][1], VARIANTS[n][0]) for n in names
    }
    if args.student:
        for v in args.student_variants.split(","):
            if v == "torch-bf16" and resolve_precision("auto", "cpu") != "bf16":
                continue
            n = f"student-{v}"
            VARIANTS[n] = VARIANTS[v]
            names.append(n)
            backend, precision = VARIANTS[v]
            encoders[n] = Encoder.load(args.student, settings.models_dir, "cpu", precision, backend)
    ref_sha = next(iter(encoders.values())).identity.weights_sha256
    default = choose_backend("auto", "cpu", settings.precision, ref_sha, None)
    default_name = {
        "torch": f"torch-{resolve_precision(settings.precision, 'cpu')}",
        "onnx": "onnx-fp32",
    }.get(default.backend, default.backend)
    stats = {
        n: {
            "pipeline_s": 0.0,
            "encoder_s": 0.0,
            "pipeline_cpu": 0.0,
            "encoder_cpu": 0.0,
            "chunks_added": 0,
            "failed": 0,
        }
        for n in names
    }
    vectors: dict[str, list[np.ndarray]] = {n: [] for n in names}
    n_chunks = n_docs = 0
    with tempfile.TemporaryDirectory(prefix="rosetta-bench-") as tmp:
        folders = build_corpus(
            Path(tmp) / "corpus", args.sentences, args.languages, args.per_doc, args.rounds
        )
        store = open_embedded(Path(tmp))
        indexes = {n: Index(store, e, f"bench-{n}", batch_size=args.batch_size) for n, e in encoders.items()}
        for index in indexes.values():
            index.ensure()
        # Warm every side up: the encoders' first batches, langdetect's profiles, the vocab scan.
        for e in encoders.values():
            e.encode_documents(["warm up the encoder"] * args.batch_size, batch_size=args.batch_size)
        detect("warm up the language profiles")
        for index in indexes.values():
            sparse_vectors(index.tokenizer, ["warm up"])
        for r, folder in enumerate(folders):
            any_index = next(iter(indexes.values()))
            docs = [d for src in discover([folder]).files for d in read_source(src, ReadOptions())]
            texts = [c.text for d in docs for c in any_index.chunker.split(d.text, d.pages)]
            n_docs += len(docs)
            n_chunks += len(texts)
            # Rotate the order each round so no variant always runs first (or last) in a slice.
            order = names[r % len(names) :] + names[: r % len(names)]
            for n in order:
                st = stats[n]
                t0, c0 = time.perf_counter(), time.process_time()
                vectors[n].append(encoders[n].encode_documents(texts, batch_size=args.batch_size))
                st["encoder_s"] += time.perf_counter() - t0
                st["encoder_cpu"] += time.process_time() - c0
                t0, c0 = time.perf_counter(), time.process_time()
                report = indexes[n].add([folder])
                st["pipeline_s"] += time.perf_counter() - t0
                st["pipeline_cpu"] += time.process_time() - c0
                st["chunks_added"] += report.chunks_added
                st["failed"] += len(report.files_failed)
            print(
                f"round {r + 1}/{len(folders)}: {len(texts)} chunks; "
                + ", ".join(f"{n} {stats[n]['pipeline_s']:.0f}/{stats[n]['encoder_s']:.0f} s" for n in names),
                flush=True,
            )
        for n in names:
            stored = store.count(f"bench-{n}")
            assert stats[n]["chunks_added"] == n_chunks == stored, (n, stats[n], n_chunks, stored)
        store.close()

    gate = json.loads(GATE.read_text()) if GATE.exists() else {}
    ref_name = "torch-fp32" if "torch-fp32" in names else names[0]
    ref_vectors = np.concatenate(vectors[ref_name])
    ref = stats[ref_name]
    rows = {}
    for n in names:
        st = stats[n]
        cos = (np.concatenate(vectors[n]) * ref_vectors).sum(axis=1)
        name = GATE_NAMES.get(n, n)
        verdict = gate.get("verdicts", {}).get(f"{name}->{name}", {})
        rows[n] = {
            "model": encoders[n].identity.name,
            "max_seq_length": encoders[n].max_seq_length,
            "backend": VARIANTS[n][0],
            "precision": VARIANTS[n][1],
            "encoder_chunks_per_s": round(n_chunks / st["encoder_s"], 2),
            "pipeline_chunks_per_s": round(n_chunks / st["pipeline_s"], 2),
            "ratio": round(st["encoder_s"] / st["pipeline_s"], 3),
            "encoder_cpu_s": round(st["encoder_cpu"], 2),
            "pipeline_cpu_s": round(st["pipeline_cpu"], 2),
            # Speed-ups against torch fp32, by wall clock and by CPU time (robust to a loaded machine).
            "pipeline_speedup": round(ref["pipeline_s"] / st["pipeline_s"], 2),
            "pipeline_speedup_cpu": round(ref["pipeline_cpu"] / st["pipeline_cpu"], 2),
            "encoder_speedup": round(ref["encoder_s"] / st["encoder_s"], 2),
            "encoder_speedup_cpu": round(ref["encoder_cpu"] / st["encoder_cpu"], 2),
            "query_p50_ms_1thread": round(query_p50_ms(encoders[n], args.query_repeats), 1),
            "cosine_to_torch_fp32": {"mean": round(float(cos.mean()), 4), "min": round(float(cos.min()), 4)},
            "quality_delta": {k: v for k, v in verdict.items() if k.endswith("delta")} or None,
            # What `auto` searches with: fp32 queries on this variant's passages.
            "fp32_queries_ndcg10_delta": gate.get("verdicts", {})
            .get(f"torch->{name}", {})
            .get("ndcg10_delta"),
            "files_failed": st["failed"],
        }
    result = {
        "documents": n_docs,
        "chunks": n_chunks,
        "languages": args.languages,
        "rounds": args.rounds,
        "model": args.model,
        "device": "cpu",
        "default_backend": {"variant": default_name, "reason": default.reason},
        "variants": rows,
        "torch_threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "cpu_flags": isa_flags(),
        "isa_mask": isa_mask(),
        "student": args.student,
        "target_ratio": 0.9,
        "target_speedup": 2.5,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(
        f"corpus: {n_docs} documents, {n_chunks} chunks, {args.languages} languages; "
        f"load average {result['load_average_1m']} on {result['cpus']} CPUs"
    )
    print(
        f"{'variant':12s} {'enc/s':>7s} {'pipe/s':>7s} {'ratio':>6s} {'x pipe':>7s} {'x pipe cpu':>10s} "
        f"{'q p50 ms':>8s} {'cos min':>7s}"
    )
    for n, row in rows.items():
        print(
            f"{n:12s} {row['encoder_chunks_per_s']:7.1f} {row['pipeline_chunks_per_s']:7.1f} "
            f"{row['ratio']:6.3f} {row['pipeline_speedup']:7.2f} {row['pipeline_speedup_cpu']:10.2f} "
            f"{row['query_p50_ms_1thread']:8.1f} {row['cosine_to_torch_fp32']['min']:7.4f}"
        )
    print(f"default backend: {default_name} ({default.reason})")
    auto = Encoder.load(args.model, settings.models_dir, "cpu", settings.precision, "auto")
    result["default_backend"]["query_p50_ms_1thread"] = round(query_p50_ms(auto, args.query_repeats), 1)
    print(f"default query encode p50 on one thread: {result['default_backend']['query_p50_ms_1thread']} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    chosen = rows.get(default_name)
    return 0 if chosen is None or chosen["ratio"] >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
