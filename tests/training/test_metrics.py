"""Evaluation metrics and eval-file readers on hand-made data with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.data import Pair
from training.evaluation.evaluators import Embedded, mse_x100, sts_spearman, translation_accuracy
from training.evaluation.heldout import heldout_metrics
from training.evaluation.published import comparison_rows
from training.evaluation.sts import load_sts17, load_stsb_cross
from training.evaluation.tatoeba import load_tatoeba


def test_sts_spearman_known_values() -> None:
    # Cosine of (1, 0) with (cos θ, sin θ) falls as θ grows: a perfect rank order either way.
    angles = np.array([0.1, 0.5, 1.0, 1.4])
    right = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    texts = [f"r{i}" for i in range(4)]
    model = Embedded.of(["l", *texts], np.vstack([[1.0, 0.0], right]))
    assert sts_spearman(model, ["l"] * 4, texts, [4.0, 3.0, 2.0, 1.0]) == pytest.approx(1.0)
    assert sts_spearman(model, ["l"] * 4, texts, [1.0, 2.0, 3.0, 4.0]) == pytest.approx(-1.0)
    # Hand-computed: ranks [1,2,3] vs [1,3,2] -> 1 - 6*2/(3*8) = 0.5
    assert sts_spearman(model, ["l"] * 3, texts[:3], [3.0, 1.0, 2.0]) == pytest.approx(0.5)


def test_translation_accuracy_and_mse() -> None:
    eye = np.eye(3, dtype=np.float32)
    # Query 2 points at candidate 0: 2 of 3 right.
    queries = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0.1]], dtype=np.float32)
    model = Embedded.of(["q0", "q1", "q2", "c0", "c1", "c2"], np.vstack([queries, eye]))
    src2trg, trg2src = translation_accuracy(model, ["q0", "q1", "q2"], ["c0", "c1", "c2"])
    assert src2trg == pytest.approx(2 / 3)
    assert trg2src == pytest.approx(1.0)  # c2's nearest query is still q2
    zeros = Embedded.of(["a", "b"], np.zeros((2, 2)))
    ones = Embedded.of(["a", "b"], np.ones((2, 2)))
    assert mse_x100(zeros, ones, ["a", "b"], ["a", "b"]) == pytest.approx(100.0)


def test_heldout_metrics_per_language() -> None:
    pairs = [Pair("deu", "a", "x"), Pair("deu", "b", "y"), Pair("spa", "c", "z"), Pair("spa", "d", "w")]
    teacher = np.eye(4, dtype=np.float32)
    student_tr = teacher.copy()
    student_tr[3] = teacher[2]  # the second Spanish translation collides with the first
    out = heldout_metrics(pairs, teacher, teacher, student_tr)
    assert out["deu"]["mse_x100"] == 0.0
    assert out["deu"]["src2trg_accuracy"] == 1.0
    assert out["spa"]["src2trg_accuracy"] == 0.5
    assert out["spa"]["mse_x100"] == pytest.approx(100 * 2 / 8)


def test_sts17_reader_names_and_scored_lines(tmp_path: Path) -> None:
    folder = tmp_path / "sts17"
    folder.mkdir()
    (folder / "STS.input.track6.tr-en.txt").write_text("a\tA\nb\tB\nc\tC\nextra\tEXTRA\n")
    (folder / "STS.gs.track6.tr-en.txt").write_text("1.0\n2.0\n3.0\n")  # only the first 3 are scored
    (folder / "STS.input.track2.ar-en.txt").write_text("x\tX\n")
    (folder / "STS.gs.track2.ar-en.txt").write_text("4.5\n")
    data = load_sts17(tmp_path)
    assert set(data) == {"en-tr", "en-ar"}
    s1, s2, gold = data["en-tr"]
    assert (s1, s2, gold) == (["a", "b", "c"], ["A", "B", "C"], [1.0, 2.0, 3.0])


def test_stsb_cross_and_tatoeba_readers(tmp_path: Path) -> None:
    st = tmp_path / "stsb_multi_mt"
    st.mkdir()
    (st / "stsb-en-test.csv").write_text('A man eats.,"A man, eating.",4.0\nDogs run.,Cats sit.,0.5\n')
    (st / "stsb-de-test.csv").write_text(
        'Ein Mann isst.,"Ein Mann, essend.",4.0\nHunde rennen.,Katzen sitzen.,0.5\n'
    )
    s1, s2, gold = load_stsb_cross(tmp_path, "en", "de")
    assert s1 == ["A man eats.", "Dogs run."]
    assert s2 == ["Ein Mann, essend.", "Katzen sitzen."]
    assert gold == [4.0, 0.5]
    tt = tmp_path / "tatoeba"
    tt.mkdir()
    (tt / "tatoeba.cmn-eng.cmn").write_text("你好\n谢谢\n")
    (tt / "tatoeba.cmn-eng.eng").write_text("Hello\nThanks\n")
    assert load_tatoeba(tmp_path, "zh") == (["你好", "谢谢"], ["Hello", "Thanks"])


def test_published_comparison_uses_our_scale() -> None:
    ours = {"after": {"tatoeba": {"deu": {"accuracy": 0.9}}, "sts17": {"en-ar": {"spearman": 70.0}}}}
    published = {"m": {"Tatoeba|deu-eng": 0.98, "STS17|en-ar": 0.8}}
    rows = {(r["task"], r["lang"]): r for r in comparison_rows(ours, published)}
    assert rows[("tatoeba", "deu")]["published:m"] == 0.98
    assert rows[("sts17", "en-ar")]["published:m"] == 80.0
    assert rows[("sts17", "en-ar")]["after"] == 70.0
