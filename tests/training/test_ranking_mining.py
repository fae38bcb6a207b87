"""Additive-margin ranking loss, parallel-data filtering, bitext mining."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from rosetta.models import Encoder
from training.filtering import filter_file
from training.losses import DistillRankingLoss, additive_margin_ranking
from training.mining import knn, mine, precision_recall_f1, resolve_backend, score_aligned

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


@pytest.mark.parametrize("target", ["student", "teacher"])
def test_ranking_against_teacher_leaves_english_alone(target: str) -> None:
    g = torch.Generator().manual_seed(1)
    teacher = torch.randn(8, 16, generator=g)
    english = (teacher + 0.1 * torch.randn(8, 16, generator=g)).requires_grad_()
    translation = (teacher + 0.5 * torch.randn(8, 16, generator=g)).requires_grad_()
    loss = DistillRankingLoss(model=None, mse_weight=0.0, ranking_weight=1.0, ranking_target=target)
    value = loss.combine([english, translation], teacher)
    value.backward()
    assert translation.grad is not None and translation.grad.abs().sum() > 0
    english_moves = english.grad is not None and bool(english.grad.abs().sum() > 0)
    # Against the fixed teacher vectors only the translations are pushed; LaBSE-style both sides.
    assert english_moves == (target == "student")
    if target == "teacher":
        assert torch.isclose(value, additive_margin_ranking(teacher, translation, margin=0.3))


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


@pytest.mark.slow
def test_filter_drops_wrong_pair_and_wrong_language(encoder: Encoder, tmp_path: Path) -> None:
    rows = [
        *PAIRS["deu"],
        ("The cat sleeps on the sofa.", "Der Aktienmarkt ist heute stark gefallen."),  # wrong pair
        ("Where is the train station?", "Où se trouve la gare, s'il vous plaît ?"),  # French, not German
        PAIRS["deu"][1],
    ]  # duplicate
    path = write_tsv(tmp_path / "en-deu.tsv", rows, extra_lines=["broken line"])
    stats = filter_file(path, tmp_path / "out", lambda t: encoder.encode_queries(t), min_score=1.0, k=4)
    kept = tmp_path / "out" / "en-deu.tsv.gz"
    with gzip.open(kept, "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    assert "Der Aktienmarkt ist heute stark gefallen." not in "\n".join(lines)
    assert stats.wrong_lang_translation == 1
    assert stats.duplicate == 1
    assert stats.malformed == 1
    assert stats.low_score >= 1
    assert stats.kept == len(lines) >= len(PAIRS["deu"]) - 2
    assert stats.read == len(rows) + 1


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


@pytest.mark.slow
def test_mine_cli_with_qdrant_backend(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from rosetta.cli import app

    monkeypatch.setenv("ROSETTA_CACHE_DIR", str(models_dir))
    monkeypatch.setenv("ROSETTA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ROSETTA_DEVICE", "cpu")
    src = tmp_path / "en.txt"
    tgt = tmp_path / "de.txt"
    src.write_text("\n".join(a for a, _ in PAIRS["deu"]) + "\n", encoding="utf-8")
    tgt.write_text("\n".join(b for _, b in reversed(PAIRS["deu"])) + "\n", encoding="utf-8")
    out = tmp_path / "mined.tsv"
    result = CliRunner().invoke(app, ["mine", str(src), str(tgt), "--backend", "qdrant", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
    assert ["The cat sleeps on the sofa.", "Die Katze schläft auf dem Sofa."] in [r[1:] for r in rows]
