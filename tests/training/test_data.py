"""Parallel-data loaders: formats, malformed-line accounting, caps, dedup, held-out split."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from training.data import (
    FolderSource,
    HFSource,
    ParallelDataError,
    TsvSource,
    load_parallel,
    source_from_spec,
)
from training.teacher_cache import TeacherCache

from .conftest import PAIRS, write_tsv


def test_tsv_malformed_lines_are_counted_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = ["no tab here", "three\tfields\there", "\tmissing english", "missing translation\t"]
    path = write_tsv(tmp_path / "en-deu.tsv", PAIRS["deu"], extra_lines=bad)
    with caplog.at_level(logging.WARNING):
        data = load_parallel([TsvSource(path)])
    st = data.stats["deu"]
    assert st.malformed == 4
    assert st.read == len(PAIRS["deu"]) + 4
    assert len(data.train) == len(PAIRS["deu"])
    assert "skipped 4 malformed line(s)" in caplog.text
    assert "en-deu.tsv:" in caplog.text  # the message points at the offending line


def test_strict_mode_rejects_mostly_malformed_file(tmp_path: Path) -> None:
    path = write_tsv(tmp_path / "en-deu.tsv", PAIRS["deu"][:2], extra_lines=["junk"] * 5)
    with pytest.raises(ParallelDataError, match="5 of 7 lines are malformed"):
        load_parallel([TsvSource(path)], max_malformed_fraction=0.5)


def test_folder_source_caps_dedups_and_holds_out(parallel_dir: Path) -> None:
    # A duplicate pair and an over-long pair in German.
    rows = [*PAIRS["deu"], PAIRS["deu"][0], ("long " * 100, "lang " * 100)]
    write_tsv(parallel_dir / "en-deu.tsv.gz", rows)
    data = load_parallel(
        [FolderSource(parallel_dir, ["de", "es"])],
        langs=["de", "es"],
        max_pairs_per_lang=5,
        max_chars=200,
        heldout_per_lang=3,
        seed=1,
    )
    de = data.stats["deu"]
    assert (de.duplicate, de.too_long, de.heldout, de.train) == (1, 1, 3, 5)
    assert de.over_cap == len(PAIRS["deu"]) - 3 - 5
    assert data.langs == ["deu", "spa"]
    assert len(data.heldout) == 6
    train_keys = {(p.english, p.translation) for p in data.train}
    assert not train_keys & {(p.english, p.translation) for p in data.heldout}


def test_exclude_drops_eval_sentences(parallel_dir: Path) -> None:
    exclude = {"Die Katze schläft auf dem Sofa.", "hoy está lloviendo."}  # case-insensitive match
    data = load_parallel([FolderSource(parallel_dir)], exclude=exclude)
    assert data.stats["deu"].excluded == 1
    assert data.stats["spa"].excluded == 1


def test_missing_language_is_a_clear_error(parallel_dir: Path) -> None:
    with pytest.raises(ParallelDataError, match=r"no en-XXX\.tsv"):
        load_parallel([FolderSource(parallel_dir, ["fr"])], langs=["fr"])


def test_hf_source_with_column_mapping(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    rows = [{"en": en, "fr": tr} for en, tr in PAIRS["spa"][:4]] + [{"en": "", "fr": "vide"}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    src = source_from_spec(
        {
            "hf": "json",
            "data_files": str(path),
            "lang": "es",
            "english_column": "en",
            "translation_column": "fr",
        }
    )
    assert isinstance(src, HFSource)
    data = load_parallel([src])
    assert data.stats["spa"].malformed == 1
    assert len(data.train) == 4


def test_teacher_cache_computes_each_text_once(tmp_path: Path) -> None:
    calls: list[int] = []

    def encode(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    cache = TeacherCache(tmp_path, "teacher-x")
    first = cache.get_or_compute(["a", "bb", "a"], encode, progress=False)
    assert calls == [2]
    assert first[:, 0].tolist() == [1, 2, 1]
    # A fresh cache object (a resumed run) reads the shards back and computes only the new text.
    again = TeacherCache(tmp_path, "teacher-x").get_or_compute(["bb", "ccc"], encode, progress=False)
    assert calls == [2, 1]
    assert again[:, 0].tolist() == [2, 3]


def test_language_codes_bridge_iso1_iso3_and_the_data_spellings() -> None:
    from training.langs import tatoeba_code, to_iso1, to_iso3

    iso3 = [to_iso3(c) for c in ("de", "DE ", "deu", "tl", "cmn", "prs")]
    assert iso3 == ["deu", "deu", "deu", "fil", "zho", "prs"]
    # langdetect's spellings (the indexer's `lang`), and no folding of a variety into its macrolanguage.
    iso1 = [to_iso1(c) for c in ("deu", "nor", "fil", "prs", "yue", "lat")]
    assert iso1 == ["de", "no", "tl", "prs", "yue", "la"]
    assert tatoeba_code("zh") == "cmn"
