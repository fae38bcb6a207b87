"""Fixtures shared by every test package: the offline models, built once per machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Tests must never reach for a model hub: everything they use is offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The reference encoder (torch fp32) unless a test asks for another backend: tests compare exact
# vectors and scores, and the ONNX builds are tested on their own (tests/rosetta/test_backends.py).
os.environ.setdefault("ROSETTA_ENCODER_BACKEND", "torch")


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """Where built models live: the product's per-user cache (what `make setup` built), so the mE5
    conversion happens once per machine."""
    from rosetta.settings import user_cache_dir

    path = Path(os.environ.get("ROSETTA_CACHE_DIR") or user_cache_dir() / "models")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def encoder(models_dir: Path):
    """The default multilingual encoder (multilingual-e5-small, fp32, CPU)."""
    from rosetta.models import Encoder

    return Encoder.load("multilingual-e5-small", models_dir, "cpu")


@pytest.fixture(scope="session")
def teacher(models_dir: Path):
    from rosetta.models import Encoder

    return Encoder.load("all-MiniLM-L6-v2", models_dir, "cpu")
