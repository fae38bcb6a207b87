"""Parallel data (English ↔ translation) behind one interface.

Every source yields `(lang, english, translation)` triples; `load_parallel` applies the
policies shared by all of them (length limit, dedup, exclusion of evaluation sentences,
per-language cap, held-out split) and counts every line it drops, by reason.
"""

from __future__ import annotations

import gzip
import logging
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from training.langs import to_iso3

log = logging.getLogger(__name__)
FILE_RE = re.compile(r"^en-([a-z]{2,3})\.tsv(\.gz)?$")


class ParallelDataError(ValueError):
    """Unusable parallel data (no file, no pair left, too many malformed lines in strict mode)."""


@dataclass(frozen=True)
class Pair:
    lang: str  # ISO 639-3 of the translation side
    english: str
    translation: str


@dataclass
class LineCounts:
    """Lines read, and those dropped for being malformed or a duplicate (by `normalize`d text)."""

    read: int = 0
    malformed: int = 0
    duplicate: int = 0


@dataclass
class LangStats(LineCounts):
    """What happened to every line read for one language."""

    too_long: int = 0
    excluded: int = 0
    over_cap: int = 0
    train: int = 0
    heldout: int = 0
    malformed_examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}


class ParallelSource(Protocol):
    """Anything that yields (lang, english, translation); malformed input is counted, not raised."""

    @property
    def name(self) -> str: ...

    def pairs(self, stats: dict[str, LangStats]) -> Iterator[tuple[str, str, str]]: ...


def _open_text(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="\n") as fh:
        yield from fh


def lang_from_filename(path: Path) -> str | None:
    m = FILE_RE.match(path.name)
    return to_iso3(m.group(1)) if m else None


@dataclass
class TsvSource:
    """One `english<TAB>translation` file (optionally .gz); the language comes from `en-XXX.tsv[.gz]`."""

    path: Path
    lang: str | None = None

    @property
    def name(self) -> str:
        return str(self.path)

    def pairs(self, stats: dict[str, LangStats]) -> Iterator[tuple[str, str, str]]:
        lang = to_iso3(self.lang) if self.lang else lang_from_filename(self.path)
        if lang is None:
            raise ParallelDataError(
                f"{self.path}: cannot tell the language; name the file en-XXX.tsv[.gz] or pass lang"
            )
        if not self.path.is_file():
            raise ParallelDataError(f"{self.path}: no such file")
        st = stats.setdefault(lang, LangStats())
        for lineno, line in enumerate(_open_text(self.path), start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue  # blank lines (e.g. a trailing newline) are not data
            st.read += 1
            fields = line.split("\t")
            if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
                st.malformed += 1
                if len(st.malformed_examples) < 3:
                    st.malformed_examples.append(f"{self.path.name}:{lineno}: {line[:80]!r}")
                continue
            yield lang, fields[0].strip(), fields[1].strip()


@dataclass
class FolderSource:
    """A folder of `en-XXX.tsv[.gz]` files, restricted to `langs` when given."""

    folder: Path
    langs: list[str] | None = None

    @property
    def name(self) -> str:
        return str(self.folder)

    def files(self) -> list[tuple[str, Path]]:
        if not self.folder.is_dir():
            raise ParallelDataError(f"{self.folder}: no such folder")
        found: dict[str, Path] = {}
        for p in sorted(self.folder.iterdir()):
            lang = lang_from_filename(p)
            # Prefer the compressed file when both exist; they are the same data.
            if lang and (lang not in found or p.suffix == ".gz"):
                found[lang] = p
        if self.langs is None:
            return sorted(found.items())
        wanted = [to_iso3(x) for x in self.langs]
        missing = [x for x in wanted if x not in found]
        if missing:
            raise ParallelDataError(
                f"{self.folder}: no en-XXX.tsv[.gz] for {', '.join(missing)} "
                f"(available: {', '.join(sorted(found)) or 'none'})"
            )
        return [(x, found[x]) for x in wanted]

    def pairs(self, stats: dict[str, LangStats]) -> Iterator[tuple[str, str, str]]:
        for lang, path in self.files():
            yield from TsvSource(path, lang).pairs(stats)


@dataclass
class HFSource:
    """A Hugging Face dataset with an English and a translation column (needs the hub or its cache)."""

    dataset: str
    lang: str
    english_column: str = "english"
    translation_column: str = "non_english"
    split: str = "train"
    subset: str | None = None
    # For builder datasets ("csv", "json", "parquet") reading local files.
    data_files: str | list[str] | None = None

    @property
    def name(self) -> str:
        return f"hf:{self.dataset}" + (f"/{self.subset}" if self.subset else "")

    def pairs(self, stats: dict[str, LangStats]) -> Iterator[tuple[str, str, str]]:
        from datasets import load_dataset

        ds = load_dataset(self.dataset, self.subset, split=self.split, data_files=self.data_files)
        for col in (self.english_column, self.translation_column):
            if col not in ds.column_names:
                raise ParallelDataError(f"{self.name}: no column {col!r} (has {ds.column_names})")
        lang = to_iso3(self.lang)
        st = stats.setdefault(lang, LangStats())
        for i, row in enumerate(ds):
            st.read += 1
            en, tr = row[self.english_column], row[self.translation_column]
            if not isinstance(en, str) or not isinstance(tr, str) or not en.strip() or not tr.strip():
                st.malformed += 1
                if len(st.malformed_examples) < 3:
                    st.malformed_examples.append(f"{self.name} row {i}: {str(row)[:80]}")
                continue
            yield lang, en.strip(), tr.strip()


def source_from_spec(spec: str | dict, langs: list[str] | None = None) -> ParallelSource:
    """Build a source from a config entry: a path (file or folder) or {hf: name, lang: .., ...}."""
    if isinstance(spec, dict):
        if "hf" not in spec:
            raise ParallelDataError(f"data source {spec}: a mapping needs an 'hf' key")
        return HFSource(
            dataset=spec["hf"],
            lang=spec["lang"],
            english_column=spec.get("english_column", "english"),
            translation_column=spec.get("translation_column", "non_english"),
            split=spec.get("split", "train"),
            subset=spec.get("subset"),
            data_files=spec.get("data_files"),
        )
    path = Path(spec).expanduser()
    if path.is_dir():
        return FolderSource(path, langs)
    return TsvSource(path)


@dataclass
class ParallelData:
    train: list[Pair]
    heldout: list[Pair]
    stats: dict[str, LangStats]
    # Per language, the counts of the training config's `filter:` (training.filtering), when it ran.
    filtered: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def langs(self) -> list[str]:
        return sorted({p.lang for p in self.train})

    def summary(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {lang: dict(st.to_dict()) for lang, st in sorted(self.stats.items())}
        for lang, counts in self.filtered.items():
            out.setdefault(lang, {})["filter"] = counts
        return out

    def malformed_total(self) -> int:
        return sum(st.malformed for st in self.stats.values())


def load_parallel(
    sources: Iterable[ParallelSource],
    langs: list[str] | None = None,
    max_pairs_per_lang: int | None = None,
    max_chars: int | None = 300,
    dedup: bool = True,
    exclude: set[str] | None = None,
    heldout_per_lang: int = 0,
    seed: int = 42,
    max_malformed_fraction: float | None = None,
) -> ParallelData:
    """Read all sources, drop what the policies reject (counting why), split train / held-out.

    The held-out pairs are drawn first so that changing `max_pairs_per_lang` does not change the
    evaluation set. `exclude` holds sentences (e.g. every eval-set sentence) that must not be
    trained on: Tatoeba-challenge and STSb-MT training files share sentences with the test sets.
    """
    wanted = {to_iso3(x) for x in langs} if langs else None
    stats: dict[str, LangStats] = {}
    by_lang: dict[str, list[Pair]] = defaultdict(list)
    seen: dict[str, set[tuple[str, str]]] = defaultdict(set)
    excluded_texts = {normalize(t) for t in exclude} if exclude else set()
    for source in sources:
        for lang, en, tr in source.pairs(stats):
            if wanted is not None and lang not in wanted:
                stats[lang].read -= 1  # not ours: neither kept nor dropped
                continue
            st = stats[lang]
            if max_chars is not None and (len(en) > max_chars or len(tr) > max_chars):
                st.too_long += 1
                continue
            if excluded_texts and (normalize(en) in excluded_texts or normalize(tr) in excluded_texts):
                st.excluded += 1
                continue
            if dedup:
                key = (normalize(en), normalize(tr))
                if key in seen[lang]:
                    st.duplicate += 1
                    continue
                seen[lang].add(key)
            by_lang[lang].append(Pair(lang, en, tr))
    stats = {k: v for k, v in stats.items() if v.read > 0 or k in by_lang}
    for lang, st in stats.items():
        if st.malformed:
            log.warning(
                "%s: skipped %d malformed line(s) of %d (want 'english<TAB>translation'), e.g. %s",
                lang,
                st.malformed,
                st.read,
                "; ".join(st.malformed_examples),
            )
            if max_malformed_fraction is not None and st.malformed > max_malformed_fraction * st.read:
                raise ParallelDataError(
                    f"{lang}: {st.malformed} of {st.read} lines are malformed "
                    f"(more than {max_malformed_fraction:.0%}); e.g. {st.malformed_examples[0]}"
                )
    if wanted:
        missing = sorted(wanted - set(by_lang))
        if missing:
            raise ParallelDataError(f"no usable pairs for: {', '.join(missing)}")
    rng = random.Random(seed)
    train: list[Pair] = []
    heldout: list[Pair] = []
    for lang in sorted(by_lang):
        items = by_lang[lang]
        rng.shuffle(items)
        held = items[:heldout_per_lang]
        rest = items[heldout_per_lang:]
        if max_pairs_per_lang is not None and len(rest) > max_pairs_per_lang:
            stats[lang].over_cap = len(rest) - max_pairs_per_lang
            rest = rest[:max_pairs_per_lang]
        stats[lang].heldout = len(held)
        stats[lang].train = len(rest)
        heldout.extend(held)
        train.extend(rest)
    if not train:
        raise ParallelDataError("no training pairs left after filtering")
    # Interleave languages so every batch mixes them (a per-language block order would make the
    # student drift toward whichever language it saw last).
    rng.shuffle(train)
    return ParallelData(train=train, heldout=heldout, stats=stats)


def normalize(text: str) -> str:
    """Case and whitespace folded: what makes two sentences the same for dedup and exclusion."""
    return " ".join(text.lower().split())
