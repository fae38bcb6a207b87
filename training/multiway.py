"""Multi-way parallel groups rebuilt from English↔X files: one English sentence, its translations.

NTREX-128 and TICO-19 translate the same English sentences into many languages; in a folder of
`en-XXX.tsv.gz` files those sentences show up with the same English side in every file. Joining
on the English side recovers the multi-way groups.

Every group is either *held out* (evaluation) or *estimation* (language vectors), by a hash of
its English sentence, so the two uses never share a sentence whatever their sample sizes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from training.data import FolderSource, LangStats
from training.langs import to_iso1, to_iso3

# What langdetect (the indexer's language id) can return, as stored in payloads (zh-cn/zh-tw → zh).
LANGID_LANGS = (
    "af",
    "ar",
    "bg",
    "bn",
    "ca",
    "cs",
    "cy",
    "da",
    "de",
    "el",
    "en",
    "es",
    "et",
    "fa",
    "fi",
    "fr",
    "gu",
    "he",
    "hi",
    "hr",
    "hu",
    "id",
    "it",
    "ja",
    "kn",
    "ko",
    "lt",
    "lv",
    "mk",
    "ml",
    "mr",
    "ne",
    "nl",
    "no",
    "pa",
    "pl",
    "pt",
    "ro",
    "ru",
    "sk",
    "sl",
    "so",
    "sq",
    "sv",
    "sw",
    "ta",
    "te",
    "th",
    "tl",
    "tr",
    "uk",
    "ur",
    "vi",
    "zh",
)


@dataclass(frozen=True)
class Group:
    """One English sentence and its translations, keyed by ISO 639-1 code ('en' included)."""

    english: str
    texts: dict[str, str]

    @property
    def heldout(self) -> bool:
        return is_heldout(self.english)

    @property
    def order(self) -> int:
        """A stable pseudo-random order (samples do not depend on file order)."""
        return int.from_bytes(hashlib.blake2b(self.english.encode(), digest_size=8).digest(), "big")


def is_heldout(english: str) -> bool:
    digest = hashlib.blake2b(("heldout|" + english).encode(), digest_size=8).digest()
    return digest[0] % 2 == 0


def available_langs(folder: Path, langs: Iterable[str] = LANGID_LANGS) -> list[str]:
    """ISO 639-1 codes among `langs` that have an en-XXX file in `folder` (plus 'en')."""
    have = {lang for lang, _ in FolderSource(folder).files()}
    return [x for x in langs if x == "en" or to_iso3(x) in have]


def load_groups(folder: Path, langs: Iterable[str], min_langs: int) -> list[Group]:
    """Groups whose English sentence has translations in at least `min_langs` of `langs`,
    in their stable order. A sentence translated twice into one language keeps the first."""
    wanted = [x for x in langs if x != "en"]
    texts: dict[str, dict[str, str]] = {}
    stats: dict[str, LangStats] = {}
    source = FolderSource(folder, [to_iso3(x) for x in wanted])
    for lang3, english, translation in source.pairs(stats):
        entry = texts.setdefault(" ".join(english.split()), {})
        entry.setdefault(to_iso1(lang3), translation)
    groups = [Group(en, {"en": en, **tr}) for en, tr in texts.items() if len(tr) >= min_langs]
    return sorted(groups, key=lambda g: g.order)
