"""Bitext mining and pair scoring with margin-based similarity (Artetxe & Schwenk 2019, as LASER/LaBSE).

Plain functions on numpy embeddings (any model, any source of vectors), so the web UI's
translation finder and the CLI share them. The margin of a candidate pair is its cosine divided by
the average cosine of both sides to their k nearest neighbours: a pair in a dense neighbourhood
(where everything is similar) must stand out to score high, which cosine alone cannot tell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import uuid4

import numpy as np

MiningMode = Literal["forward", "backward", "intersection", "union"]
Backend = Literal["auto", "exact", "qdrant"]
CHUNK = 2048
# Above this many sentences on either side, "auto" hands the k-NN to Qdrant: the exact search's
# CHUNK × len(keys) similarity block grows with the key count, and a Qdrant server (HNSW) keeps the
# vectors and the search out of this process.
QDRANT_MIN_SENTENCES = 20_000
QDRANT_BATCH = 256


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def knn(queries: np.ndarray, keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k cosine neighbours of each query among keys: (similarities, indices), best first.

    Chunked so memory stays at CHUNK × len(keys) floats whatever the query count.
    """
    q, kk = unit_rows(queries), unit_rows(keys)
    k = min(k, len(kk))
    sims_out = np.empty((len(q), k), dtype=np.float32)
    idx_out = np.empty((len(q), k), dtype=np.int64)
    for start in range(0, len(q), CHUNK):
        sims = q[start : start + CHUNK] @ kk.T
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        part_sims = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-part_sims, axis=1)
        idx_out[start : start + CHUNK] = np.take_along_axis(part, order, axis=1)
        sims_out[start : start + CHUNK] = np.take_along_axis(part_sims, order, axis=1)
    return sims_out, idx_out


def qdrant_knn(
    queries: np.ndarray, keys: np.ndarray, k: int, url: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Same contract as `knn`, computed by Qdrant: a server at `url`, else in-memory local mode.

    The keys go into a throwaway collection (deleted afterwards); queries are sent in batches so
    neither side needs a query × key matrix here. A server answers from its HNSW index (approximate).
    """
    from qdrant_client import QdrantClient, models

    q, kk = unit_rows(queries), unit_rows(keys)
    k = min(k, len(kk))
    client = QdrantClient(url=url) if url else QdrantClient(location=":memory:")
    name = f"rosetta-mine-{uuid4().hex[:12]}"
    client.create_collection(
        name, vectors_config=models.VectorParams(size=kk.shape[1], distance=models.Distance.COSINE)
    )
    try:
        for start in range(0, len(kk), QDRANT_BATCH):
            block = kk[start : start + QDRANT_BATCH]
            client.upsert(
                name,
                models.Batch(ids=list(range(start, start + len(block))), vectors=block.tolist()),
                wait=True,
            )
        sims_out = np.empty((len(q), k), dtype=np.float32)
        idx_out = np.empty((len(q), k), dtype=np.int64)
        for start in range(0, len(q), QDRANT_BATCH):
            block = q[start : start + QDRANT_BATCH]
            requests = [models.QueryRequest(query=v.tolist(), limit=k) for v in block]
            for row, res in enumerate(client.query_batch_points(name, requests), start=start):
                idx_out[row] = [int(p.id) for p in res.points]
                sims_out[row] = [p.score for p in res.points]
    finally:
        client.delete_collection(name)
        client.close()
    return sims_out, idx_out


def resolve_backend(backend: Backend, n_src: int, n_tgt: int) -> Literal["exact", "qdrant"]:
    if backend == "auto":
        return "qdrant" if max(n_src, n_tgt) > QDRANT_MIN_SENTENCES else "exact"
    if backend not in ("exact", "qdrant"):
        raise ValueError(f"unknown k-NN backend {backend!r}")
    return backend


def neighbours(
    queries: np.ndarray,
    keys: np.ndarray,
    k: int,
    backend: Literal["exact", "qdrant"],
    qdrant_url: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The one k-NN entry point `mine` uses, so both backends feed the same margin code."""
    if backend == "qdrant":
        return qdrant_knn(queries, keys, k, qdrant_url)
    return knn(queries, keys, k)


def _ratio_margin(cos: np.ndarray, src_avg: np.ndarray, tgt_avg: np.ndarray) -> np.ndarray:
    return cos / np.maximum((src_avg + tgt_avg) / 2, 1e-6)


def score_aligned(src: np.ndarray, tgt: np.ndarray, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Cosine and margin score of each aligned pair (src[i], tgt[i]), neighbours from the same sets.

    Used to filter a parallel corpus: a real translation scores a margin well above 1, a wrong
    pairing scores near or below 1.
    """
    s, t = unit_rows(src), unit_rows(tgt)
    cos = np.sum(s * t, axis=1)
    src_avg = knn(s, t, k)[0].mean(axis=1)
    tgt_avg = knn(t, s, k)[0].mean(axis=1)
    return cos, _ratio_margin(cos, src_avg, tgt_avg)


@dataclass(frozen=True)
class MinedPair:
    src: int
    tgt: int
    score: float  # margin
    cosine: float


def mine(
    src: np.ndarray,
    tgt: np.ndarray,
    k: int = 4,
    mode: MiningMode = "intersection",
    threshold: float = 1.0,
    candidates: int = 8,
    backend: Backend = "auto",
    qdrant_url: str | None = None,
) -> list[MinedPair]:
    """Candidate translation pairs between two unaligned sets, best margin first.

    forward: each source's best target; backward: each target's best source; intersection: pairs
    both directions agree on (high precision); union: either, each pair once. The k-NN is exact
    (numpy) for small sets and Qdrant above QDRANT_MIN_SENTENCES (backend="auto").
    """
    if len(src) == 0 or len(tgt) == 0:
        return []
    chosen_backend = resolve_backend(backend, len(src), len(tgt))
    s, t = unit_rows(src), unit_rows(tgt)
    fwd_sims, fwd_idx = neighbours(s, t, max(k, candidates), chosen_backend, qdrant_url)
    bwd_sims, bwd_idx = neighbours(t, s, max(k, candidates), chosen_backend, qdrant_url)
    src_avg = fwd_sims[:, :k].mean(axis=1)
    tgt_avg = bwd_sims[:, :k].mean(axis=1)
    # Re-rank each side's cosine candidates by margin: the best cosine is not always the best margin.
    fwd_margin = _ratio_margin(fwd_sims, src_avg[:, None], tgt_avg[fwd_idx])
    bwd_margin = _ratio_margin(bwd_sims, tgt_avg[:, None], src_avg[bwd_idx])
    fbest = np.argmax(fwd_margin, axis=1)
    bbest = np.argmax(bwd_margin, axis=1)
    forward = {
        (i, int(fwd_idx[i, fbest[i]])): (float(fwd_margin[i, fbest[i]]), float(fwd_sims[i, fbest[i]]))
        for i in range(len(s))
    }
    backward = {
        (int(bwd_idx[j, bbest[j]]), j): (float(bwd_margin[j, bbest[j]]), float(bwd_sims[j, bbest[j]]))
        for j in range(len(t))
    }
    if mode == "forward":
        chosen = forward
    elif mode == "backward":
        chosen = backward
    elif mode == "intersection":
        chosen = {key: forward[key] for key in forward.keys() & backward.keys()}
    elif mode == "union":
        chosen = {**backward, **forward}
    else:
        raise ValueError(f"unknown mining mode {mode!r}")
    pairs = [MinedPair(i, j, sc, co) for (i, j), (sc, co) in chosen.items() if sc >= threshold]
    return sorted(pairs, key=lambda p: -p.score)


def precision_recall_f1(mined: list[MinedPair], gold: set[tuple[int, int]]) -> dict[str, float]:
    """Mining quality against known (src, tgt) pairs."""
    found = {(p.src, p.tgt) for p in mined}
    tp = len(found & gold)
    precision = tp / len(found) if found else 0.0
    recall = tp / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "mined": len(found),
        "gold": len(gold),
    }
