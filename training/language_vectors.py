"""Estimate a model's language vectors from multi-way parallel data and write the derived file.

    python -m training.language_vectors --data ../shared/data/parallel --pairs 32 \
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
DEFAULT_PAIRS = 32
# NTREX-128 covers nearly every language; a sentence in fewer languages is not multi-way.
MIN_GROUP_LANGS = 20
DATA_NOTE = (
    "Derived from NTREX-128 (CC BY-SA 4.0) and TICO-19 (CC0) multi-way sentences in "
    "../shared/data/parallel: only per-language means of model embeddings are stored, "
    "no text."
)


class CachedEmbedder:
    """Query/passage embeddings of one encoder, cached on disk by text (reruns cost nothing)."""

    def __init__(self, encoder: Encoder, cache_dir: Path | None, batch_size: int = 64) -> None:
        self.encoder = encoder
        self.batch_size = batch_size
        ident = encoder.identity
        key = f"{ident.weights_sha256[:16]}-{encoder.precision}"
        self.caches = (
            {kind: TeacherCache(cache_dir, f"{key}-{kind}") for kind in ("query", "passage")}
            if cache_dir is not None
            else None
        )
        self.memo: dict[tuple[str, str], np.ndarray] = {}

    def _embed(self, kind: str, texts: Sequence[str], label: str) -> np.ndarray:
        fn = self.encoder.encode_queries if kind == "query" else self.encoder.encode_documents

        def encode(batch: list[str]) -> np.ndarray:
            return fn(batch, batch_size=self.batch_size)

        if self.caches is not None:
            return self.caches[kind].get_or_compute(
                list(texts), encode, progress=True, description=f"{label} ({kind})"
            )
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


def estimate(
    embed: CachedEmbedder, groups: Sequence[Group], langs: Sequence[str], max_pairs: int, center: bool = True
) -> LanguageVectors:
    """Per-language offsets for `langs`.

    `center=False`: offsets onto English, mean(x - english) over the pairs (English: zero).
    `center=True`: each language's mean over its pairs, i.e. the same offset plus the English
    mean; removing it also takes out the direction every embedding shares (mE5's vectors sit
    in a narrow cone), which on its own sharpens cosine ranking. Both are topic-balanced: the
    content of the pairs is the same in every language.
    """
    rows_p, rows_q, counts, kept = [], [], [], []
    english_mean = _english_mean(embed, groups, max_pairs) if center else None
    for lang in langs:
        if lang == "en":
            zero = np.zeros(embed.encoder.dim, np.float32)
            rows_p.append(english_mean[0] if english_mean is not None else zero)
            rows_q.append(english_mean[1] if english_mean is not None else zero)
            counts.append(max_pairs if english_mean is not None else 0)
            kept.append(lang)
            continue
        sample = estimation_pairs(groups, lang, max_pairs)
        if not sample:
            log.warning("language vectors: no estimation pairs for %s, left out (no shift)", lang)
            continue
        english = [g.texts["en"] for g in sample]
        other = [g.texts[lang] for g in sample]
        offset_p = (embed.passages(other, lang) - embed.passages(english, "en")).mean(0)
        offset_q = (embed.queries(other, lang) - embed.queries(english, "en")).mean(0)
        if english_mean is not None:
            offset_p, offset_q = offset_p + english_mean[0], offset_q + english_mean[1]
        rows_p.append(offset_p)
        rows_q.append(offset_q)
        counts.append(len(sample))
        kept.append(lang)
    ident = embed.encoder.identity
    return LanguageVectors(
        tuple(kept),
        np.stack(rows_p).astype(np.float32),
        np.stack(rows_q).astype(np.float32),
        ident.weights_sha256,
        tuple(counts),
        {
            "model": ident.name,
            "pairs_per_language": max_pairs,
            "centered": center,
            "precision": embed.encoder.precision,
            "data": DATA_NOTE,
        },
    )


def _english_mean(
    embed: CachedEmbedder, groups: Sequence[Group], max_pairs: int
) -> tuple[np.ndarray, np.ndarray]:
    english = [g.texts["en"] for g in groups if not g.heldout][:max_pairs]
    return embed.passages(english, "en").mean(0), embed.queries(english, "en").mean(0)


def main(argv: Sequence[str] | None = None) -> None:
    from rosetta.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/parallel"))
    parser.add_argument("--model", default=None)
    parser.add_argument("--pairs", type=int, default=DEFAULT_PAIRS)
    parser.add_argument("--langs", default=None, help="comma list (default: every langid language)")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument(
        "--onto-english",
        action="store_true",
        help="offsets onto English only (no centering; English unshifted)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = Settings()
    # The reference encoder (torch): the shipped vectors must not depend on this machine's backend.
    encoder = Encoder.from_settings(settings, model=args.model, precision=args.precision, backend="torch")
    wanted = args.langs.split(",") if args.langs else list(LANGID_LANGS)
    langs = available_langs(args.data, wanted)
    groups = load_groups(args.data, langs, min(MIN_GROUP_LANGS, max(1, len(langs) - 1)))
    embed = CachedEmbedder(encoder, args.cache_dir, settings.batch_size)
    vectors = estimate(embed, groups, langs, args.pairs, center=not args.onto_english)
    out = args.out or packaged_path(encoder.identity.name)
    vectors.save(out)
    log.info(
        "wrote %s: %d languages × %d dims (%s pairs/language)",
        out,
        len(vectors.langs),
        vectors.dim,
        args.pairs,
    )


if __name__ == "__main__":
    main()
