"""The VectorStore interface on every backend: the calls the indexer and the search core use."""

from __future__ import annotations

import uuid

import numpy as np
from qdrant_client import models

from indexer.store import Point, SparseVector, match
from rosetta.models import ModelIdentity

IDENTITY = ModelIdentity("unit-model", "folder", "a" * 64, 4)


def vec(*xs: float) -> np.ndarray:
    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_store_operations(store, collection) -> None:
    store.ensure_collection(collection, IDENTITY)
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, str(i))) for i in range(4)]
    store.upsert(collection, [
        Point(ids[0], vec(1, 0, 0, 0), {"doc_id": "a", "lang": "en", "chunk_index": 0},
              SparseVector([5, 9], [1.0, 0.5])),
        Point(ids[1], vec(0.9, 0.1, 0, 0), {"doc_id": "a", "lang": "en", "chunk_index": 1},
              SparseVector([7], [1.0])),
        Point(ids[2], vec(0, 1, 0, 0), {"doc_id": "b", "lang": "fr", "chunk_index": 0}),
        Point(ids[3], vec(0, 0, 1, 0), {"doc_id": "c", "lang": "de", "chunk_index": 0}),
    ])
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
