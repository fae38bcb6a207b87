"""Length-grouped batches without repeated texts, for SentenceTransformerTrainer.

On CPU a step costs what its longest sentence costs times the batch size: random batches of
parallel data mix 8-token Tatoeba lines with 60-token package descriptions and spend much of
the step on padding. Grouping pairs of similar length cuts that waste. The same grouping would
put the copies of a multi-way-parallel English sentence (one per language, same length) side by
side, which in-batch-negative losses must not see (a false negative), so no text appears twice
in a batch, as with the library's NoDuplicatesBatchSampler.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from sentence_transformers.base.sampler import DefaultBatchSampler

TEXT_COLUMNS = ("english", "translation")


def pack_batches(
    order: list[int], keys: list[tuple[str, ...]], batch_size: int, open_limit: int = 16
) -> tuple[list[list[int]], list[list[int]]]:
    """First-fit of `order` (already sorted by length) into full batches whose texts are distinct.

    At most `open_limit` batches are open at once, so a batch only takes neighbours in the sort
    order (similar lengths). Returns the full batches and the unfinished ones (each still free of
    repeated texts).
    """
    full: list[list[int]] = []
    closed_early: list[list[int]] = []
    open_batches: list[tuple[list[int], set[str]]] = []
    for i in order:
        texts = keys[i]
        for candidate in open_batches:
            if not candidate[1].intersection(texts):
                batch, seen = candidate
                break
        else:
            if len(open_batches) >= open_limit:
                # The oldest open batch holds the shortest texts; it is finished later from leftovers.
                closed_early.append(open_batches.pop(0)[0])
            batch, seen = [], set()
            open_batches.append((batch, seen))
        batch.append(i)
        seen.update(texts)
        if len(batch) == batch_size:
            full.append(batch)
            open_batches = [(b, s) for b, s in open_batches if b is not batch]
    return full, closed_early + [b for b, _ in open_batches]


class LengthGroupedBatchSampler(DefaultBatchSampler):
    """Shuffle, cut into chunks of `chunk_batches` batches, sort each by length, pack, shuffle batches."""

    chunk_batches = 64

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: Any = None,
        seed: int = 0,
    ) -> None:
        super().__init__(
            dataset,
            batch_size=batch_size,
            drop_last=drop_last,
            valid_label_columns=valid_label_columns,
            generator=generator,
            seed=seed,
        )
        columns = [c for c in TEXT_COLUMNS if c in dataset.column_names]
        if not columns:
            raise ValueError(f"length grouping needs one of the columns {TEXT_COLUMNS}")
        values = [dataset[c] for c in columns]
        self.keys: list[tuple[str, ...]] = list(zip(*values, strict=True))
        self.lengths = np.array([max(len(t) for t in row) for row in self.keys])

    def __len__(self) -> int:
        n = len(self.keys)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng((self.seed or 0) + self.epoch)
        order = rng.permutation(len(self.keys)).tolist()
        chunk = self.batch_size * self.chunk_batches
        batches: list[list[int]] = []
        carry: list[int] = []
        for start in range(0, len(order), chunk):
            part = sorted(carry + order[start : start + chunk], key=lambda i: self.lengths[i])
            full, partial = pack_batches(part, self.keys, self.batch_size)
            batches.extend(full)
            carry = [i for b in partial for i in b]
        # Leftovers: texts that kept colliding and the tails of the last chunk.
        full, partial = pack_batches(
            sorted(carry, key=lambda i: self.lengths[i]),
            self.keys,
            self.batch_size,
            open_limit=len(carry) + 1,
        )
        batches.extend(full)
        if not self.drop_last:
            batches.extend(partial)
        rng.shuffle(batches)
        yield from batches[: len(self)]
