from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rosetta.cli import app

runner = CliRunner()


def test_every_subcommand_has_help() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "models" in result.output and "encode" in result.output
    for sub in (["models", "list"], ["models", "build"], ["encode"]):
        assert runner.invoke(app, [*sub, "--help"]).exit_code == 0


def test_models_list_reports_build_state(tmp_path: Path, models_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("ROSETTA_CACHE_DIR", str(tmp_path / "empty"))
    rows = {r["name"]: r for r in json.loads(runner.invoke(app, ["models", "list", "--json"]).output)}
    assert rows["multilingual-e5-small"]["built"] is False
    assert rows["all-MiniLM-L6-v2"]["built"] is True  # ships inside its package
    monkeypatch.setenv("ROSETTA_CACHE_DIR", str(models_dir))
    rows = {r["name"]: r for r in json.loads(runner.invoke(app, ["models", "list", "--json"]).output)}
    assert rows["multilingual-e5-small"]["built"] is True


def test_models_build_unknown_name(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ROSETTA_CACHE_DIR", str(tmp_path))
    result = runner.invoke(app, ["models", "build", "no-such-model"])
    assert result.exit_code == 2
    assert "not an offline model" in result.output


def test_encode_cross_lingual(models_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("ROSETTA_CACHE_DIR", str(models_dir))
    result = runner.invoke(
        app, ["encode", "I love plants", "amo le piante", "ho un cane arancione", "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["dim"] == 384
    cos = out["cosine"]
    assert cos[0][1] > cos[0][2]
