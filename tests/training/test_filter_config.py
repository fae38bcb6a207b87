"""The parallel-data filter as a training-config option (`filter:` / --filter-min-score)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rosetta.models import Encoder
from training.config import TrainConfig
from training.report import build_report, render_markdown
from training.trainer import prepare_data

from .conftest import PAIRS, write_tsv

WRONG_PAIR = ("The cat sleeps on the sofa.", "Der Aktienmarkt ist heute stark gefallen.")
FRENCH = ("Where is the train station?", "Où se trouve la gare, s'il vous plaît ?")


def test_filter_flag_merges_into_config_file(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({"filter": {"model": "some-model", "check_lang": False}}))
    cfg = TrainConfig.from_yaml(path, {"filter": {"min_score": 1.2}})
    assert cfg.filter is not None
    assert (cfg.filter.model, cfg.filter.check_lang, cfg.filter.min_score) == ("some-model", False, 1.2)
    # The flag alone turns the filter on with defaults; no flag, no file entry: off.
    assert TrainConfig.from_yaml(None, {"filter": {"min_score": 0.9}}).filter.min_score == 0.9  # type: ignore[union-attr]
    assert TrainConfig.from_yaml(None, {"filter": None}).filter is None


@pytest.mark.slow
def test_filter_option_drops_noise_before_training_and_reports_it(
    encoder: Encoder, models_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "parallel"
    folder.mkdir()
    write_tsv(folder / "en-deu.tsv.gz", [*PAIRS["deu"], WRONG_PAIR, FRENCH])
    write_tsv(folder / "en-spa.tsv.gz", PAIRS["spa"])
    cfg = TrainConfig(
        data=[str(folder)],
        languages=["de", "es"],
        heldout_per_lang=0,
        exclude_eval_sentences=False,
        filter={"min_score": 1.0},
    )  # type: ignore[arg-type]
    data = prepare_data(cfg, models_dir, "cpu")
    train = {(p.english, p.translation) for p in data.train}
    assert WRONG_PAIR not in train
    assert FRENCH not in train
    summary = data.summary()
    deu = summary["deu"]["filter"]
    assert deu["read"] == len(PAIRS["deu"]) + 2
    assert deu["wrong_lang_translation"] == 1
    assert deu["low_score"] >= 1
    assert deu["kept"] + deu["dropped"] == deu["read"]
    assert summary["deu"]["train"] == deu["kept"]
    assert len(data.train) == deu["kept"] + summary["spa"]["filter"]["kept"]

    meta = {"config": cfg.to_jsonable(), "pairs_per_second": 0.0, "total_seconds": 0.0, "data": summary}
    report = build_report(meta, None, None, None)
    assert report["run"]["data"]["deu"]["filter"]["wrong_lang_translation"] == 1
    # Every report says which CPU it ran on (speed and bf16 differ between AVX2, AVX512 and AMX).
    assert report["machine"]["cpus"] >= 1 and isinstance(report["machine"]["cpu_flags"], list)
    md = render_markdown(report, {}, "Training report")
    assert "### Filter (model `student base`, margin ≥ 1.0" in md
    assert f"| deu | {deu['read']} | {deu['kept']} | {deu['dropped']} |" in md
