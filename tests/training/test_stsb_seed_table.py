"""stsb_multi_mt en / it / en-it (the seed article's table) in `rosetta eval` and in training reports."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from training.evaluation.runner import evaluate_encoder, split_stsb_langs
from training.report import seed_table, tatoeba_delta_table

ROWS = [
    (
        "A man is playing a guitar.",
        "A man plays the guitar.",
        4.8,
        "Un uomo sta suonando una chitarra.",
        "Un uomo suona la chitarra.",
    ),
    (
        "A woman is slicing an onion.",
        "A woman is cutting an onion.",
        4.2,
        "Una donna sta tagliando una cipolla.",
        "Una donna taglia una cipolla.",
    ),
    (
        "The cat sits on the mat.",
        "A dog runs in the park.",
        0.4,
        "Il gatto è seduto sul tappeto.",
        "Un cane corre nel parco.",
    ),
    (
        "Stocks fell sharply today.",
        "The market dropped a lot today.",
        3.6,
        "Oggi le azioni sono crollate.",
        "Oggi il mercato è sceso molto.",
    ),
    ("He is cooking pasta.", "The weather is cold.", 0.2, "Sta cucinando la pasta.", "Fa freddo."),
]


def _stsb_dir(root: Path) -> Path:
    d = root / "stsb_multi_mt"
    d.mkdir(parents=True)
    for lang, (i, j) in {"en": (0, 1), "it": (3, 4)}.items():
        with (d / f"stsb-{lang}-test.csv").open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([(r[i], r[j], r[2]) for r in ROWS])
    return root


def test_split_stsb_langs() -> None:
    assert split_stsb_langs(["en", "it", "en-it"]) == (["en", "it"], [("en", "it")])
    assert split_stsb_langs(["deu", "en-ita"]) == (["de"], [("en", "it")])
    with pytest.raises(ValueError, match="en-"):
        split_stsb_langs(["en-"])


def test_eval_stsb_en_it_pairs_from_aligned_files(tmp_path: Path, encoder) -> None:
    data = _stsb_dir(tmp_path)
    res = evaluate_encoder(encoder, data, ["stsb"], stsb_langs=["en", "it", "en-it"])
    assert set(res["stsb"]) == {"en", "it", "en-it"}
    # Cross-lingual pairs only: "it" alone is not turned into en-it twice, nor run as a pair it-en.
    assert res["stsb"]["en-it"]["n"] == len(ROWS)
    # A multilingual model orders these toy pairs as the gold scores do in every direction.
    assert all(v["spearman"] >= 60 for v in res["stsb"].values())
    # Without pairs, monolingual languages other than English still get their en-xx pair.
    res2 = evaluate_encoder(encoder, data, ["stsb"], stsb_langs=["en", "it"])
    assert set(res2["stsb"]) == {"en", "it", "en-it"}

    table = seed_table({"before": res, "after": {}})
    lines = table.splitlines()
    assert lines[0] == "| stsb_multi_mt | before | after | article: untrained | article: trained |"
    assert lines[4].startswith(f"| en-it | {res['stsb']['en-it']['spearman']:.1f} | – | 22.9 | 71.0 |")


def test_tatoeba_delta_table_sorted_by_change() -> None:
    before = {"tatoeba": {"deu": {"accuracy": 0.9}, "jpn": {"accuracy": 0.8}}}
    after = {"tatoeba": {"deu": {"accuracy": 0.89}, "jpn": {"accuracy": 0.9}}}
    lines = tatoeba_delta_table(before, after).splitlines()
    assert lines[2] == "| deu | 90.0 | 89.0 | -1.0 |"
    assert lines[3] == "| jpn | 80.0 | 90.0 | +10.0 |"
    assert lines[4] == "| mean of 2 | 85.0 | 89.5 | +4.5 |"
