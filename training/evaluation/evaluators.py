"""sentence-transformers' evaluators over embeddings made by our encoders.

`TranslationEvaluator`, `EmbeddingSimilarityEvaluator` and `MSEEvaluator` compute the numbers the
papers and MTEB publish; they take a model and call its `encode`. `Embedded` answers that call
from a function of texts (an `Encoder` of any backend, through the evaluation's memo) or from
vectors already computed (the held-out set during training), so the evaluators compute while the
embedding stays ours.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch


class Embedded:
    """The part of a SentenceTransformer the evaluators use: `encode`, and a model card to record
    their metrics on (nothing is recorded: our reports are written from the returned numbers)."""

    similarity_fn_name = "cosine"

    def __init__(self, embed: Callable[[list[str]], np.ndarray]) -> None:
        self._embed = embed
        self.model_card_data = self

    @classmethod
    def of(cls, texts: Sequence[str], vectors: np.ndarray) -> Embedded:
        """Ready vectors, looked up by text (the same text always has the same vector)."""
        table = dict(zip(texts, vectors, strict=True))
        return cls(lambda batch: np.stack([table[t] for t in batch]))

    def encode(self, sentences: Sequence[str], convert_to_numpy: bool = True, **_: Any) -> Any:
        vectors = np.asarray(self._embed(list(sentences)), dtype=np.float32)
        return vectors if convert_to_numpy else list(torch.from_numpy(vectors))

    def set_evaluation_metrics(self, *_: Any) -> None:
        return None


def translation_accuracy(model: Embedded, source: list[str], target: list[str]) -> tuple[float, float]:
    """Accuracy of source→target and target→source nearest-neighbour retrieval (a hit is the
    expected sentence, or another with the same text)."""
    from sentence_transformers.sentence_transformer.evaluation import TranslationEvaluator

    metrics = TranslationEvaluator(source, target, write_csv=False)(_duck(model))
    return float(metrics["src2trg_accuracy"]), float(metrics["trg2src_accuracy"])


def sts_spearman(model: Embedded, s1: list[str], s2: list[str], gold: list[float]) -> float:
    """Spearman correlation of cosine similarities with the gold scores (0.0 where undefined)."""
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    evaluator = EmbeddingSimilarityEvaluator(s1, s2, gold, main_similarity="cosine", write_csv=False)
    rho = float(evaluator(_duck(model))["spearman_cosine"])
    return 0.0 if math.isnan(rho) else rho


def mse_x100(student: Embedded, teacher: Embedded, source: list[str], target: list[str]) -> float:
    """Mean squared error ×100 between student(target) and teacher(source) (MSEEvaluator)."""
    from sentence_transformers.sentence_transformer.evaluation import MSEEvaluator

    evaluator = MSEEvaluator(source, target, teacher_model=teacher, write_csv=False)
    return -float(evaluator(_duck(student))["negative_mse"])


def _duck(model: Embedded) -> Any:
    # The evaluators are typed for a SentenceTransformer; they use only what Embedded has.
    return model
