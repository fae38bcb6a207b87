"""Teacher embeddings computed once, stored on disk keyed by (teacher identity, text hash).

Layout: `<root>/<teacher key>/shard-NNNNN.npz`, each shard holding `keys` (16-byte blake2b of
the text) and `vectors` (float32). New vectors are written a shard at a time while computing, so
an interrupted run keeps what it finished and a resumed or repeated run recomputes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from rosetta.progress import make_progress

SHARD_SIZE = 4096


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class TeacherCache:
    """Vectors for texts under one teacher key; `key` must change whenever the vectors would."""

    def __init__(self, root: Path, key: str, meta: dict | None = None) -> None:
        self.dir = root / key
        self.dir.mkdir(parents=True, exist_ok=True)
        if meta is not None and not (self.dir / "meta.json").exists():
            (self.dir / "meta.json").write_text(json.dumps(meta, indent=2))
        self._index: dict[bytes, tuple[int, int]] = {}
        self._shards: list[np.ndarray] = []
        self._load()

    def _load(self) -> None:
        for path in sorted(self.dir.glob("shard-*.npz")):
            try:
                with np.load(path) as data:
                    keys, vectors = data["keys"], data["vectors"]
            except (OSError, ValueError, KeyError):
                continue  # a shard cut off mid-write is recomputed, not trusted
            sid = len(self._shards)
            self._shards.append(vectors)
            for row, k in enumerate(keys):
                self._index[bytes(k)] = (sid, row)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, text: str) -> bool:
        return text_key(text) in self._index

    def _write_shard(self, keys: list[bytes], vectors: np.ndarray) -> None:
        n = len(list(self.dir.glob("shard-*.npz")))
        final = self.dir / f"shard-{n:05d}.npz"
        tmp = self.dir / f".tmp-{n:05d}.npz"
        np.savez(tmp, keys=np.array(keys, dtype="S16"), vectors=vectors.astype(np.float32))
        tmp.rename(final)  # atomic: readers never see half a shard
        sid = len(self._shards)
        self._shards.append(vectors.astype(np.float32))
        for row, k in enumerate(keys):
            self._index[k] = (sid, row)

    def get_or_compute(
        self,
        texts: Sequence[str],
        encode: Callable[[list[str]], np.ndarray],
        progress: bool = True,
        description: str = "teacher embeddings",
    ) -> np.ndarray:
        """Vectors for `texts` in order, encoding (in shards) only the ones not cached yet."""
        keys = [text_key(t) for t in texts]
        missing: dict[bytes, str] = {}
        for k, t in zip(keys, texts, strict=True):
            if k not in self._index and k not in missing:
                missing[k] = t
        if missing:
            todo = list(missing.items())
            bar = make_progress() if progress else None
            task = bar.add_task(description, total=len(todo), unit="sent") if bar else None
            if bar:
                bar.start()
            try:
                for start in range(0, len(todo), SHARD_SIZE):
                    chunk = todo[start : start + SHARD_SIZE]
                    vectors = np.asarray(encode([t for _, t in chunk]), dtype=np.float32)
                    self._write_shard([k for k, _ in chunk], vectors)
                    if bar is not None and task is not None:
                        bar.advance(task, len(chunk))
            finally:
                if bar:
                    bar.stop()
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._shards[s][r] for s, r in (self._index[k] for k in keys)])


def teacher_cache_key(
    weights_sha256: str, normalized: bool, max_seq_length: int, precision: str = "fp32"
) -> str:
    """Everything that changes the teacher's vectors goes into the key."""
    mode = "norm" if normalized else "raw"
    suffix = "" if precision == "fp32" else f"-{precision}"
    return f"{weights_sha256[:24]}-{mode}-len{max_seq_length}{suffix}"
