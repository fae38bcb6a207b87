"""Held-out parallel pairs: MSE to the teacher and translation accuracy in both directions."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from training.data import Pair
from training.evaluation.evaluators import Embedded, mse_x100, translation_accuracy


def heldout_metrics(
    pairs: list[Pair],
    teacher_en: np.ndarray,
    student_en: np.ndarray,
    student_tr: np.ndarray,
) -> dict[str, dict[str, float]]:
    """Per language: MSE×100 of student(translation) and student(english) vs teacher(english),
    and accuracy of translation→english (src2trg) and english→translation (trg2src) retrieval.

    MSE is measured in the space the student is trained in (the teacher target as distilled).
    """
    by_lang: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(pairs):
        by_lang[p.lang].append(i)
    out: dict[str, dict[str, float]] = {}
    for lang, idx in sorted(by_lang.items()):
        en = [pairs[i].english for i in idx]
        tr = [pairs[i].translation for i in idx]
        teacher = Embedded.of(en, teacher_en[idx])
        student = Embedded.of(en + tr, np.concatenate([student_en[idx], student_tr[idx]]))
        src2trg, trg2src = translation_accuracy(student, tr, en)
        out[lang] = {
            "mse_x100": round(mse_x100(student, teacher, en, tr), 4),
            "mse_en_x100": round(mse_x100(student, teacher, en, en), 4),
            "src2trg_accuracy": round(src2trg, 4),
            "trg2src_accuracy": round(trg2src, 4),
            "n": len(idx),
        }
    return out


def mean_over_langs(metrics: dict[str, dict[str, float]], key: str) -> float:
    vals: list[Any] = [m[key] for m in metrics.values() if key in m]
    return float(np.mean(vals)) if vals else float("nan")
