"""Issue 7: additive-margin ranking loss, parallel-data filtering, bitext mining."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from rosetta.models import Encoder
from training.filtering import filter_file
from training.losses import additive_margin_ranking
from training.mining import knn, mine, precision_recall_f1, score_aligned

from .conftest import PAIRS, write_tsv


def test_margin_makes_ranking_loss_larger() -> None:
    g = torch.Generator().manual_seed(0)
    src = torch.randn(8, 16, generator=g)
    trg = src + 0.3 * torch.randn(8, 16, generator=g)
    plain = additive_margin_ranking(src, trg, scale=20.0, margin=0.0)
    with_margin = additive_margin_ranking(src, trg, scale=20.0, margin=0.3)
    assert with_margin > plain > 0
    # Perfectly separated pairs: still the margin costs something (the positive is handicapped).
    eye = torch.eye(4)
    assert additive_margin_ranking(eye, eye, margin=0.3) > additive_margin_ranking(eye, eye, margin=0.0)


def test_knn_and_margin_on_vectors() -> None:
    keys = np.eye(4, dtype=np.float32)
    sims, idx = knn(np.array([[1, 0.5, 0, 0]], dtype=np.float32), keys, k=2)
    assert idx[0].tolist() == [0, 1]
    assert sims[0, 0] > sims[0, 1]
    cos, margin = score_aligned(keys, keys, k=2)
    assert np.allclose(cos, 1.0)
    assert np.all(margin > 1.5)  # each pair stands far above its neighbourhood


def test_precision_recall() -> None:
    from training.mining import MinedPair

    mined = [MinedPair(0, 0, 2.0, 0.9), MinedPair(1, 2, 1.5, 0.8)]
    assert precision_recall_f1(mined, {(0, 0), (1, 1)}) == {
        "precision": 0.5, "recall": 0.5, "f1": 0.5, "mined": 2, "gold": 2}


@pytest.fixture(scope="module")
def e5(models_dir: Path) -> Encoder:
    return Encoder.load("multilingual-e5-small", models_dir, "cpu")


@pytest.mark.slow
def test_mining_recovers_shuffled_toy_bitext(e5: Encoder) -> None:
    en = [a for a, _ in PAIRS["deu"]]
    de = [b for _, b in PAIRS["deu"]]
    perm = list(range(len(de)))
    random.Random(3).shuffle(perm)
    shuffled = [de[i] for i in perm]
    mined = mine(e5.encode_queries(en), e5.encode_queries(shuffled), k=4, mode="intersection",
                 threshold=1.0)
    gold = {(perm[j], j) for j in range(len(perm))}
    prf = precision_recall_f1(mined, gold)
    assert prf["precision"] == 1.0
    assert prf["recall"] >= 0.9


@pytest.mark.slow
def test_filter_drops_wrong_pair_and_wrong_language(e5: Encoder, tmp_path: Path) -> None:
    rows = [*PAIRS["deu"],
            ("The cat sleeps on the sofa.", "Der Aktienmarkt ist heute stark gefallen."),  # wrong pair
            ("Where is the train station?", "Où se trouve la gare, s'il vous plaît ?"),  # French, not German
            PAIRS["deu"][1]]  # duplicate
    path = write_tsv(tmp_path / "en-deu.tsv", rows, extra_lines=["broken line"])
    stats = filter_file(path, tmp_path / "out", lambda t: e5.encode_queries(t), min_score=1.0, k=4)
    kept = (tmp_path / "out" / "en-deu.tsv.gz")
    with gzip.open(kept, "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    assert "Der Aktienmarkt ist heute stark gefallen." not in "\n".join(lines)
    assert stats.wrong_lang_translation == 1
    assert stats.duplicate == 1
    assert stats.malformed == 1
    assert stats.low_score >= 1
    assert stats.kept == len(lines) >= len(PAIRS["deu"]) - 2
    assert stats.read == len(rows) + 1
