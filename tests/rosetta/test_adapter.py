"""Adapter files and the merge W + s·B·A (pure numpy; the model-level checks are in test_aligned_model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rosetta.models.adapter import Adapter, AdapterError, low_rank_delta, merge_adapter


def _adapter(rng: np.random.Generator, key: str = "layer.weight", r: int = 4) -> Adapter:
    return Adapter(
        {
            key: (
                rng.standard_normal((r, 6)).astype(np.float32),
                rng.standard_normal((5, r)).astype(np.float32),
            )
        },
        0.5,
        {"base": "toy"},
    )


def test_save_load_roundtrip_and_merge(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    adapter = _adapter(rng)
    path = adapter.save(tmp_path / "a.safetensors")
    loaded = Adapter.load(path)
    assert loaded.scaling == 0.5 and loaded.meta == {"base": "toy"} and loaded.parameters == 4 * 6 + 5 * 4
    w = rng.standard_normal((5, 6)).astype(np.float32)
    state = {"layer.weight": w, "other": np.ones(3, np.float32)}
    merged = merge_adapter(state, loaded)
    a, b = adapter.deltas["layer.weight"]
    assert np.allclose(merged["layer.weight"], w + 0.5 * b @ a, atol=1e-5)
    assert merged["other"] is state["other"] and merged["layer.weight"].dtype == np.float32
    # Same inputs, same bytes (the rebuilt model's sha256 depends on it).
    assert merge_adapter(state, loaded)["layer.weight"].tobytes() == merged["layer.weight"].tobytes()
    assert np.allclose(low_rank_delta(a, b, 2.0), 2.0 * b.astype(np.float64) @ a.astype(np.float64))


def test_mismatches_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    with pytest.raises(AdapterError, match="does not have"):
        merge_adapter({"x": np.zeros((5, 6), np.float32)}, _adapter(rng))
    with pytest.raises(AdapterError, match=r"base weight \(6, 5\)"):
        merge_adapter({"layer.weight": np.zeros((6, 5), np.float32)}, _adapter(rng))
    with pytest.raises(AdapterError, match="does not exist"):
        Adapter.load(tmp_path / "missing.safetensors")
