"""STS data: STS2017 (SemEval) tracks and stsb_multi_mt test sets, as (s1, s2, gold) triples."""

from __future__ import annotations

import csv
import re
from pathlib import Path

# Upstream track file -> the pair name used by published scores (MTEB's STS17).
STS17_TRACKS: dict[str, str] = {
    "track1.ar-ar": "ar-ar",
    "track2.ar-en": "en-ar",
    "track3.es-es": "es-es",
    "track4a.es-en": "es-en",
    "track4b.es-en": "es-en-wmt",
    "track5.en-en": "en-en",
    "track6.tr-en": "en-tr",
}
STS17_CROSS = ("en-ar", "en-tr", "es-en")

StsSet = tuple[list[str], list[str], list[float]]


def load_sts17(data_dir: Path) -> dict[str, StsSet]:
    """All STS17 tracks present. Scored lines are those with a gold score (track6 tr-en has 500
    input lines but only the first 250 are scored)."""
    folder = data_dir / "sts17"
    out: dict[str, StsSet] = {}
    for track, name in STS17_TRACKS.items():
        inp, gs = folder / f"STS.input.{track}.txt", folder / f"STS.gs.{track}.txt"
        if not inp.exists() or not gs.exists():
            continue
        gold_lines = gs.read_text(encoding="utf-8").splitlines()
        input_lines = inp.read_text(encoding="utf-8").splitlines()
        s1: list[str] = []
        s2: list[str] = []
        gold: list[float] = []
        for line, g in zip(input_lines, gold_lines, strict=False):
            if not g.strip():
                continue  # unscored pair
            a, b = line.split("\t")[:2]
            s1.append(a.strip())
            s2.append(b.strip())
            gold.append(float(g))
        out[name] = (s1, s2, gold)
    return out


def stsb_languages(data_dir: Path) -> list[str]:
    return sorted(
        {
            m.group(1)
            for p in (data_dir / "stsb_multi_mt").glob("stsb-*-test.csv")
            if (m := re.match(r"stsb-(\w+)-test\.csv", p.name))
        }
    )


def load_stsb(data_dir: Path, lang: str, split: str = "test") -> StsSet:
    """stsb_multi_mt CSV (no header): sentence1, sentence2, score 0–5."""
    path = data_dir / "stsb_multi_mt" / f"stsb-{lang}-{split}.csv"
    if not path.exists():
        raise FileNotFoundError(f"no stsb_multi_mt file {path}")
    s1: list[str] = []
    s2: list[str] = []
    gold: list[float] = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh):
            if len(row) < 3:
                continue
            s1.append(row[0])
            s2.append(row[1])
            gold.append(float(row[2]))
    return s1, s2, gold


def load_stsb_cross(data_dir: Path, lang1: str, lang2: str) -> StsSet:
    """Cross-lingual STSb as in the distillation paper: sentence1 in lang1, sentence2 in lang2
    (the translations are line-aligned, so the gold score carries over)."""
    a, _, gold = load_stsb(data_dir, lang1)
    _, b, gold2 = load_stsb(data_dir, lang2)
    if len(a) != len(b) or gold != gold2:
        raise ValueError(f"stsb {lang1}/{lang2} test files are not line-aligned")
    return a, b, gold
