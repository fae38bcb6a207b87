"""Length-grouped batches: every pair once per epoch, similar lengths together, no text twice in a batch."""

from __future__ import annotations

import random

from datasets import Dataset

from training.batching import LengthGroupedBatchSampler, pack_batches


def _multiway_dataset(n_sentences: int = 300, langs: int = 8) -> Dataset:
    """Like multi-way-parallel corpora: each English sentence once per language, same length."""
    rng = random.Random(0)
    english, translation = [], []
    for s in range(n_sentences):
        text = f"sentence {s} " + "w" * rng.randint(1, 120)
        for lang in range(langs):
            english.append(text)
            translation.append(f"[{lang}] {text}")
    return Dataset.from_dict({"english": english, "translation": translation})


def test_batches_cover_the_epoch_once_without_repeated_texts() -> None:
    ds = _multiway_dataset()
    sampler = LengthGroupedBatchSampler(ds, batch_size=16, drop_last=True, seed=3)
    batches = list(sampler)
    # The last few leftovers may be copies of too few sentences to fill a batch: they wait.
    assert len(sampler) == len(ds) // 16
    assert 0.97 * len(sampler) <= len(batches) <= len(sampler)
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat))
    english = ds["english"]
    for b in batches:
        assert len(b) == 16
        assert len({english[i] for i in b}) == 16  # the 8 copies of a sentence are never together


def test_batches_group_similar_lengths_and_change_with_epoch() -> None:
    ds = _multiway_dataset(n_sentences=600, langs=1)
    sampler = LengthGroupedBatchSampler(ds, batch_size=16, drop_last=False, seed=3)
    lengths = [len(t) for t in ds["english"]]
    grouped = list(sampler)
    assert sorted(i for b in grouped for i in b) == list(range(len(ds)))

    def mean_spread(batches: list[list[int]]) -> float:
        return sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)

    shuffled = list(range(len(ds)))
    random.Random(0).shuffle(shuffled)
    plain = [shuffled[k : k + 16] for k in range(0, len(shuffled), 16)]
    assert mean_spread(grouped) < mean_spread(plain) / 5
    sampler.set_epoch(1)
    assert list(sampler) != grouped


def test_pack_batches_first_fit() -> None:
    keys = [("a",), ("a",), ("b",), ("c",), ("a",), ("d",)]
    full, partial = pack_batches(list(range(6)), keys, batch_size=2)
    assert full == [[0, 2], [1, 3], [4, 5]]
    assert partial == []
