"""Search at scale on the embedded store (qdrant-edge), with qdrant-client local mode side by side.

    .venv/bin/python bench/query.py --sizes 10000,100000 --local-sizes 10000,100000
    nice -n 10 .venv/bin/python bench/query.py --sizes 300000,1000000 --local-sizes '' --tag big

How the collections are made. Encoding a million passages takes days on this CPU and measures
the indexer, not search. So we encode real sentences once: the first N lines of 14
`../shared/data/parallel/en-XXX.tsv.gz` files (the translation side, plus their English side:
15 languages), with the model's passage prompt — a few thousand real mE5 vectors. Point i of a
collection is base vector b(i) plus Gaussian noise (σ = 0.02 per dimension, ≈ 0.39 in norm
before re-normalising: cosine ≈ 0.93 to its source), carrying b(i)'s language, text (four
sentences of that language, a short chunk) and keyword vector. Payloads are what the indexer
writes (doc_id, source, title, lang, doc_lang, chunk_index, chunk_count, char offsets, text,
ingested_at over 30 days, content_hash) plus metadata: `topic` (8 values, an indexed metadata
field) and `year`. Sources are `{news,wiki,legal,mail,books}/{lang}/{doc}.txt`.

Queries are *held-out* sentences of the same files (not in the base set), encoded with the
query prompt. Per size, on the store as the app opens it:
  search only   store.query top 10: unfiltered, lang = de (1 of 15 languages), source prefix
                `news/` (1 of 5), metadata topic = t3 (1 of 8), hybrid (dense + keyword RRF)
  end to end    `Searcher.search` (language detection, encoding, filter, store, grouping) with
                a three-language filter, on 20 real queries in 15 languages
  recall@10     of unfiltered and language-filtered search against exact (numpy) search
  open          a fresh process: open the store and answer the first query; its RSS after 200
                queries (the store alone: no model loaded in that process)
  disk, upsert  bytes on disk (allocated blocks), upsert points/s (256 points per call, as the
                indexer writes), seconds to build the HNSW graph (`optimize`)
An `hnsw_ef` sweep (recall and latency) picks the search beam width.
Writes bench/results/query[-TAG].json and .md, with the CPU flags.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.search import Searcher, SearchRequest  # noqa: E402
from indexer.sparse import sparse_vectors  # noqa: E402
from rosetta.models import Encoder  # noqa: E402
from rosetta.models.cpu import isa_flags  # noqa: E402
from rosetta.settings import Settings  # noqa: E402
from rosetta.store import (  # noqa: E402
    CollectionOptions,
    EdgeStore,
    Point,
    QdrantStore,
    SparseVector,
    VectorStore,
    match,
)
from rosetta.store import edge as edge_module  # noqa: E402

COLLECTION = "bench"
NOISE = 0.02
BATCH = 256
DATA = REPO.parent / "shared" / "data" / "parallel"
LANGS = {
    "ara": "ar",
    "deu": "de",
    "fra": "fr",
    "hin": "hi",
    "ita": "it",
    "jpn": "ja",
    "kor": "ko",
    "nld": "nl",
    "pol": "pl",
    "por": "pt",
    "rus": "ru",
    "spa": "es",
    "tur": "tr",
    "zho": "zh",
}
SOURCES = ["news", "wiki", "legal", "mail", "books"]
TOPICS = [f"t{i}" for i in range(8)]
E2E_QUERIES = [
    "wie pflege ich tomaten?",
    "月の満ち欠け",
    "how do vaccines train the immune system",
    "¿por qué se extinguieron los dinosaurios?",
    "les bienfaits du sommeil",
    "energia solare in casa",
    "как работает интернет",
    "التغير المناخي وأثره على الزراعة",
    "지진이 발생하면 어떻게 해야 하나요",
    "the history of the printing press",
    "Wie funktioniert eine Wärmepumpe?",
    "如何学习一门外语",
    "भारत में मानसून",
    "o que é inflação",
    "de geschiedenis van de fiets",
    "volcanic eruptions and lava",
    "beneficios del café para la salud",
    "la révolution industrielle",
    "Bienen und Bestäubung",
    "how to bake bread at home",
]
E2E_LANGS = ["en", "de", "fr"]


# ---- data -------------------------------------------------------------------------------------
def read_sentences(per_lang: int, held_out: int) -> tuple[list[tuple[str, str]], list[str]]:
    """(lang, sentence) base rows and held-out query sentences, from the parallel files."""
    base: list[tuple[str, str]] = []
    queries: list[str] = []
    for code, lang in sorted(LANGS.items()):
        with gzip.open(DATA / f"en-{code}.tsv.gz", "rt", encoding="utf-8") as f:
            lines = [line for _, line in zip(range(per_lang + held_out), f, strict=False)]
        rows = [line.rstrip("\n").split("\t") for line in lines]
        rows = [r for r in rows if len(r) == 2 and r[0].strip() and r[1].strip()]
        for en, other in rows[:per_lang]:
            base.append((lang, other))
            if len(base) % 3 == 0:
                base.append(("en", en))
        queries += [r[1] if i % 2 else r[0] for i, r in enumerate(rows[per_lang : per_lang + held_out])]
    return base, queries


def encode_base(encoder: Encoder, per_lang: int, held_out: int, cache_dir: Path) -> dict[str, Any]:
    base, queries = read_sentences(per_lang, held_out)
    key = hashlib.sha256(json.dumps([encoder.identity.to_dict(), base, queries]).encode()).hexdigest()[:16]
    cache = cache_dir / f"rosetta-bench-base-{key}.npz"
    if cache.exists():
        data = np.load(cache)
        vectors, qvectors = data["vectors"], data["queries"]
    else:
        print(
            f"encoding {len(base):,} base sentences and {len(queries)} queries (cached in {cache})…",
            file=sys.stderr,
        )
        t = time.perf_counter()
        vectors = encoder.encode_documents([t for _, t in base], batch_size=64).astype(np.float32)
        qvectors = encoder.encode_queries(queries, batch_size=64).astype(np.float32)
        print(f"  {time.perf_counter() - t:.0f} s", file=sys.stderr)
        np.savez(cache, vectors=vectors, queries=qvectors)
    texts_by_lang: dict[str, list[str]] = {}
    for lang, text in base:
        texts_by_lang.setdefault(lang, []).append(text)
    # A chunk's text: its sentence and the next three of its language (chunk-like length).
    chunk_text = []
    seen: dict[str, int] = {}
    for lang, _ in base:
        k = seen.get(lang, 0)
        seen[lang] = k + 1
        pool = texts_by_lang[lang]
        chunk_text.append(" ".join(pool[(k + j) % len(pool)] for j in range(4)))
    sparse = sparse_vectors(encoder.tokenizer, chunk_text)
    qsparse = sparse_vectors(encoder.tokenizer, queries, query=True)
    return {
        "langs": [lang for lang, _ in base],
        "texts": chunk_text,
        "vectors": vectors,
        "sparse": sparse,
        "queries": queries,
        "qvectors": qvectors,
        "qsparse": qsparse,
    }


def batches(base: dict[str, Any], size: int, seed: int = 0):
    """The collection, BATCH points at a time: (points, their vectors, their languages)."""
    rng = np.random.default_rng(seed)
    vectors, langs, texts, sparse = base["vectors"], base["langs"], base["texts"], base["sparse"]
    start_day = datetime(2026, 1, 1, tzinfo=UTC)
    for start in range(0, size, BATCH):
        n = min(BATCH, size - start)
        idx = rng.integers(0, len(vectors), n)
        vecs = vectors[idx] + rng.normal(0, NOISE, (n, vectors.shape[1])).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        points = []
        for k in range(n):
            i, b = start + k, int(idx[k])
            lang, text = langs[b], texts[b]
            doc = i // 4  # 4 chunks per document, so grouping has something to do
            payload = {
                "doc_id": f"doc-{doc}",
                "source": f"{SOURCES[doc % 5]}/{lang}/{doc}.txt",
                "file": f"{SOURCES[doc % 5]}/{lang}/{doc}.txt",
                "title": f"Document {doc}",
                "format": "txt",
                "lang": lang,
                "doc_lang": lang,
                "chunk_index": i % 4,
                "chunk_count": 4,
                "char_start": 0,
                "char_end": len(text),
                "text": text,
                "ingested_at": (start_day + timedelta(days=doc % 30)).isoformat(),
                "content_hash": hashlib.sha1(str(doc).encode()).hexdigest()[:16],
                "topic": TOPICS[doc % 8],
                "year": 1990 + doc % 35,
            }
            points.append(Point(str(uuid.UUID(int=i + 1)), vecs[k], payload, sparse[b]))
        yield points, vecs, [langs[int(j)] for j in idx]


class ExactTopK:
    """Exact top-k of each query, over the stream of batches (no full matrix in memory)."""

    def __init__(self, queries: np.ndarray, k: int = 10, lang: str | None = None) -> None:
        self.q, self.k, self.lang = queries, k, lang
        self.scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        self.ids = np.zeros((len(queries), k), dtype=np.int64)

    def add(self, first_id: int, vecs: np.ndarray, langs: list[str]) -> None:
        ids = np.arange(first_id, first_id + len(vecs))
        if self.lang is not None:
            keep = np.asarray([lang == self.lang for lang in langs])
            vecs, ids = vecs[keep], ids[keep]
            if not len(ids):
                return
        s = self.q @ vecs.T
        all_s = np.concatenate([self.scores, s], axis=1)
        all_i = np.concatenate([self.ids, np.broadcast_to(ids, s.shape)], axis=1)
        top = np.argpartition(-all_s, self.k - 1, axis=1)[:, : self.k]
        self.scores = np.take_along_axis(all_s, top, 1)
        self.ids = np.take_along_axis(all_i, top, 1)

    def recall(self, got: list[list[str]]) -> float:
        hits = [
            len({str(uuid.UUID(int=int(i) + 1)) for i in row} & set(g)) / self.k
            for row, g in zip(self.ids, got, strict=True)
        ]
        return round(float(np.mean(hits)), 4)


# ---- measuring --------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if values else float("nan")


def timed(fn, n_warm: int = 3) -> tuple[dict[str, float], list[Any]]:
    """Call fn(i) for each query index; p50/p95 in ms and the results."""
    for i in range(n_warm):
        fn(i)
    out, ms = [], []
    for i in range(fn.n):
        t = time.perf_counter()
        out.append(fn(i))
        ms.append((time.perf_counter() - t) * 1000)
    return {
        "p50_ms": pct(ms, 50),
        "p95_ms": pct(ms, 95),
        "mean_ms": round(statistics.fmean(ms), 2),
        "n": len(ms),
    }, out


def search_suite(
    store: VectorStore, base: dict[str, Any], exact: ExactTopK, exact_de: ExactTopK, n_queries: int
) -> dict[str, Any]:
    qv, qs = base["qvectors"][:n_queries], base["qsparse"][:n_queries]
    prefix = __import__("qdrant_client").models
    filters = {
        "unfiltered": None,
        "lang": prefix.Filter(must=[match("lang", "de")]),
        "source_prefix": prefix.Filter(
            must=[prefix.FieldCondition(key="source", match=prefix.MatchPrefix(prefix="news/"))]
        ),
        "metadata": prefix.Filter(must=[match("topic", "t3")]),
    }
    results: dict[str, Any] = {}
    for name, where in filters.items():

        def run(i: int, where=where) -> list[str]:
            return [h.id for h in store.query(COLLECTION, qv[i], where=where, limit=10)]

        run.n = len(qv)  # type: ignore[attr-defined]
        stats, got = timed(run)
        if name == "unfiltered":
            stats["recall@10"] = exact.recall(got)
        if name == "lang":
            stats["recall@10"] = exact_de.recall(got)
        results[name] = stats

    def hybrid(i: int) -> list[str]:
        sp = qs[i] if qs[i].indices else SparseVector([1], [1.0])
        return [h.id for h in store.query(COLLECTION, qv[i], sparse=sp, limit=10)]

    hybrid.n = len(qv)  # type: ignore[attr-defined]
    results["hybrid"], _ = timed(hybrid)
    return results


def end_to_end(store: VectorStore, encoder: Encoder, rounds: int = 2) -> dict[str, float]:
    searcher = Searcher(encoder, store, COLLECTION)
    queries = E2E_QUERIES * rounds

    def run(i: int) -> Any:
        return searcher.search(SearchRequest(queries[i], limit=10, langs=E2E_LANGS))

    run.n = len(queries)  # type: ignore[attr-defined]
    # A running app is warm: one pass over every query first loads what each query language needs
    # once per process (language profiles, word-frequency lists: up to 1.5 s on a first query).
    stats, _ = timed(run, n_warm=len(E2E_QUERIES))
    return stats


def ef_sweep(store: EdgeStore, base: dict[str, Any], exact: ExactTopK, n_queries: int) -> list[dict]:
    out = []
    qv = base["qvectors"][:n_queries]
    before = store.hnsw_ef
    for ef in (16, 32, 64, 128, 256):
        store.hnsw_ef = ef

        def run(i: int) -> list[str]:
            return [h.id for h in store.query(COLLECTION, qv[i], limit=10)]

        run.n = len(qv)  # type: ignore[attr-defined]
        stats, got = timed(run)
        out.append(
            {
                "hnsw_ef": ef,
                "recall@10": exact.recall(got),
                "p50_ms": stats["p50_ms"],
                "p95_ms": stats["p95_ms"],
            }
        )
    store.hnsw_ef = before
    return out


OPEN_PROBE = r"""
import json, sys, time
import numpy as np
t0 = time.perf_counter()
from rosetta.store import EdgeStore
t1 = time.perf_counter()
store = EdgeStore.open(sys.argv[1])
store.query("bench", np.load(sys.argv[2])[0], limit=10)
t2 = time.perf_counter()
q = np.load(sys.argv[2])
for i in range(200):
    store.query("bench", q[i % len(q)], limit=10)
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
mb = lambda k: round(int(status[k].split()[0]) / 1024, 1)
print(json.dumps({"import_s": round(t1 - t0, 3), "open_first_query_s": round(t2 - t1, 3),
                  "rss_mb": mb("VmRSS"), "peak_rss_mb": mb("VmHWM")}))
store.close()
"""


def open_probe(root: Path, queries: np.ndarray, tmp: Path) -> dict[str, Any]:
    qfile = tmp / "queries.npy"
    np.save(qfile, queries)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", OPEN_PROBE, str(root), str(qfile)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def build(
    store: VectorStore, encoder: Encoder, base: dict[str, Any], size: int, quantized: bool, n_queries: int
) -> tuple[dict[str, Any], ExactTopK, ExactTopK]:
    store.ensure_collection(
        COLLECTION,
        encoder.identity,
        recreate=True,
        options=CollectionOptions(scalar_quantization=quantized, metadata_fields=("topic",)),
    )
    exact = ExactTopK(base["qvectors"][:n_queries])
    exact_de = ExactTopK(base["qvectors"][:n_queries], lang="de")
    upsert_s = 0.0
    done = 0
    last = time.monotonic()
    for points, vecs, langs in batches(base, size):
        exact.add(done, vecs, langs)
        exact_de.add(done, vecs, langs)
        t = time.perf_counter()
        store.upsert(COLLECTION, points)
        upsert_s += time.perf_counter() - t
        done += len(points)
        if time.monotonic() - last > 10:
            last = time.monotonic()
            print(f"  {done:,}/{size:,} points, {done / upsert_s:,.0f} points/s upsert", file=sys.stderr)
    t = time.perf_counter()
    store.optimize(COLLECTION)
    optimize_s = time.perf_counter() - t
    return (
        {
            "upsert_points_per_s": round(size / upsert_s),
            "upsert_s": round(upsert_s, 1),
            "optimize_s": round(optimize_s, 1),
        },
        exact,
        exact_de,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000", help="edge store sizes (comma-separated)")
    ap.add_argument(
        "--local-sizes", default="10000,100000", help="local-mode sizes, side by side ('' = none)"
    )
    ap.add_argument("--quant", default="off", help="'off', 'on' or 'off,on': int8 scalar quantization")
    ap.add_argument("--per-lang", type=int, default=400, help="base sentences per language file")
    ap.add_argument("--queries", type=int, default=100, help="search-only queries (held out)")
    ap.add_argument(
        "--local-queries",
        type=int,
        default=100,
        help="search-only queries on local mode (seconds each at 100k)",
    )
    ap.add_argument("--tag", default="", help="results file suffix: query-TAG.json")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument(
        "--rows-from",
        type=Path,
        nargs="*",
        default=None,
        help="no measuring: collect the result rows (JSON lines) that earlier runs "
        "printed to these logs into one results file",
    )
    args = ap.parse_args()
    settings = Settings()
    # As a user gets it: the default backend (end-to-end latency includes query encoding).
    encoder = Encoder.from_settings(settings)
    base = encode_base(encoder, args.per_lang, max(args.queries // len(LANGS) + 1, 8), args.workdir)
    if args.rows_from:
        rows = [
            json.loads(line)
            for log in args.rows_from
            for line in log.read_text().splitlines()
            if line.startswith('{"backend"')
        ]
        rows.sort(key=lambda r: (r["points"], r["backend"], r["scalar_quantization"]))
        write(rows, args, encoder, base)
        return
    n_queries = min(args.queries, len(base["qvectors"]))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    local_sizes = [int(s) for s in args.local_sizes.split(",") if s]
    results: list[dict[str, Any]] = []
    for size in sorted(set(sizes) | set(local_sizes)):
        for backend in (["edge"] if size in sizes else []) + (["local"] if size in local_sizes else []):
            for quant in [q == "on" for q in args.quant.split(",")] if backend == "edge" else [False]:
                label = f"{backend}{' int8' if quant else ''} {size:,}"
                print(f"building {label}…", file=sys.stderr)
                with tempfile.TemporaryDirectory(prefix="rosetta-bench-", dir=args.workdir) as tmp:
                    root = Path(tmp) / "edge"
                    if backend == "edge":
                        store: VectorStore = EdgeStore.open(root)
                    else:
                        # Local mode in memory: the same query code as on disk, without the per-point
                        # SQLite commits that make building 100k points on disk take an hour.
                        from qdrant_client import QdrantClient

                        store = QdrantStore(QdrantClient(location=":memory:"), "embedded", ":memory:")
                    row: dict[str, Any] = {"backend": backend, "scalar_quantization": quant, "points": size}
                    nq = n_queries if backend == "edge" else min(n_queries, args.local_queries)
                    try:
                        built, exact, exact_de = build(store, encoder, base, size, quant, nq)
                        row.update(built)
                        row["search"] = search_suite(store, base, exact, exact_de, nq)
                        row["end_to_end"] = end_to_end(store, encoder)
                        if isinstance(store, EdgeStore):
                            row["ef_sweep"] = ef_sweep(store, base, exact, n_queries)
                            row["segments"] = store.points_indexed(COLLECTION)[2]
                    finally:
                        store.close()
                    if backend == "edge":
                        row["disk_mb"] = round(disk_bytes(root) / 2**20, 1)
                        row["open"] = open_probe(root, base["qvectors"][:n_queries], Path(tmp))
                print(json.dumps(row), file=sys.stderr)
                results.append(row)
    write(results, args, encoder, base)


def write(results: list[dict[str, Any]], args: argparse.Namespace, encoder: Encoder, base: dict) -> None:
    import torch

    name = f"query-{args.tag}" if args.tag else "query"
    usable = len(os.sched_getaffinity(0))
    report = {
        "benchmark": "search at scale: qdrant-edge (embedded default) vs qdrant-client local mode",
        "model": encoder.identity.describe(),
        "data": f"{len(base['vectors']):,} real mE5 passage vectors of sentences from "
        f"../shared/data/parallel ({len(set(base['langs']))} languages) + N(0, {NOISE}) noise "
        "per point; queries: held-out sentences of the same files (see bench/query.py)",
        "hnsw": {
            "m": edge_module.HNSW_M,
            "ef_construct": edge_module.HNSW_EF_CONSTRUCT,
            "hnsw_ef": edge_module.HNSW_EF,
        },
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "cpu_flags": isa_flags(),
            "cpus_usable": usable,
            "note": f"{usable} usable CPU core(s), load average "
            f"{os.getloadavg()[0]:.1f} at the end of the run; compare rows of one run",
        },
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    lines = [
        f"# {report['benchmark']}",
        "",
        f"Model {report['model']}. {report['data']}.",
        f"Machine: {report['machine']['note']}.",
        "",
        "| backend | points | search p50/p95 ms: unfiltered | lang | source prefix | metadata | hybrid "
        "| end-to-end p50/p95 ms | recall@10 (filtered) | open s | RSS MB | disk MB | upsert pts/s "
        "| HNSW build s |",
        "|---|---:|---|---|---|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        s = r["search"]

        def pp(x: dict) -> str:
            return f"{x['p50_ms']:.1f} / {x['p95_ms']:.1f}"

        o = r.get("open", {})
        lines.append(
            f"| {r['backend']}{' int8' if r['scalar_quantization'] else ''} | {r['points']:,} "
            f"| {pp(s['unfiltered'])} | {pp(s['lang'])} | {pp(s['source_prefix'])} | {pp(s['metadata'])} "
            f"| {pp(s['hybrid'])} | {pp(r['end_to_end'])} "
            f"| {s['unfiltered'].get('recall@10', '')} ({s['lang'].get('recall@10', '')}) "
            f"| {o.get('open_first_query_s', '–')} | {o.get('rss_mb', '–')} | {r.get('disk_mb', '–')} "
            f"| {r['upsert_points_per_s']:,} | {r['optimize_s']} |"
        )
    (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
