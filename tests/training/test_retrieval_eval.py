"""The language-agnostic retrieval eval: metrics on hand-made vectors, multi-way groups on real files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from training.evaluation.retrieval import Pool, corpus_means, score
from training.multiway import is_heldout, load_groups


def test_score_on_a_pool_with_a_language_bias() -> None:
    # Two documents in en and de. The German query for doc 0 is closest to the German doc 1
    # (irrelevant, same language), then German doc 0, then English doc 0.
    pool = Pool(
        "toy",
        doc=np.array([0, 1, 0, 1]),
        lang=np.array(["de", "de", "en", "en"]),
        vectors=np.eye(4, dtype=np.float32),
    )
    q = np.array([[0.8, 0.9, 0.5, 0.0]], dtype=np.float32)
    m = score(q, np.array(["de"]), np.array([0]), pool.vectors, pool)
    # Relevant at ranks 2 and 3: AP = (1/2 + 2/3) / 2.
    assert abs(m["map@50"] - 100 * (0.5 + 2 / 3) / 2) < 0.1
    assert m["x_x_acc@1"] == 0.0  # among German documents the wrong one wins
    assert m["x_en_acc@1"] == 100.0
    assert m["same_lang_bias"] == 100.0  # the irrelevant German doc beats the relevant English one
    assert m["queries"] == 1


def test_corpus_means_remove_a_shared_language_direction() -> None:
    rng = np.random.default_rng(0)
    content = rng.normal(size=(3, 16)).astype(np.float32)
    de = np.zeros(16, np.float32)
    de[0] = 4.0  # a strong "German" direction on every German vector
    vectors = np.concatenate([content, content + de])
    pool = Pool(
        "toy",
        doc=np.array([0, 1, 2, 0, 1, 2]),
        lang=np.array(["en"] * 3 + ["de"] * 3),
        vectors=vectors / np.linalg.norm(vectors, axis=1, keepdims=True),
    )
    q = pool.vectors[3:]  # German queries = the German documents
    qlang, qdoc = np.array(["de"] * 3), np.arange(3)
    plain = score(q, qlang, qdoc, pool.vectors, pool)
    q2, p2 = corpus_means()(q, qlang, pool)
    neutral = score(q2, qlang, qdoc, p2, pool)
    assert neutral["same_lang_bias"] < plain["same_lang_bias"]
    assert neutral["map@50"] >= plain["map@50"]


def test_multiway_groups_join_on_the_english_side(tmp_path: Path) -> None:
    rows = {
        "deu": [("Hello world.", "Hallo Welt."), ("Good night.", "Gute Nacht.")],
        "fra": [("Hello world.", "Bonjour le monde."), ("Only French.", "Seulement.")],
    }
    for lang, pairs in rows.items():
        with gzip.open(tmp_path / f"en-{lang}.tsv.gz", "wt", encoding="utf-8") as fh:
            fh.writelines(f"{en}\t{x}\n" for en, x in pairs)
    groups = {g.english: g for g in load_groups(tmp_path, ["en", "de", "fr"], min_langs=2)}
    assert list(groups) == ["Hello world."]
    assert groups["Hello world."].texts == {
        "en": "Hello world.",
        "de": "Hallo Welt.",
        "fr": "Bonjour le monde.",
    }
    # The split is a property of the sentence, stable and roughly half/half.
    sample = [f"sentence {i}" for i in range(400)]
    share = sum(map(is_heldout, sample)) / len(sample)
    assert 0.4 < share < 0.6 and is_heldout("x") == is_heldout("x")
