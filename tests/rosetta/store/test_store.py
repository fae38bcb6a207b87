"""The VectorStore interface on every backend: the calls the indexer and the search core use."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from qdrant_client import models

from rosetta.models import ModelIdentity
from rosetta.store import (
    CollectionOptions,
    InvalidCollectionNameError,
    ModelMismatchError,
    Point,
    SparseVector,
    match,
    match_any,
)

IDENTITY = ModelIdentity("unit-model", "folder", "a" * 64, 4)


def vec(*xs: float) -> np.ndarray:
    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_store_operations(store, collection) -> None:
    store.ensure_collection(collection, IDENTITY)
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, str(i))) for i in range(4)]
    store.upsert(
        collection,
        [
            Point(
                ids[0],
                vec(1, 0, 0, 0),
                {"doc_id": "a", "lang": "en", "chunk_index": 0},
                SparseVector([5, 9], [1.0, 0.5]),
            ),
            Point(
                ids[1],
                vec(0.9, 0.1, 0, 0),
                {"doc_id": "a", "lang": "en", "chunk_index": 1},
                SparseVector([7], [1.0]),
            ),
            Point(ids[2], vec(0, 1, 0, 0), {"doc_id": "b", "lang": "fr", "chunk_index": 0}),
            Point(ids[3], vec(0, 0, 1, 0), {"doc_id": "c", "lang": "de", "chunk_index": 0}),
        ],
    )
    assert store.count(collection) == 4
    assert store.facet(collection, "lang") == {"en": 2, "fr": 1, "de": 1}
    hits = store.query(collection, vec(1, 0, 0, 0), limit=2)
    assert [h.id for h in hits] == ids[:2] and hits[0].payload["doc_id"] == "a"
    fr = store.query(collection, vec(1, 0, 0, 0), where=models.Filter(must=[match("lang", "fr")]))
    assert [h.id for h in fr] == [ids[2]]
    hybrid = store.query(collection, vec(0, 0, 1, 0), sparse=SparseVector([7], [1.0]), limit=3)
    assert {h.id for h in hybrid[:2]} == {ids[3], ids[1]}
    assert ids[0] in [h.id for h in store.recommend(collection, ids[1], limit=1)]
    page, nxt = store.scroll(collection, limit=3, with_payload=["doc_id"])
    rest, _ = store.scroll(collection, limit=3, offset=nxt)
    assert len(page) + len(rest) == 4 and set(page[0].payload) == {"doc_id"}
    store.delete_ids(collection, ids[:1])
    store.delete(collection, models.Filter(must=[match("doc_id", "c")]))
    assert store.count(collection) == 2
    assert store.identity(collection) == IDENTITY


def _corpus_points() -> list[Point]:
    rng = np.random.default_rng(3)
    points = []
    for i in range(60):
        lang = ["en", "de", "fr"][i % 3]
        v = rng.normal(size=4).astype(np.float32)
        points.append(
            Point(
                str(uuid.UUID(int=i + 1)),
                v / np.linalg.norm(v),
                {
                    "doc_id": f"d{i // 4}",
                    "lang": lang,
                    "doc_lang": lang,
                    "chunk_index": i % 4,
                    "source": f"{'news' if i < 30 else 'books'}/{lang}/{i // 4}.txt",
                    "topic": ["a", "b"][i % 2],
                    "ingested_at": f"2026-01-{1 + i // 10:02d}T12:00:00+00:00",
                    "text": f"passage {i}",
                },
                SparseVector([i % 7, 100 + i % 5], [1.0, 0.5]),
            )
        )
    return points


def test_every_filter_the_search_uses(store, collection) -> None:
    """lang in/out, source prefix, metadata field, document ids, date range, min score — exact results."""
    from datetime import UTC, datetime

    store.ensure_collection(collection, IDENTITY, options=CollectionOptions(metadata_fields=("topic",)))
    points = _corpus_points()
    store.upsert(collection, points)
    store.optimize(collection)
    payload = {p.id: p.payload for p in points}
    q = vec(1, 0.5, -0.2, 0.1)

    def ids(where, **kw) -> set[str]:
        return {h.id for h in store.query(collection, q, where=where, limit=100, **kw)}

    def want(pred) -> set[str]:
        return {i for i, p in payload.items() if pred(p)}

    assert ids(models.Filter(must=[match_any("lang", ["de", "fr"])])) == want(lambda p: p["lang"] != "en")
    assert ids(models.Filter(must_not=[match_any("lang", ["en"])])) == want(lambda p: p["lang"] != "en")
    prefix = models.FieldCondition(key="source", match=models.MatchPrefix(prefix="books/de/"))
    assert ids(models.Filter(must=[prefix])) == want(lambda p: p["source"].startswith("books/de/"))
    assert ids(models.Filter(must=[match_any("topic", ["b"])])) == want(lambda p: p["topic"] == "b")
    assert ids(models.Filter(must=[match_any("doc_id", ["d1", "d9"])])) == want(
        lambda p: p["doc_id"] in ("d1", "d9")
    )
    dates = models.FieldCondition(
        key="ingested_at",
        range=models.DatetimeRange(gte=datetime(2026, 1, 2, tzinfo=UTC), lt=datetime(2026, 1, 4, tzinfo=UTC)),
    )
    assert ids(models.Filter(must=[dates])) == want(
        lambda p: "2026-01-02" <= p["ingested_at"][:10] < "2026-01-04"
    )
    scored = store.query(collection, q, limit=100)
    assert len(scored) == 60 and scored == sorted(scored, key=lambda h: -h.score)
    cut = (scored[9].score + scored[10].score) / 2
    assert {h.id for h in store.query(collection, q, limit=100, score_threshold=cut)} == {
        h.id for h in scored[:10]
    }
    # Hybrid respects the filter too, and returns payloads.
    hybrid = store.query(
        collection,
        q,
        where=models.Filter(must=[match("lang", "de")]),
        sparse=SparseVector([2], [1.0]),
        limit=10,
    )
    assert hybrid and all(h.payload["lang"] == "de" for h in hybrid)
    # Documents (first chunks), facets and counts under a filter.
    first = models.Filter(must=[match("chunk_index", 0)])
    assert store.count(collection, first) == 15
    assert store.facet(collection, "doc_lang", where=first) == {"en": 5, "de": 5, "fr": 5}
    assert store.facet(collection, "topic") == {"a": 30, "b": 30}
    # Recommend leaves the point itself out and honours the filter.
    similar = store.recommend(
        collection, points[0].id, where=models.Filter(must=[match("lang", "fr")]), limit=5
    )
    assert len(similar) == 5 and points[0].id not in {h.id for h in similar}
    assert all(h.payload["lang"] == "fr" for h in similar)
    # Iterate sees every point once, with vectors when asked.
    every = list(store.iterate(collection, batch=7, with_vectors=True, with_payload=["doc_id"]))
    assert sorted(h.id for h in every) == sorted(payload)
    assert all(h.vector is not None and len(h.vector) == 4 for h in every)
    got = {h.id: np.asarray(h.vector) for h in every}
    assert np.allclose(got[points[5].id], np.asarray(points[5].vector), atol=1e-6)


def test_identity_refuses_another_model(store, collection) -> None:
    store.ensure_collection(collection, IDENTITY)
    other = ModelIdentity("other-model", "folder", "b" * 64, 4)
    with pytest.raises(ModelMismatchError, match="other-model"):
        store.ensure_collection(collection, other)
    store.ensure_collection(collection, other, recreate=True)
    assert store.identity(collection) == other and store.count(collection) == 0


@pytest.mark.parametrize("name", ["../../x", "a:b", "a/b", ".hidden", "", "x" * 65, "名前"])
def test_invalid_collection_names_are_refused(store, name: str, tmp_path) -> None:
    with pytest.raises(InvalidCollectionNameError, match="invalid collection name"):
        store.ensure_collection(name, IDENTITY)
    assert not (tmp_path.parent / "x").exists()
