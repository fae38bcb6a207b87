"""The margin miner: exact k-NN, margins, mining modes, the Qdrant k-NN backend."""

from __future__ import annotations

import random

import numpy as np
import pytest

from rosetta.mining import MinedPair, knn, mine, precision_recall_f1, resolve_backend, score_aligned
from rosetta.models import Encoder
from tests.training.conftest import PAIRS


def test_knn_and_margin_on_vectors() -> None:
    keys = np.eye(4, dtype=np.float32)
    sims, idx = knn(np.array([[1, 0.5, 0, 0]], dtype=np.float32), keys, k=2)
    assert idx[0].tolist() == [0, 1]
    assert sims[0, 0] > sims[0, 1]
    cos, margin = score_aligned(keys, keys, k=2)
    assert np.allclose(cos, 1.0)
    assert np.all(margin > 1.5)  # each pair stands far above its neighbourhood


def test_precision_recall() -> None:
    mined = [MinedPair(0, 0, 2.0, 0.9), MinedPair(1, 2, 1.5, 0.8)]
    assert precision_recall_f1(mined, {(0, 0), (1, 1)}) == {
        "precision": 0.5,
        "recall": 0.5,
        "f1": 0.5,
        "mined": 2,
        "gold": 2,
    }


@pytest.mark.slow
def test_mining_recovers_shuffled_toy_bitext(encoder: Encoder) -> None:
    en = [a for a, _ in PAIRS["deu"]]
    de = [b for _, b in PAIRS["deu"]]
    perm = list(range(len(de)))
    random.Random(3).shuffle(perm)
    shuffled = [de[i] for i in perm]
    mined = mine(
        encoder.encode_queries(en), encoder.encode_queries(shuffled), k=4, mode="intersection", threshold=1.0
    )
    gold = {(perm[j], j) for j in range(len(perm))}
    prf = precision_recall_f1(mined, gold)
    assert prf["precision"] == 1.0
    assert prf["recall"] >= 0.9


def test_auto_backend_switches_on_size() -> None:
    assert resolve_backend("auto", 100, 20_000) == "exact"
    assert resolve_backend("auto", 100, 20_001) == "qdrant"
    assert resolve_backend("exact", 10**6, 10**6) == "exact"
    with pytest.raises(ValueError):
        resolve_backend("faiss", 1, 1)  # type: ignore[arg-type]


@pytest.mark.slow
def test_qdrant_and_exact_backends_mine_the_same_pairs(encoder: Encoder) -> None:
    # German vs Spanish: every sentence distinct, so no exact ties whose order could differ.
    de = [a for _, a in PAIRS["deu"]]
    es = [b for _, b in PAIRS["spa"]]
    random.Random(5).shuffle(es)
    a, b = encoder.encode_queries(de), encoder.encode_queries(es)
    for mode in ("intersection", "union"):
        exact = mine(a, b, k=4, mode=mode, threshold=0.0, backend="exact")
        qdrant = mine(a, b, k=4, mode=mode, threshold=0.0, backend="qdrant")  # in-memory local mode
        assert [(p.src, p.tgt) for p in qdrant] == [(p.src, p.tgt) for p in exact]
        assert np.allclose([p.score for p in qdrant], [p.score for p in exact], atol=1e-4)
