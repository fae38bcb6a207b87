"""Corpus exploration for analysts: what the collection holds, a 2-D map, a translation finder.

The translation finder mines cross-lingual passage pairs with **ratio-margin scoring** over the
k nearest neighbours (k=4), as LASER / LaBSE bitext mining does (Artetxe & Schwenk, 2019):

    margin(x, y) = cos(x, y) / ( Σ_{z∈NN_k(x)} cos(x, z) / 2k  +  Σ_{z∈NN_k(y)} cos(y, z) / 2k )

Raw cosine favours "hub" passages close to everything; the margin divides by how close each side
is to its neighbourhood, so a pair scores high only when the two are *unusually* close.
Scoring is `rosetta.mining.mine`, the same miner as `rosetta mine`, so both rank pairs alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
from qdrant_client import models

from app.snippets import HEADING, query_terms, unspaced
from rosetta.mining import mine
from rosetta.store import VectorStore, match

MAP_TEXT_CHARS = 160  # hover text on the map: enough to recognise a passage
# Measured on Tatoeba German–Japanese (bench/relevance.py): margin 1.00 lets 17% wrong pairs
# through, 1.02 keeps 92% precision at half the recall, 1.03 95% at a third.
DEFAULT_MIN_MARGIN = 1.02
TOP_TERMS = 5
MAX_LEGEND = 9  # distinct colours on the map; the rest share "other"


@dataclass
class CorpusStats:
    chunks: int
    documents: int
    by_lang: pd.DataFrame  # lang, documents, chunks
    sources: pd.DataFrame  # folder, documents, passages


def corpus_stats(store: VectorStore, collection: str) -> CorpusStats:
    """Counts per language and per source, from Qdrant facets (no full scan)."""
    chunks_by_lang = store.facet(collection, "lang", limit=1000)
    # Every document has exactly one chunk 0, so counting those counts documents; doc_lang is the
    # document's majority language (chunks of a mixed document can differ).
    docs_by_lang = store.facet(
        collection, "doc_lang", where=models.Filter(must=[match("chunk_index", 0)]), limit=1000
    )
    langs = sorted(
        set(chunks_by_lang) | set(docs_by_lang), key=lambda lang: (-chunks_by_lang.get(lang, 0), lang)
    )
    by_lang = pd.DataFrame(
        {
            "lang": langs,
            "documents": [docs_by_lang.get(lang, 0) for lang in langs],
            "chunks": [chunks_by_lang.get(lang, 0) for lang in langs],
        }
    )
    return CorpusStats(
        chunks=store.count(collection),
        documents=store.count(collection, models.Filter(must=[match("chunk_index", 0)])),
        by_lang=by_lang,
        sources=sources_by_folder(store, collection),
    )


def sources_by_folder(store: VectorStore, collection: str) -> pd.DataFrame:
    """Documents and passages per folder (every source, not the top N), biggest first.

    One pass over the payloads' `source` and `chunk_index` (no vectors, no text).
    """
    docs: Counter[str] = Counter()
    chunks: Counter[str] = Counter()
    for hit in store.iterate(collection, with_payload=["source", "chunk_index"], batch=2048):
        source = str(hit.payload.get("source", ""))
        # A table row's source is "file.csv#row=3": its folder is the file's.
        folder = str(PurePosixPath(source.split("#", 1)[0]).parent)
        chunks[folder] += 1
        if hit.payload.get("chunk_index") == 0:
            docs[folder] += 1
    rows = sorted(chunks, key=lambda f: (-chunks[f], f))
    return pd.DataFrame(
        {"folder": rows, "documents": [docs[f] for f in rows], "passages": [chunks[f] for f in rows]}
    )


def sample_vectors(
    store: VectorStore,
    collection: str,
    n: int,
    *,
    langs: Sequence[str] = (),
) -> tuple[np.ndarray, pd.DataFrame]:
    """Up to `n` chunk vectors with their payload summary.

    Point ids are UUIDs (hashes), so the first `n` in id order are an unbiased-enough sample
    without reading the whole collection.
    """
    where = (
        models.Filter(must=[models.FieldCondition(key="lang", match=models.MatchAny(any=list(langs)))])
        if langs
        else None
    )
    rows: list[dict[str, Any]] = []
    vectors: list[list[float]] = []
    for hit in store.iterate(collection, where=where, batch=min(512, max(n, 1)), with_vectors=True):
        if hit.vector is None:
            continue
        p = hit.payload
        rows.append(
            {
                "id": hit.id,
                "lang": p.get("lang", "und"),
                "title": p.get("title") or p.get("source", ""),
                "source": p.get("source", ""),
                "doc_id": p.get("doc_id", ""),
                "text": HEADING.sub("", str(p.get("text", ""))).strip(),
            }
        )
        vectors.append(hit.vector)
        if len(rows) >= n:
            break
    matrix = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    return matrix, pd.DataFrame(rows, columns=["id", "lang", "title", "source", "doc_id", "text"])


def project_2d(vectors: np.ndarray, method: str = "auto") -> tuple[np.ndarray, str]:
    """2-D coordinates: UMAP when installed (and asked for or auto), else PCA."""
    if len(vectors) < 3:
        return np.zeros((len(vectors), 2), dtype=np.float32), "pca"
    if method in ("auto", "umap"):
        try:
            import umap

            reducer = umap.UMAP(
                n_components=2, metric="cosine", random_state=0, n_neighbors=min(15, len(vectors) - 1)
            )
            return np.asarray(reducer.fit_transform(vectors), dtype=np.float32), "umap"
        except ImportError:
            if method == "umap":
                raise
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    # The top right-singular vectors are the principal axes; no sklearn needed.
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return (centred @ vt[:2].T).astype(np.float32), "pca"


def kmeans(vectors: np.ndarray, k: int, *, iterations: int = 30, seed: int = 0) -> np.ndarray:
    """Cluster labels by spherical k-means (cosine; k-means++ start, fixed seed: same map each time)."""
    n = len(vectors)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    x = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    centres = [x[rng.integers(n)]]
    for _ in range(1, k):
        dist = 1.0 - np.max(x @ np.asarray(centres).T, axis=1)
        total = float(dist.clip(min=0).sum())
        centres.append(x[rng.choice(n, p=dist.clip(min=0) / total)] if total > 0 else x[rng.integers(n)])
    c = np.asarray(centres)
    labels = np.zeros(n, dtype=int)
    for _ in range(iterations):
        new = np.argmax(x @ c.T, axis=1)
        if _ > 0 and np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = x[labels == j]
            if len(members):
                centre = members.mean(axis=0)
                c[j] = centre / max(float(np.linalg.norm(centre)), 1e-9)
    return labels


def top_terms(
    texts: Sequence[str], langs: Sequence[str], labels: np.ndarray, n: int = TOP_TERMS
) -> dict[int, list[str]]:
    """Each cluster's most telling words: frequent in it, in few other clusters (class TF-IDF).
    Stopwords of each passage's language are left out; words of any script count."""
    per_cluster: dict[int, Counter[str]] = {}
    for text, lang, label in zip(texts, langs, labels, strict=True):
        # The highlighter's terms: stopwords out, Chinese/Japanese as character bigrams.
        words = [w for w in query_terms(text, (lang,)) if not w.isdigit() and (len(w) >= 3 or unspaced(w))]
        per_cluster.setdefault(int(label), Counter()).update(words)
    clusters = len(per_cluster)
    spread = Counter(w for counts in per_cluster.values() for w in counts)
    out = {}
    for label, counts in per_cluster.items():
        scored = sorted(counts, key=lambda w: (-counts[w] * np.log(1 + clusters / spread[w]), w))
        out[label] = scored[:n]
    return out


def map_frame(
    store: VectorStore,
    collection: str,
    n: int = 1000,
    method: str = "auto",
    topics: int = 8,
) -> tuple[pd.DataFrame, str]:
    """Sampled passages placed in 2-D, each with its language and its topic (k-means cluster
    named by its top terms)."""
    vectors, meta = sample_vectors(store, collection, n)
    coords, used = project_2d(vectors, method)
    frame = meta.copy()
    frame["x"] = coords[:, 0] if len(coords) else []
    frame["y"] = coords[:, 1] if len(coords) else []
    if len(vectors):
        labels = kmeans(vectors, topics)
        terms = top_terms(list(frame["text"]), list(frame["lang"]), labels)
        frame["topic"] = [f"{lab + 1}: {', '.join(terms.get(int(lab), [])) or '—'}" for lab in labels]
    else:
        frame["topic"] = []
    frame["snippet"] = [
        t if len(t) <= MAP_TEXT_CHARS else t[: MAP_TEXT_CHARS - 1] + "…" for t in frame["text"]
    ]
    return frame.drop(columns=["text"]), used


def legend_groups(values: pd.Series, most: int = MAX_LEGEND) -> pd.Series:
    """The `most` commonest values, the rest as "other": colours a reader can tell apart."""
    keep = set(values.value_counts().index[:most])
    return values.where(values.isin(keep), "other")


# ---- translation finder ---------------------------------------------------------------------
def find_translations(
    store: VectorStore,
    collection: str,
    lang_a: str,
    lang_b: str,
    *,
    sample: int = 500,
    k: int = 4,
    limit: int = 50,
    min_margin: float = DEFAULT_MIN_MARGIN,
) -> pd.DataFrame:
    """Closest cross-lingual passage pairs between two languages, by margin score."""
    xa, meta_a = sample_vectors(store, collection, sample, langs=[lang_a])
    xb, meta_b = sample_vectors(store, collection, sample, langs=[lang_b])
    columns = [
        "margin",
        "cosine",
        f"text_{lang_a}",
        f"text_{lang_b}",
        f"title_{lang_a}",
        f"title_{lang_b}",
        f"id_{lang_a}",
        f"id_{lang_b}",
    ]
    rows = []
    # Mutual best matches only (intersection): one-sided "hub" matches are the usual noise.
    for pair in mine(xa, xb, k=k, mode="intersection", threshold=min_margin):
        i, j = pair.src, pair.tgt
        rows.append(
            [
                round(pair.score, 4),
                round(pair.cosine, 4),
                meta_a.text[i],
                meta_b.text[j],
                meta_a.title[i],
                meta_b.title[j],
                meta_a.id[i],
                meta_b.id[j],
            ]
        )
        if len(rows) >= limit:
            break
    return pd.DataFrame(rows, columns=columns)
