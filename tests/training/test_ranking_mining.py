"""Additive-margin ranking loss, parallel-data filtering, the `rosetta mine` command."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from rosetta.models import Encoder
from training.filtering import FilterRules, filter_file
from training.losses import DistillRankingLoss, additive_margin_ranking

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


@pytest.mark.slow
def test_filter_drops_wrong_pair_and_wrong_language(encoder: Encoder, tmp_path: Path) -> None:
    rows = [
        *PAIRS["deu"],
        ("The cat sleeps on the sofa.", "Der Aktienmarkt ist heute stark gefallen."),  # wrong pair
        ("Where is the train station?", "Où se trouve la gare, s'il vous plaît ?"),  # French, not German
        PAIRS["deu"][1],
    ]  # duplicate
    path = write_tsv(tmp_path / "en-deu.tsv", rows, extra_lines=["broken line"])
    stats = filter_file(
        path, tmp_path / "out", lambda t: encoder.encode_queries(t), FilterRules(min_score=1.0, k=4)
    )
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
