"""Prompts, provenance and model references."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rosetta.models import Encoder, ModelIdentity, ModelNotFoundError
from rosetta.models.registry import resolve


def test_e5_prompts_are_part_of_the_model(encoder) -> None:
    assert encoder.query_prefix() == "query: "
    assert encoder.document_prefix() == "passage: "
    text = "How do tomatoes grow?"
    raw = encoder.model.encode([text], normalize_embeddings=True)
    as_query = encoder.encode_queries([text])
    by_hand = encoder.model.encode(["query: " + text], normalize_embeddings=True)
    assert np.allclose(as_query, by_hand, atol=1e-5)
    assert not np.allclose(as_query, raw, atol=1e-3)


def test_cross_lingual_sanity(encoder) -> None:
    v = encoder.encode_documents(["I love plants", "amo le piante", "ho un cane arancione"])
    assert v[0] @ v[1] > v[0] @ v[2]
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_identity_describes_the_vectors(encoder, teacher) -> None:
    ident = encoder.identity
    assert ident.name == "multilingual-e5-small"
    assert ident.source == "offline"
    assert ident.dim == 384 and ident.normalized
    assert len(ident.weights_sha256) == 64
    assert ident.prompts == {"query": "query: ", "document": "passage: "}
    assert ModelIdentity.from_dict(ident.to_dict()) == ident
    assert not ident.same_vectors_as(teacher.identity)
    assert teacher.identity.prompts == {}


def test_identity_hash_follows_weights(tmp_path: Path, models_dir: Path, encoder) -> None:
    import shutil

    copy = tmp_path / "student"
    shutil.copytree(models_dir / "multilingual-e5-small", copy)
    (copy / "rosetta_identity.json").unlink(missing_ok=True)
    same = Encoder.load(str(copy), models_dir)
    assert same.identity.source == "folder"
    assert same.identity.weights_sha256 == encoder.identity.weights_sha256
    assert same.identity.same_vectors_as(encoder.identity)


def test_unknown_name_offline_is_a_clear_error(models_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="Offline models: multilingual-e5-small"):
        resolve("someone/unknown-model", models_dir)


def test_missing_folder_is_a_clear_error(tmp_path: Path, models_dir: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve(str(tmp_path / "nope"), models_dir)


def test_unreachable_hub_is_a_clear_error(models_dir: Path, tmp_path: Path) -> None:
    """A hub name with the hub unreachable (a closed local port) fails with a readable message."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "0",
        "TRANSFORMERS_OFFLINE": "0",
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "HF_HOME": str(tmp_path / "hf"),
        "ROSETTA_CACHE_DIR": str(models_dir),
    }
    result = subprocess.run(
        [sys.executable, "-m", "rosetta", "encode", "--model", "someone/unknown-model", "hi"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 2
    assert "could not load model 'someone/unknown-model'" in result.stderr
    assert "Traceback" not in result.stderr


def test_from_settings_loads_what_the_settings_name(models_dir: Path) -> None:
    from rosetta.settings import Settings

    settings = Settings(
        _env_file=None,
        cache_dir=models_dir,
        model="all-MiniLM-L6-v2",
        device="cpu",
        encoder_backend="torch",
        precision="fp32",
    )
    encoder = Encoder.from_settings(settings)
    assert encoder.identity.name == "all-MiniLM-L6-v2" and encoder.identity.backend == "torch"
    assert encoder.precision == "fp32" and str(encoder.model.device) == "cpu"
    other = Encoder.from_settings(settings, model="multilingual-e5-small", precision="bf16")
    assert other.identity.name == "multilingual-e5-small" and other.precision == "bf16"


@pytest.mark.parametrize(("native_bf16", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_precision_on_cpu(monkeypatch, native_bf16: bool, expected: str) -> None:
    from rosetta.models import precision
    from rosetta.models.precision import resolve_precision

    # A fake: the CPU's bf16 support cannot be switched for real.
    monkeypatch.setattr(precision, "bf16_fast_here", lambda: native_bf16)
    assert resolve_precision("auto", "cpu") == expected
    assert resolve_precision("fp32", "cpu") == "fp32" and resolve_precision("bf16", "cpu") == "bf16"


def test_bf16_encoding_matches_fp32(encoder, models_dir: Path) -> None:
    from rosetta.models.precision import resolve_precision

    assert resolve_precision("fp32", "cpu") == "fp32"
    texts = [
        "Tomatoes need full sun.",
        "Die Tomaten brauchen viel Sonne.",
        "トマトは日光が必要です。",
        "La bolsa cayó un tres por ciento ayer.",
    ]
    before = encoder.encode_documents(texts)
    bf16 = Encoder(encoder.model, encoder.identity, precision="bf16")
    assert bf16.precision == "bf16"
    a, b = encoder.encode_documents(texts), bf16.encode_documents(texts)
    assert np.array_equal(a, before)  # the fp32 model is left as it was
    assert not np.array_equal(a, b)  # the layers really ran in bf16
    assert np.min(np.sum(a * b, axis=1)) > 0.9995
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-6)
    assert np.min(np.sum(encoder.encode_queries(texts) * bf16.encode_queries(texts), axis=1)) > 0.9995


def test_bf16_copy_shares_the_embedding_table(encoder) -> None:
    import torch

    from rosetta.models.bf16 import bf16_copy

    copy = bf16_copy(encoder.model)
    table = encoder.model[0].auto_model.get_input_embeddings()
    assert {p.dtype for p in copy.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in encoder.model.parameters()} == {torch.float32}
    shared = copy[0].auto_model.get_input_embeddings()
    assert shared.table.data_ptr() == table.weight.data_ptr()  # not a second 96M-row copy
    copied = sum(p.numel() for p in copy.parameters())
    assert copied < sum(p.numel() for p in encoder.model.parameters()) - table.weight.numel() + 1


def test_worker_tokenizer_has_its_own_state(encoder) -> None:
    """A pipeline's reader thread tokenizes while the encoder pads a batch: their padding and
    truncation settings must live on different objects."""
    worker = encoder.worker_tokenizer
    assert worker is encoder.worker_tokenizer  # made once per encoder
    texts = ["short", "una frase bastante más larga que la primera"]
    assert (
        worker(texts, add_special_tokens=False)["input_ids"]
        == encoder.tokenizer(texts, add_special_tokens=False)["input_ids"]
    )
    worker.backend_tokenizer.enable_padding(length=64)
    try:
        assert encoder.tokenizer.backend_tokenizer.padding is None
    finally:
        worker.backend_tokenizer.no_padding()
