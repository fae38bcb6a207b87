"""Fixtures shared by every test package: the offline models, built once per machine, and the store
backends (the embedded engine and qdrant-client local mode always, a server when
ROSETTA_TEST_QDRANT_URL is set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rosetta.store import EdgeStore, QdrantStore, VectorStore

REPO = Path(__file__).resolve().parent.parent
SERVER_URL = os.environ.get("ROSETTA_TEST_QDRANT_URL")

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


def _backends() -> list[object]:
    server = pytest.param(
        "server",
        marks=pytest.mark.skipif(
            not SERVER_URL, reason="no Qdrant server: set ROSETTA_TEST_QDRANT_URL to run the server backend"
        ),
    )
    return ["edge", "local", server]


@pytest.fixture(params=_backends())
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    s: VectorStore
    if request.param == "server":
        assert SERVER_URL
        s = QdrantStore.server(SERVER_URL, os.environ.get("ROSETTA_TEST_QDRANT_API_KEY"))
    elif request.param == "local":
        s = QdrantStore.embedded(tmp_path / "qdrant")
    else:
        s = EdgeStore.open(tmp_path / "edge")
    created_before = set(s.collections())
    yield s
    if request.param == "server":
        for name in set(s.collections()) - created_before:
            s.drop(name)
    s.close()


@pytest.fixture
def collection() -> str:
    return f"test_{uuid.uuid4().hex[:10]}"
