"""Metric functions on plain numpy arrays (no model inside, so they are testable on toy data)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from rosetta.mining import unit_rows


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks starting at 1, ties get the mean rank."""
    return stats.rankdata(np.asarray(values, dtype=np.float64), method="average")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation; 0.0 where it is undefined (a constant side)."""
    rho = stats.spearmanr(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)).statistic
    return 0.0 if np.isnan(rho) else float(rho)


def paired_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(unit_rows(a) * unit_rows(b), axis=1)


def retrieval_accuracy(queries: np.ndarray, candidates: np.ndarray) -> float:
    """Fraction of queries i whose nearest candidate (cosine) is candidate i."""
    if len(queries) == 0:
        return 0.0
    sims = unit_rows(queries) @ unit_rows(candidates).T
    return float(np.mean(np.argmax(sims, axis=1) == np.arange(len(queries))))


def mse_x100(student: np.ndarray, teacher: np.ndarray) -> float:
    """Mean squared error ×100, as sentence-transformers' MSEEvaluator reports it."""
    return float(np.mean((student - teacher) ** 2) * 100)
