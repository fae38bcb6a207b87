"""multilingual-e5-small-aligned: the shipped adapter rebuilds the same model every time, offline."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from rosetta.models import KNOWN_MODELS, Encoder, build_model
from rosetta.models.adapter import Adapter
from rosetta.models.aligned import NAME, adapter_file

pytestmark = pytest.mark.slow


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_shipped_adapter_is_small_and_names_its_base(models_dir: Path) -> None:
    path = adapter_file()
    assert path.stat().st_size <= 10 * 1024 * 1024
    adapter = Adapter.load(path)
    assert adapter.meta["base"] == "multilingual-e5-small"
    base = Encoder.load("multilingual-e5-small", models_dir, "cpu")
    assert adapter.meta["base_weights_sha256"] == base.identity.weights_sha256
    assert "Tatoeba" in KNOWN_MODELS[NAME].description  # `rosetta models list` shows its scores


def test_build_is_deterministic_and_changes_the_vectors(tmp_path: Path, models_dir: Path) -> None:
    # Two fresh model caches sharing the already converted base (the conversion has its own tests).
    outs = []
    for i in range(2):
        cache = tmp_path / f"cache{i}"
        cache.mkdir()
        (cache / "multilingual-e5-small").symlink_to(models_dir / "multilingual-e5-small")
        outs.append(build_model(NAME, cache))
    assert _sha(outs[0] / "model.safetensors") == _sha(outs[1] / "model.safetensors")

    aligned = Encoder.load(NAME, tmp_path / "cache0", "cpu")
    base = Encoder.load("multilingual-e5-small", models_dir, "cpu")
    assert aligned.identity.name == NAME
    assert aligned.identity.weights_sha256 != base.identity.weights_sha256  # collections refuse mixing
    assert aligned.identity.prompts == base.identity.prompts
    texts = ["Die Katze schläft auf dem Sofa.", "The cat is sleeping on the sofa.", "Il pleut."]
    a, b = aligned.encode_queries(texts), base.encode_queries(texts)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    cos = np.sum(a * b, axis=1)
    assert (cos > 0.8).all() and (cos < 0.99999).any()  # moved, but still the same model family
