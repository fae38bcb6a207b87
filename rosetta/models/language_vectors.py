"""Language vectors of a model: the part of every embedding that says "this is language X".

Multilingual encoders put a language-identity component into each vector, so a query ranks
unrelated documents of its own language above translations of the right answer. A language's
vector is its mean embedding over translation pairs, once per prompt: the pairs carry the same
content in every language, so the means differ by language, not topic (the offset onto English,
mean(embed(x) - embed(english(x))), plus the English mean that all vectors share). Subtracting a
passage's vector at index time and the query's at search time leaves what the text says; cosine
then ranks by content across languages.

The vectors ship as a small derived file per model (`language_vectors/<model>.npz`), produced
by `python -m training.language_vectors` from multi-way parallel data; it records the weights
hash of the model it belongs to and is never applied to another model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PACKAGED_DIR = Path(__file__).resolve().parent / "language_vectors"


class LanguageVectorsError(ValueError):
    pass


@dataclass(frozen=True)
class LanguageVectors:
    """Per-language offsets (rows of `passage` / `query`, one per code in `langs`)."""

    langs: tuple[str, ...]
    passage: np.ndarray
    query: np.ndarray
    model_sha256: str
    pairs: tuple[int, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.passage.shape != self.query.shape or self.passage.shape[0] != len(self.langs):
            raise LanguageVectorsError("language vectors: passage/query rows must match langs")

    @property
    def dim(self) -> int:
        return int(self.passage.shape[1])

    @property
    def tag(self) -> str:
        """What a collection records: vectors shifted with exactly these offsets."""
        digest = hashlib.sha256()
        digest.update("|".join(self.langs).encode())
        digest.update(np.ascontiguousarray(self.passage, dtype=np.float32).tobytes())
        digest.update(np.ascontiguousarray(self.query, dtype=np.float32).tobytes())
        return f"language-vectors:{digest.hexdigest()[:16]}"

    def index(self) -> dict[str, int]:
        return {lang: i for i, lang in enumerate(self.langs)}

    def __contains__(self, lang: object) -> bool:
        return lang in self.langs

    # ---- applying -------------------------------------------------------------------------
    def _fallback(self, offsets: np.ndarray) -> np.ndarray:
        """The offset of a language without a vector: English's (zero, or the common centre)."""
        where = self.index()
        return offsets[where["en"]] if "en" in where else np.zeros(self.dim, dtype=np.float32)

    def shift_documents(self, vectors: np.ndarray, langs: Sequence[str]) -> np.ndarray:
        """Passage vectors with their language's offset removed, renormalized.

        A language without a vector (`und`, or one the data did not cover) is treated as English.
        """
        where = self.index()
        offsets = (
            np.stack([self.passage[where[x]] if x in where else self._fallback(self.passage) for x in langs])
            if len(langs)
            else np.zeros((0, self.dim), np.float32)
        )
        out = np.asarray(vectors, dtype=np.float32) - offsets
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def query_offset(self, lang: str | None, probs: Mapping[str, float] | None = None) -> np.ndarray:
        """The query prompt's offset for `lang`; unsure (lang None): the probability-weighted mix.

        Languages without a vector count as English, so an unknown guess moves a query less
        rather than wrongly.
        """
        where = self.index()
        fallback = self._fallback(self.query)
        if lang is not None and lang in where:
            return self.query[where[lang]]
        total = sum(probs.values()) if probs else 0.0
        if total <= 0:
            return fallback
        mix = np.zeros(self.dim, dtype=np.float32)
        for code, p in (probs or {}).items():
            mix += (p / total) * (self.query[where[code]] if code in where else fallback)
        return mix

    def shift_query(
        self, vector: np.ndarray, lang: str | None, probs: Mapping[str, float] | None = None
    ) -> np.ndarray:
        shifted = np.asarray(vector, dtype=np.float32) - self.query_offset(lang, probs)
        return shifted / max(float(np.linalg.norm(shifted)), 1e-12)

    # ---- files ----------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {**self.meta, "model_sha256": self.model_sha256}
        np.savez_compressed(
            path,
            langs=np.array(self.langs),
            passage=self.passage.astype(np.float32),
            query=self.query.astype(np.float32),
            pairs=np.array(self.pairs or [0] * len(self.langs)),
            meta=np.array(json.dumps(meta, ensure_ascii=False)),
        )

    @classmethod
    def load(cls, path: Path) -> LanguageVectors:
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                return cls(
                    tuple(str(x) for x in data["langs"]),
                    data["passage"].astype(np.float32),
                    data["query"].astype(np.float32),
                    str(meta.get("model_sha256", "")),
                    tuple(int(x) for x in data["pairs"]),
                    meta,
                )
        except (OSError, ValueError, KeyError) as exc:
            raise LanguageVectorsError(
                f"{path}: not a language-vectors file ({exc}); rebuild it with "
                "python -m training.language_vectors"
            ) from None


def packaged_path(model_name: str) -> Path:
    return PACKAGED_DIR / f"{model_name}.npz"


def for_model(name: str, weights_sha256: str) -> LanguageVectors | None:
    """The packaged language vectors of exactly this model (name and weights hash), or None."""
    path = packaged_path(name)
    if not path.is_file():
        return None
    vectors = LanguageVectors.load(path)
    return vectors if vectors.model_sha256 == weights_sha256 else None
