"""Language vectors: applying offsets, the query-language mixture, the file format, the identity."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from rosetta.langid import detect_query
from rosetta.models import ModelIdentity
from rosetta.models.language_vectors import LanguageVectors, LanguageVectorsError, for_model, packaged_path


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def toy() -> LanguageVectors:
    rng = np.random.default_rng(0)
    passage = np.zeros((3, 8), np.float32)
    passage[1] = rng.normal(size=8) * 0.3
    passage[2] = rng.normal(size=8) * 0.3
    return LanguageVectors(("en", "de", "ja"), passage, passage * 2, "sha-x", (0, 10, 10))


def test_documents_lose_their_language_offset_and_stay_unit_length() -> None:
    lv = toy()
    content = unit(np.ones((1, 8), np.float32))[0]
    de_doc = content + lv.passage[1]
    shifted = lv.shift_documents(np.stack([de_doc, content, content]), ["de", "en", "und"])
    assert np.allclose(np.linalg.norm(shifted, axis=1), 1.0, atol=1e-5)
    assert np.allclose(shifted[0], content, atol=1e-5)  # German offset removed
    assert np.allclose(shifted[1], content, atol=1e-6)  # English: zero offset
    assert np.allclose(shifted[2], content, atol=1e-6)  # undetermined: left as it is


def test_query_offset_confident_mixture_and_unknown() -> None:
    lv = toy()
    assert np.allclose(lv.query_offset("ja"), lv.query[2])
    mix = lv.query_offset(None, {"de": 0.6, "ja": 0.2, "xx": 0.2})
    assert np.allclose(mix, 0.6 * lv.query[1] + 0.2 * lv.query[2], atol=1e-6)  # xx counts as no shift
    assert not lv.query_offset(None, {}).any()
    assert not lv.query_offset("xx").any()


def test_save_load_round_trip_and_tag(tmp_path: Path) -> None:
    lv = toy()
    path = tmp_path / "v.npz"
    lv.save(path)
    back = LanguageVectors.load(path)
    assert back.langs == lv.langs and back.model_sha256 == "sha-x" and back.tag == lv.tag
    other = dataclasses.replace(lv, passage=lv.passage * 1.01)
    assert other.tag != lv.tag
    (tmp_path / "bad.npz").write_bytes(b"not a file")
    with pytest.raises(LanguageVectorsError, match=r"bad\.npz"):
        LanguageVectors.load(tmp_path / "bad.npz")


def test_identity_with_another_language_shift_is_other_vectors() -> None:
    ident = ModelIdentity("m", "offline", "abc", 384, {"query": "query: "})
    shifted = dataclasses.replace(ident, language_shift=toy().tag)
    assert not ident.same_vectors_as(shifted)
    assert ModelIdentity.from_dict(shifted.to_dict()) == shifted
    # Identities recorded before the field existed read as plain vectors.
    old = {k: v for k, v in ident.to_dict().items() if k != "language_shift"}
    assert ModelIdentity.from_dict(old) == ident
    assert toy().tag in shifted.describe()


def test_packaged_vectors_belong_to_the_default_model(encoder) -> None:
    ident = encoder.identity
    assert packaged_path(ident.name).is_file(), "python -m training.language_vectors builds it"
    lv = for_model(ident.name, ident.weights_sha256)
    assert lv is not None and lv.dim == ident.dim and "en" in lv and len(lv.langs) >= 40
    assert for_model(ident.name, "another-weights-hash") is None


def test_detect_query_gives_probabilities_and_confidence() -> None:
    ja = detect_query("月の満ち欠け")
    assert ja.lang == "ja" and ja.confident and ja.probs["ja"] > 0.9
    short = detect_query("drink")  # one short Latin word: no guess
    assert short.lang is None and not short.confident
