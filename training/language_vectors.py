"""Estimate a model's language vectors from multi-way parallel data and write the derived file.

    python -m training.language_vectors --data ../shared/data/parallel --pairs 64 \
        --out rosetta/models/language_vectors/multilingual-e5-small.npz

For each language the offset is mean(embed(x) - embed(english)) over translation pairs, per
prompt (query, passage). Only *estimation* groups are used (`training.multiway`): the held-out
half is the retrieval evaluation's, so its numbers are not measured on the estimation data.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rosetta.models import Encoder
from rosetta.models.language_vectors import LanguageVectors, packaged_path
from training.multiway import LANGID_LANGS, Group, available_langs, load_groups
from training.teacher_cache import TeacherCache

log = logging.getLogger(__name__)
DEFAULT_PAIRS = 64
# NTREX-128 covers nearly every language; a sentence in fewer languages is not multi-way.
MIN_GROUP_LANGS = 20
DATA_NOTE = ("Derived from NTREX-128 (CC BY-SA 4.0) and TICO-19 (CC0) multi-way sentences in "
             "../shared/data/parallel: only per-language means of model embeddings are stored, "
             "no text.")


class CachedEmbedder:
    """Query/passage embeddings of one encoder, cached on disk by text (reruns cost nothing)."""

    def __init__(self, encoder: Encoder, cache_dir: Path | None, batch_size: int = 64) -> None:
        self.encoder = encoder
        self.batch_size = batch_size
        ident = encoder.identity
        key = f"{ident.weights_sha256[:16]}-{encoder.precision}"
        self.caches = ({kind: TeacherCache(cache_dir, f"{key}-{kind}") for kind in ("query", "passage")}
                       if cache_dir is not None else None)
        self.memo: dict[tuple[str, str], np.ndarray] = {}

    def _embed(self, kind: str, texts: Sequence[str], label: str) -> np.ndarray:
        fn = self.encoder.encode_queries if kind == "query" else self.encoder.encode_documents

        def encode(batch: list[str]) -> np.ndarray:
            return fn(batch, batch_size=self.batch_size)

        if self.caches is not None:
            return self.caches[kind].get_or_compute(list(texts), encode, progress=True,
                                                    description=f"{label} ({kind})")
        todo = list(dict.fromkeys(t for t in texts if (kind, t) not in self.memo))
        if todo:
            self.memo.update({(kind, t): v for t, v in zip(todo, encode(todo), strict=True)})
        return np.stack([self.memo[(kind, t)] for t in texts])

    def queries(self, texts: Sequence[str], label: str = "queries") -> np.ndarray:
        return self._embed("query", texts, label)

    def passages(self, texts: Sequence[str], label: str = "passages") -> np.ndarray:
        return self._embed("passage", texts, label)


def estimation_pairs(groups: Sequence[Group], lang: str, max_pairs: int) -> list[Group]:
    return [g for g in groups if not g.heldout and lang in g.texts][:max_pairs]


def estimate(embed: CachedEmbedder, groups: Sequence[Group], langs: Sequence[str], max_pairs: int
             ) -> LanguageVectors:
    """Offsets onto English for `langs` (English itself gets a zero row)."""
    rows_p, rows_q, counts, kept = [], [], [], []
    dim = embed.encoder.dim
    for lang in langs:
        if lang == "en":
            rows_p.append(np.zeros(dim, np.float32))
            rows_q.append(np.zeros(dim, np.float32))
            counts.append(0)
            kept.append(lang)
            continue
        sample = estimation_pairs(groups, lang, max_pairs)
        if not sample:
            log.warning("language vectors: no estimation pairs for %s, left out (no shift)", lang)
            continue
        english = [g.texts["en"] for g in sample]
        other = [g.texts[lang] for g in sample]
        rows_p.append((embed.passages(other, lang) - embed.passages(english, "en")).mean(0))
        rows_q.append((embed.queries(other, lang) - embed.queries(english, "en")).mean(0))
        counts.append(len(sample))
        kept.append(lang)
    ident = embed.encoder.identity
    return LanguageVectors(tuple(kept), np.stack(rows_p).astype(np.float32),
                           np.stack(rows_q).astype(np.float32), ident.weights_sha256, tuple(counts),
                           {"model": ident.name, "pairs_per_language": max_pairs,
                            "precision": embed.encoder.precision, "data": DATA_NOTE})


def main(argv: Sequence[str] | None = None) -> None:
    from rosetta.settings import Settings, resolve_device

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/parallel"))
    parser.add_argument("--model", default=None)
    parser.add_argument("--pairs", type=int, default=DEFAULT_PAIRS)
    parser.add_argument("--langs", default=None, help="comma list (default: every langid language)")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = Settings()
    encoder = Encoder.load(args.model or settings.model, settings.models_dir,
                           resolve_device(settings.device), args.precision)
    wanted = args.langs.split(",") if args.langs else list(LANGID_LANGS)
    langs = available_langs(args.data, wanted)
    groups = load_groups(args.data, langs, min(MIN_GROUP_LANGS, max(1, len(langs) - 1)))
    embed = CachedEmbedder(encoder, args.cache_dir, settings.batch_size)
    vectors = estimate(embed, groups, langs, args.pairs)
    out = args.out or packaged_path(encoder.identity.name)
    vectors.save(out)
    log.info("wrote %s: %d languages × %d dims (%s pairs/language)", out, len(vectors.langs),
             vectors.dim, args.pairs)


if __name__ == "__main__":
    main()
