"""`rosetta eval`: run the tasks on one encoder and return one JSON-able dict keyed by task and language.

All texts are embedded with the model's own query prompt (`Encoder.encode_queries`): STS and
bitext retrieval are symmetric tasks, for which E5 prescribes "query: " on both sides; models
without prompts embed the raw text.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from rosetta.models import Encoder
from training.evaluation.evaluators import Embedded, sts_spearman, translation_accuracy
from training.evaluation.sts import STS17_CROSS, load_sts17, load_stsb, load_stsb_cross, stsb_languages
from training.evaluation.tatoeba import load_tatoeba, tatoeba_languages
from training.langs import tatoeba_code, to_iso1

log = logging.getLogger(__name__)
ALL_TASKS = ("tatoeba", "sts17", "stsb")
# Optional tasks, run only when asked for.
EXTRA_TASKS = ("mining", "retrieval")
DEFAULT_TATOEBA = ["deu", "spa", "fra", "ita", "ara", "tur", "cmn", "rus", "jpn", "nld", "por", "kor"]
DEFAULT_STSB = ["en", "de", "es", "fr", "it", "ru", "zh", "nl"]
DEFAULT_STSB_CROSS = ["de", "es", "fr", "it", "ru", "zh"]


def default_eval_dir(explicit: Path | None = None) -> Path | None:
    """--data-dir, else ROSETTA_EVAL_DIR, else ../shared/data/eval when it exists."""
    if explicit is not None:
        return explicit
    env = os.environ.get("ROSETTA_EVAL_DIR")
    if env:
        return Path(env)
    for candidate in (Path("../shared/data/eval"), Path(__file__).resolve().parents[3] / "shared/data/eval"):
        if candidate.is_dir():
            return candidate
    return None


class MemoEmbedder:
    """Embeds each distinct text once per evaluation (STSb English appears in several tasks)."""

    def __init__(self, encoder: Encoder, batch_size: int = 64) -> None:
        self.encoder = encoder
        self.batch_size = batch_size
        self.memo: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in self.memo))
        if todo:
            vecs = self.encoder.encode_queries(todo, batch_size=self.batch_size)
            self.memo.update(zip(todo, vecs, strict=True))
        return np.stack([self.memo[t] for t in texts])


def eval_tatoeba(embed: MemoEmbedder, data_dir: Path, langs: Iterable[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    available = set(tatoeba_languages(data_dir))
    for lang in langs:
        code = tatoeba_code(lang)
        if code not in available:
            log.warning("tatoeba: no test files for %s, skipped", code)
            continue
        src, eng = load_tatoeba(data_dir, code)
        acc, _ = translation_accuracy(Embedded(embed), src, eng)
        out[code] = {"accuracy": round(acc, 4), "n": len(src)}
    return out


def eval_mining(
    embed: MemoEmbedder, data_dir: Path, langs: Iterable[str], threshold: float = 1.0, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Bitext mining on Tatoeba with the English side shuffled: P/R/F1 of recovered pairs
    (margin scoring, intersection of both directions, margin ≥ threshold)."""
    from rosetta.mining import mine, precision_recall_f1

    out: dict[str, dict[str, float]] = {}
    available = set(tatoeba_languages(data_dir))
    for lang in langs:
        code = tatoeba_code(lang)
        if code not in available:
            continue
        src, eng = load_tatoeba(data_dir, code)
        perm = np.random.default_rng(seed).permutation(len(eng))
        shuffled = [eng[i] for i in perm]
        # Gold: source i belongs with the shuffled position holding its English line; duplicates
        # of the same English text are all correct.
        positions: dict[str, list[int]] = {}
        for pos, text in enumerate(shuffled):
            positions.setdefault(text, []).append(pos)
        mined = mine(embed(src), embed(shuffled), mode="intersection", threshold=threshold)
        gold_any = {(i, p) for i, text in enumerate(eng) for p in positions[text]}
        correct = [m for m in mined if (m.src, m.tgt) in gold_any]
        prf = precision_recall_f1(
            mined,
            {(m.src, m.tgt) for m in correct}
            | {(i, positions[text][0]) for i, text in enumerate(eng) if not any(m.src == i for m in correct)},
        )
        out[code] = {**prf, "threshold": threshold}
    return out


def _sts_score(embed: MemoEmbedder, s1: list[str], s2: list[str], gold: list[float]) -> dict[str, float]:
    return {"spearman": round(100 * sts_spearman(Embedded(embed), s1, s2, gold), 2), "n": len(gold)}


def eval_sts17(
    embed: MemoEmbedder, data_dir: Path, pairs: Iterable[str] | None = None
) -> dict[str, dict[str, float]]:
    data = load_sts17(data_dir)
    wanted = set(pairs) if pairs is not None else None
    return {
        name: _sts_score(embed, *triple) for name, triple in data.items() if wanted is None or name in wanted
    }


def split_stsb_langs(items: Iterable[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """`en,it,en-it` → monolingual ["en", "it"] and cross-lingual [("en", "it")]."""
    mono: list[str] = []
    pairs: list[tuple[str, str]] = []
    for item in items:
        if "-" in item:
            a, _, b = item.partition("-")
            if not a or not b:
                raise ValueError(f"stsb pair '{item}': expected two languages, e.g. en-it")
            pairs.append((to_iso1(a), to_iso1(b)))
        else:
            mono.append(to_iso1(item))
    return mono, pairs


def eval_stsb(
    embed: MemoEmbedder, data_dir: Path, langs: Iterable[str], cross: Iterable[str | tuple[str, str]]
) -> dict[str, dict[str, float]]:
    """Monolingual sets, then cross-lingual ones: `xx` means en-xx; a (a, b) pair takes sentence 1
    from a's file and sentence 2 from b's (the files are translations of one another, line by line)."""
    available = set(stsb_languages(data_dir))
    out: dict[str, dict[str, float]] = {}
    for lang in langs:
        if lang in available:
            out[lang] = _sts_score(embed, *load_stsb(data_dir, lang))
    for item in cross:
        a, b = ("en", item) if isinstance(item, str) else item
        if a in available and b in available:
            out[f"{a}-{b}"] = _sts_score(embed, *load_stsb_cross(data_dir, a, b))
    return out


def summarize(result: dict[str, Any]) -> dict[str, float]:
    summary: dict[str, float] = {}
    if result.get("tatoeba"):
        summary["tatoeba_mean_accuracy"] = round(
            float(np.mean([v["accuracy"] for v in result["tatoeba"].values()])), 4
        )
    sts17 = result.get("sts17", {})
    cross = [sts17[k]["spearman"] for k in STS17_CROSS if k in sts17]
    if cross:
        summary["sts17_cross_mean"] = round(float(np.mean(cross)), 2)
    if sts17:
        summary["sts17_mean"] = round(float(np.mean([v["spearman"] for v in sts17.values()])), 2)
    stsb = result.get("stsb", {})
    if stsb:
        summary["stsb_mean"] = round(float(np.mean([v["spearman"] for v in stsb.values()])), 2)
    return summary


def evaluate_encoder(
    encoder: Encoder,
    data_dir: Path,
    tasks: Iterable[str] = ALL_TASKS,
    langs: list[str] | None = None,
    batch_size: int = 64,
    stsb_langs: list[str] | None = None,
    embedding_cache: Path | None = None,
) -> dict[str, Any]:
    """Run `tasks` and return {"model": identity, task: {lang: {metric: value}}, "summary": {...}}.

    `langs` (any ISO code) restricts Tatoeba, stsb_multi_mt and the STS17 tracks (to those involving
    only these languages plus English); `stsb_langs` restricts stsb_multi_mt further (it is the
    costliest task: 2,758 sentences per language). `retrieval` (language-agnostic retrieval over
    a mixed-language pool) reads the parallel data next to `data_dir` (`../parallel`) and caches
    its embeddings under `embedding_cache` when given.
    """
    tasks = list(tasks)
    unknown = [t for t in tasks if t not in ALL_TASKS + EXTRA_TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; known: {', '.join(ALL_TASKS + EXTRA_TASKS)}")
    embed = MemoEmbedder(encoder, batch_size)
    result: dict[str, Any] = {"model": encoder.identity.to_dict()}
    iso1 = [to_iso1(x) for x in langs] if langs else None
    if "tatoeba" in tasks:
        result["tatoeba"] = eval_tatoeba(embed, data_dir, langs or DEFAULT_TATOEBA)
    if "mining" in tasks:
        result["mining"] = eval_mining(embed, data_dir, langs or DEFAULT_TATOEBA)
    if "sts17" in tasks:
        pairs = None
        if iso1 is not None:
            ok = set(iso1) | {"en"}
            pairs = [
                p
                for p in ("ar-ar", "en-ar", "es-es", "es-en", "es-en-wmt", "en-en", "en-tr")
                if set(p.split("-")[:2]) <= ok
            ]
        result["sts17"] = eval_sts17(embed, data_dir, pairs)
    if "stsb" in tasks:
        mono = iso1 if iso1 is not None else DEFAULT_STSB
        cross: list[str] | list[tuple[str, str]] = DEFAULT_STSB_CROSS
        if stsb_langs is not None:
            mono, pairs_given = split_stsb_langs(stsb_langs)
            cross = pairs_given if pairs_given else [x for x in mono if x != "en"]
        elif iso1 is not None:
            cross = [x for x in mono if x != "en"]
        result["stsb"] = eval_stsb(embed, data_dir, mono, cross)
    if "retrieval" in tasks:
        from training.evaluation.retrieval import DEFAULT_LANGS, default_parallel_dir, evaluate_retrieval
        from training.language_vectors import CachedEmbedder

        parallel = default_parallel_dir(data_dir)
        if parallel is None:
            raise FileNotFoundError(f"retrieval: no parallel data next to {data_dir} (../parallel)")
        result["retrieval"] = evaluate_retrieval(
            CachedEmbedder(encoder, embedding_cache, batch_size),
            parallel,
            langs=["en", *(x for x in iso1 if x != "en")] if iso1 else DEFAULT_LANGS,
        )
    result["summary"] = summarize(result)
    return result
