"""Metric functions on plain numpy arrays (no model inside, so they are testable on toy data)."""

from __future__ import annotations

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks starting at 1, ties get the mean rank (as scipy.stats.rankdata 'average')."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_vals = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (Pearson on average ranks)."""
    ra, rb = rankdata(a), rankdata(b)
    ra -= ra.mean()
    rb -= rb.mean()
    denom = float(np.sqrt((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum() / denom) if denom else 0.0


def paired_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(_unit(a) * _unit(b), axis=1)


def retrieval_accuracy(queries: np.ndarray, candidates: np.ndarray) -> float:
    """Fraction of queries i whose nearest candidate (cosine) is candidate i."""
    if len(queries) == 0:
        return 0.0
    sims = _unit(queries) @ _unit(candidates).T
    return float(np.mean(np.argmax(sims, axis=1) == np.arange(len(queries))))


def mse_x100(student: np.ndarray, teacher: np.ndarray) -> float:
    """Mean squared error ×100, as sentence-transformers' MSEEvaluator reports it."""
    return float(np.mean((student - teacher) ** 2) * 100)
