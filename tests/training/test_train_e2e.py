"""End to end on tiny data with the real offline models: train, reload, encode; eval via the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from rosetta.models import Encoder

from .conftest import PAIRS

pytestmark = pytest.mark.slow


@pytest.fixture
def cli_env(models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ROSETTA_CACHE_DIR", str(models_dir))
    monkeypatch.setenv("ROSETTA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ROSETTA_DEVICE", "cpu")
    return tmp_path


def _app():
    from rosetta.cli import app

    return app


def test_tiny_distillation_loss_decreases_and_model_loads(
    cli_env: Path, parallel_dir: Path, models_dir: Path
) -> None:
    out = cli_env / "student"
    config = cli_env / "train.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data": [str(parallel_dir)],
                "languages": ["de", "es"],
                "heldout_per_lang": 2,
                "exclude_eval_sentences": False,
                "keep_layers": 2,  # a 2-layer pruned student keeps the test fast
                "max_seq_length": 32,
                "batch_size": 8,
                "max_steps": 12,
                "learning_rate": 3e-4,
                "warmup_ratio": 0.0,
                "logging_steps": 1,
                "save_steps": 6,
                "cache_dir": str(cli_env / "teacher_cache"),
                "output_dir": str(out),
                "device": "cpu",
            }
        )
    )
    # A low --filter-min-score keeps the clean toy pairs but runs the filter path end to end.
    result = CliRunner().invoke(
        _app(), ["train", "--config", str(config), "--no-evaluate", "--filter-min-score", "0.5"]
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "rosetta_training.json").read_text())
    losses = [loss for _, loss in meta["losses"]]
    assert len(losses) == 12
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert meta["student"]["kept_layers"] == [0, 11]
    assert meta["data"]["deu"]["heldout"] == 2
    # Held-out MSE to the teacher went down too (not only the training batches).
    before = np.mean([v["mse_x100"] for v in meta["heldout_before"].values()])
    after = np.mean([v["mse_x100"] for v in meta["heldout_after"].values()])
    assert after < before
    assert (out / "README.md").read_text().startswith("---")
    report = json.loads((out / "training_report.json").read_text())
    assert report["config"]["filter"]["min_score"] == 0.5
    deu_filter = report["run"]["data"]["deu"]["filter"]
    assert deu_filter["read"] == len(PAIRS["deu"]) - 2  # the held-out pairs are not filtered
    assert "### Filter" in (out / "training_report.md").read_text()

    # --report-only evaluates the finished run (no training) and rewrites its report.
    no_report_yet = json.loads((out / "training_report.json").read_text())["after"]
    assert no_report_yet is None
    result = CliRunner().invoke(
        _app(),
        [
            "train",
            "--config",
            str(config),
            "--report-only",
            "--data-dir",
            str(_toy_eval_dir(cli_env)),
            "--eval-tasks",
            "tatoeba,sts17",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "training_report.json").read_text())
    assert report["after"]["tatoeba"]["deu"]["accuracy"] == 1.0
    assert report["run"]["losses"] == meta["losses"]  # the run itself was not repeated
    assert "## STSb-multi en / it / en-it" in (out / "training_report.md").read_text()

    enc = Encoder.load(str(out), models_dir, "cpu")
    assert enc.identity.prompts == {"query": "query: ", "document": "passage: "}
    assert enc.identity.normalized  # Normalize was put back after training on raw targets
    # Trained on 32-token texts, it still reads passages as long as its base (mE5: 512 tokens).
    base = Encoder.load("multilingual-e5-small", models_dir, "cpu")
    assert enc.max_seq_length == base.max_seq_length == 512
    vecs = enc.encode_queries(["Die Katze schläft.", "The cat sleeps."])
    assert vecs.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)


def _toy_eval_dir(root: Path) -> Path:
    """English-only toy sets whose answers are known for any sane English model."""
    d = root / "eval"
    (d / "tatoeba").mkdir(parents=True)
    sents = ["The weather is lovely today.", "I need to buy new shoes.", "Quantum physics is hard."]
    # The "German" side is the English text itself: nearest neighbour must be its own line.
    (d / "tatoeba" / "tatoeba.deu-eng.deu").write_text("\n".join(sents) + "\n")
    (d / "tatoeba" / "tatoeba.deu-eng.eng").write_text("\n".join(sents) + "\n")
    (d / "sts17").mkdir()
    rows = [
        ("A man is playing a guitar.", "A man is playing a guitar.", 5.0),
        ("A man is playing a guitar.", "A person plays an instrument.", 3.0),
        ("A man is playing a guitar.", "The stock market fell sharply.", 0.0),
    ]
    (d / "sts17" / "STS.input.track5.en-en.txt").write_text("".join(f"{a}\t{b}\n" for a, b, _ in rows))
    (d / "sts17" / "STS.gs.track5.en-en.txt").write_text("".join(f"{g}\n" for _, _, g in rows))
    return d


def test_eval_cli_json_on_toy_data(cli_env: Path) -> None:
    data_dir = _toy_eval_dir(cli_env)
    result = CliRunner().invoke(
        _app(),
        ["eval", "all-MiniLM-L6-v2", "--tasks", "tatoeba,sts17", "--data-dir", str(data_dir), "--json"],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["tatoeba"]["deu"]["accuracy"] == 1.0
    assert out["sts17"]["en-en"]["spearman"] == pytest.approx(100.0)
    assert out["model"]["name"] == "all-MiniLM-L6-v2"
