from __future__ import annotations

from pathlib import Path

import pytest

from rosetta.settings import DEFAULT_MODEL, Settings, resolve_device


def test_defaults(monkeypatch, tmp_path: Path) -> None:
    for key in (
        "ROSETTA_DATA_DIR",
        "ROSETTA_QDRANT_URL",
        "ROSETTA_MODEL",
        "ROSETTA_CACHE_DIR",
        "ROSETTA_ENCODER_BACKEND",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    s = Settings(_env_file=None)
    assert s.data_dir == Path(".rosetta")
    assert s.collection == "documents"
    assert s.model == DEFAULT_MODEL == "multilingual-e5-small"
    assert s.store_kind == "embedded"
    assert s.qdrant_path == Path(".rosetta/qdrant")
    assert s.encoder_backend == "auto"
    # Built models are per user: another data dir reuses them instead of rebuilding 470 MB.
    assert s.models_dir == tmp_path / "xdg" / "rosetta" / "models"
    monkeypatch.setenv("ROSETTA_DATA_DIR", str(tmp_path / "other"))
    assert Settings(_env_file=None).models_dir == s.models_dir
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert Settings(_env_file=None).models_dir == tmp_path / "home" / ".cache" / "rosetta" / "models"


def test_from_env(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ROSETTA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ROSETTA_QDRANT_URL", "http://qdrant:6333")
    monkeypatch.setenv("ROSETTA_QDRANT_API_KEY", "secret")
    monkeypatch.setenv("ROSETTA_COLLECTION", "papers")
    monkeypatch.setenv("ROSETTA_MODEL", "/models/student")
    monkeypatch.setenv("ROSETTA_DEVICE", "cpu")
    monkeypatch.setenv("ROSETTA_BATCH_SIZE", "8")
    monkeypatch.setenv("ROSETTA_CACHE_DIR", str(tmp_path / "cache"))
    s = Settings(_env_file=None)
    assert s.data_dir == tmp_path
    assert s.store_kind == "server" and s.qdrant_url == "http://qdrant:6333"
    assert s.qdrant_api_key == "secret"
    assert (s.collection, s.model, s.device, s.batch_size) == ("papers", "/models/student", "cpu", 8)
    assert s.models_dir == tmp_path / "cache"


def test_empty_url_means_embedded(monkeypatch) -> None:
    monkeypatch.setenv("ROSETTA_QDRANT_URL", "")
    assert Settings(_env_file=None).store_kind == "embedded"


@pytest.mark.parametrize(("cuda", "expected"), [(False, "cpu"), (True, "cuda")])
def test_auto_device_follows_cuda(monkeypatch, cuda: bool, expected: str) -> None:
    import torch

    # A fake: this machine cannot have CUDA appear or disappear for real.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert resolve_device("auto") == expected
    assert resolve_device("cpu") == "cpu" and resolve_device("cuda:1") == "cuda:1"
