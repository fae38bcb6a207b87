"""Published MTEB scores (published_mteb_scores.json) next to ours, on the same scale."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PUBLISHED_FILE = "published_mteb_scores.json"


def load_published(data_dir: Path) -> dict[str, dict[str, float]]:
    path = data_dir / PUBLISHED_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {model: scores for model, scores in data.items() if isinstance(scores, dict) and scores}


def published_key(task: str, lang: str) -> str | None:
    if task == "tatoeba":
        return f"Tatoeba|{lang}-eng"
    if task == "sts17":
        return f"STS17|{lang}"
    if task == "stsb" and "-" not in lang:
        return f"STSBenchmarkMultilingualSTS|{lang}"
    return None


def our_value(task: str, metrics: dict[str, float]) -> float:
    """Our metric on the published scale: accuracy as a fraction, Spearman ×100."""
    return metrics["accuracy"] if task == "tatoeba" else metrics["spearman"]


def published_value(task: str, raw: float) -> float:
    # The file stores Spearman as a fraction; we report it ×100.
    return raw if task == "tatoeba" else round(100 * raw, 2)


def comparison_rows(
    results: dict[str, dict[str, Any]],
    published: dict[str, dict[str, float]],
    models: list[str] | None = None,
) -> list[dict[str, Any]]:
    """One row per (task, lang) found in any result: our columns, then published columns."""
    models = models if models is not None else sorted(published)
    rows: list[dict[str, Any]] = []
    seen: list[tuple[str, str]] = []
    for res in results.values():
        for task in ("tatoeba", "sts17", "stsb"):
            for lang in res.get(task, {}):
                if (task, lang) not in seen:
                    seen.append((task, lang))
    for task, lang in seen:
        row: dict[str, Any] = {"task": task, "lang": lang}
        for name, res in results.items():
            m = res.get(task, {}).get(lang)
            row[name] = our_value(task, m) if m else None
        key = published_key(task, lang)
        for model in models:
            raw = published.get(model, {}).get(key) if key else None
            row[f"published:{model}"] = published_value(task, raw) if raw is not None else None
        rows.append(row)
    return rows
