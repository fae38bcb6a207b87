from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

import click
import typer
from typer.testing import CliRunner

from rosetta.cli import app

runner = CliRunner()


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*path, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
    return found


def test_every_subcommand_has_help() -> None:
    from rosetta.cli import plugin_errors

    # A layer that fails to import only logs a warning for users; here it is an error.
    assert plugin_errors == {}
    layers = {ep.name for ep in entry_points(group="rosetta.cli")}
    assert {"indexer", "training", "app"} <= layers
    commands = _commands(typer.main.get_command(app))
    top = {c[0] for c in commands}
    # The core's own commands and at least one from each layer.
    assert {"models", "encode", "index", "stats", "store", "train", "eval", "mine", "search", "ui"} <= top
    for sub in commands:
        result = runner.invoke(app, [*sub, "--help"])
        assert result.exit_code == 0, (sub, result.output)
        assert "Usage:" in result.output, sub


def test_verbose_shows_project_debug_logs() -> None:
    import logging

    from rosetta.logs import configure_logging

    configure_logging(0)
    assert not logging.getLogger("indexer.pipeline").isEnabledFor(logging.DEBUG)
    configure_logging(1)
    assert logging.getLogger("indexer.pipeline").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("urllib3").isEnabledFor(logging.DEBUG)
    configure_logging(0)


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
