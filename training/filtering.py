"""Parallel-data filtering: drop duplicates, wrong-language pairs and pairs whose margin score is low.

Streams a TSV(.gz) file in chunks; the k nearest neighbours for the margin come from the same
chunk (a few thousand pairs is plenty of neighbourhood and keeps memory flat).
"""

from __future__ import annotations

import gzip
import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rosetta.langid import contradicts
from rosetta.mining import score_aligned
from training.data import LangStats, LineCounts, Pair, TsvSource, lang_from_filename, normalize

Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class FilterRules:
    """What a pair must pass: margin at least `min_score` over its `k` nearest neighbours (scored
    `chunk_size` pairs at a time) and, with `check_language`, both sides in their language."""

    min_score: float = 1.0
    k: int = 4
    check_language: bool = True
    chunk_size: int = 2000


@dataclass
class FilterStats(LineCounts):
    lang: str = ""
    kept: int = 0
    wrong_lang_english: int = 0
    wrong_lang_translation: int = 0
    low_score: int = 0
    margins: list[float] = field(default_factory=list)

    def dropped(self) -> int:
        return self.read - self.kept

    def to_dict(self) -> dict[str, float | int | str]:
        d: dict[str, float | int | str] = {k: v for k, v in self.__dict__.items() if k != "margins"}
        d["dropped"] = self.dropped()
        if self.margins:
            d["median_margin"] = round(float(np.median(self.margins)), 4)
        return d


def _chunks(it: Iterator[tuple[str, str, str]], size: int) -> Iterator[list[tuple[str, str, str]]]:
    buf: list[tuple[str, str, str]] = []
    for item in it:
        buf.append(item)
        if len(buf) == size:
            yield buf
            buf = []
    if buf:
        yield buf


class PairFilter:
    """Stateful filter over one language's stream (dedup spans chunks)."""

    def __init__(self, lang: str, embed: Embed, rules: FilterRules = FilterRules()) -> None:
        self.stats = FilterStats(lang=lang)
        self.embed = embed
        self.rules = rules
        self._seen: set[bytes] = set()

    def run(
        self, pairs: Iterator[tuple[str, str, str]], on_chunk: Callable[[int], None] | None = None
    ) -> Iterator[tuple[str, str, float, float]]:
        for chunk in _chunks(pairs, self.rules.chunk_size):
            yield from self._chunk([(en, tr) for _, en, tr in chunk])
            if on_chunk:
                on_chunk(len(chunk))

    def _chunk(self, chunk: list[tuple[str, str]]) -> Iterator[tuple[str, str, float, float]]:
        st = self.stats
        survivors: list[tuple[str, str]] = []
        for en, tr in chunk:
            st.read += 1
            key = hashlib.blake2b(f"{normalize(en)}\t{normalize(tr)}".encode(), digest_size=12).digest()
            if key in self._seen:
                st.duplicate += 1
                continue
            self._seen.add(key)
            if self.rules.check_language:
                if contradicts(en, "en"):
                    st.wrong_lang_english += 1
                    continue
                if contradicts(tr, self.stats.lang):
                    st.wrong_lang_translation += 1
                    continue
            survivors.append((en, tr))
        if not survivors:
            return
        src = self.embed([en for en, _ in survivors])
        tgt = self.embed([tr for _, tr in survivors])
        cos, margin = score_aligned(src, tgt, self.rules.k)
        for (en, tr), c, m in zip(survivors, cos, margin, strict=True):
            st.margins.append(float(m))
            if m < self.rules.min_score:
                st.low_score += 1
                continue
            st.kept += 1
            yield en, tr, float(m), float(c)


def filter_file(
    path: Path,
    out_dir: Path,
    embed: Embed,
    rules: FilterRules = FilterRules(),
    lang: str | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> FilterStats:
    """Filter one en-XXX.tsv[.gz] into out_dir/en-XXX.tsv.gz (same format), returning the counts."""
    code = lang or lang_from_filename(path)
    if code is None:
        raise ValueError(f"{path}: cannot tell the language; name it en-XXX.tsv[.gz]")
    source = TsvSource(path, code)
    load_stats: dict[str, LangStats] = {}
    flt = PairFilter(code, embed, rules)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"en-{code}.tsv.gz"
    tmp = target.with_name(target.name + ".part")
    with gzip.open(tmp, "wt", encoding="utf-8") as fh:
        for en, tr, _, _ in flt.run(source.pairs(load_stats), on_chunk):
            fh.write(f"{en}\t{tr}\n")
    tmp.rename(target)
    ls = load_stats.get(code)
    if ls is not None:
        flt.stats.malformed = ls.malformed
        flt.stats.read += ls.malformed
    return flt.stats


def filter_pairs(
    pairs: list[Pair],
    embed: Embed,
    rules: FilterRules = FilterRules(),
    on_chunk: Callable[[int], None] | None = None,
) -> tuple[list[Pair], dict[str, FilterStats]]:
    """Filter already-loaded pairs (the training config's `filter:`), one PairFilter per language.

    Returns the survivors in their original order (the loader interleaved the languages on purpose)
    and the per-language counts.
    """
    by_lang: dict[str, list[Pair]] = {}
    for p in pairs:
        by_lang.setdefault(p.lang, []).append(p)
    stats: dict[str, FilterStats] = {}
    kept: Counter[tuple[str, str, str]] = Counter()
    for lang, items in sorted(by_lang.items()):
        flt = PairFilter(lang, embed, rules)
        for en, tr, _, _ in flt.run(((lang, p.english, p.translation) for p in items), on_chunk):
            kept[(lang, en, tr)] += 1
        stats[lang] = flt.stats
    survivors = []
    for p in pairs:  # a Counter, not a set: repeated pairs (dedup off) keep as many copies as survived
        key = (p.lang, p.english, p.translation)
        if kept[key] > 0:
            kept[key] -= 1
            survivors.append(p)
    return survivors, stats
