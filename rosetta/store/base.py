"""What every store backend shares: the `VectorStore` interface, its dataclasses and errors.

The interface speaks in plain dataclasses plus qdrant-client's filter model (`models.Filter`),
which every backend understands: the server and local mode natively, the in-process engine
through a translation (`rosetta.store.edge`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self

import numpy as np
from qdrant_client import models

from rosetta.models import ModelIdentity

DENSE = "dense"
SPARSE = "keywords"
METADATA_KEY = "rosetta"
SCHEMA_VERSION = 1
HOLDER_FILE = "rosetta-holder.json"
# Letters, digits, '_', '-', '.'; not starting with '.' (no hidden folders, no '..').
_COLLECTION_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")

Filter = models.Filter


class StoreError(RuntimeError):
    """A store problem with a message meant for users (no stack trace needed)."""


class StoreLockedError(StoreError):
    pass


class StoreUnavailableError(StoreError):
    pass


class CollectionNotFoundError(StoreError):
    pass


class ModelMismatchError(StoreError):
    pass


class InvalidCollectionNameError(StoreError):
    pass


class StoreCorruptedError(StoreError):
    pass


class MigrationNeededError(StoreError):
    pass


@dataclass(frozen=True)
class SparseVector:
    indices: list[int]
    values: list[float]


@dataclass
class Point:
    id: str
    vector: Sequence[float] | np.ndarray
    payload: dict[str, Any]
    sparse: SparseVector | None = None


@dataclass
class Hit:
    id: str
    score: float
    payload: dict[str, Any]
    vector: list[float] | None = None


@dataclass(frozen=True)
class CollectionOptions:
    """Creation-time options (shards and replicas matter on a cluster only)."""

    shard_number: int | None = None
    replication_factor: int | None = None
    on_disk_vectors: bool = False
    scalar_quantization: bool = False
    metadata_fields: tuple[str, ...] = ()


@dataclass
class CollectionInfo:
    name: str
    points: int
    identity: ModelIdentity | None
    created_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class VectorStore(Protocol):
    kind: str
    location: str

    def collections(self) -> list[str]: ...
    def exists(self, collection: str) -> bool: ...
    def ensure_collection(
        self,
        collection: str,
        identity: ModelIdentity,
        *,
        recreate: bool = False,
        options: CollectionOptions = ...,
    ) -> None: ...
    def identity(self, collection: str) -> ModelIdentity | None: ...
    def info(self, collection: str) -> CollectionInfo: ...
    def drop(self, collection: str) -> None: ...
    def upsert(self, collection: str, points: Sequence[Point]) -> None: ...
    def delete(self, collection: str, where: Filter) -> None: ...
    def delete_ids(self, collection: str, ids: Sequence[str]) -> None: ...
    def query(
        self,
        collection: str,
        vector: Sequence[float] | np.ndarray,
        *,
        where: Filter | None = None,
        limit: int = 10,
        offset: int = 0,
        score_threshold: float | None = None,
        sparse: SparseVector | None = None,
        with_vectors: bool = False,
    ) -> list[Hit]: ...
    def recommend(
        self, collection: str, point_id: str, *, where: Filter | None = None, limit: int = 10
    ) -> list[Hit]: ...
    def retrieve(self, collection: str, ids: Sequence[str], with_vectors: bool = False) -> list[Hit]: ...
    def scroll(
        self,
        collection: str,
        *,
        where: Filter | None = None,
        limit: int = 256,
        offset: str | None = None,
        with_vectors: bool = False,
        with_payload: bool | Sequence[str] = True,
    ) -> tuple[list[Hit], str | None]: ...
    def iterate(
        self,
        collection: str,
        *,
        where: Filter | None = None,
        batch: int = 512,
        with_vectors: bool = False,
        with_payload: bool | Sequence[str] = True,
    ) -> Iterator[Hit]: ...
    def count(self, collection: str, where: Filter | None = None) -> int: ...
    def facet(
        self, collection: str, key: str, *, where: Filter | None = None, limit: int = 100
    ) -> dict[str, int]: ...
    def optimize(self, collection: str) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> VectorStore: ...
    def __exit__(self, *exc: object) -> None: ...


class ScrollingStore:
    """What a backend gets from its `scroll` and `close`: iteration over everything, `with`."""

    def scroll(
        self,
        collection: str,
        *,
        where: Filter | None = None,
        limit: int = 256,
        offset: str | None = None,
        with_vectors: bool = False,
        with_payload: bool | Sequence[str] = True,
    ) -> tuple[list[Hit], str | None]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def iterate(
        self,
        collection: str,
        *,
        where: Filter | None = None,
        batch: int = 512,
        with_vectors: bool = False,
        with_payload: bool | Sequence[str] = True,
    ) -> Iterator[Hit]:
        """Every point matching `where`, `batch` at a time from the store (memory stays flat)."""
        offset: str | None = None
        while True:
            hits, offset = self.scroll(
                collection,
                where=where,
                limit=batch,
                offset=offset,
                with_vectors=with_vectors,
                with_payload=with_payload,
            )
            yield from hits
            if offset is None:
                return

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def match(field_name: str, value: Any) -> models.FieldCondition:
    return models.FieldCondition(key=field_name, match=models.MatchValue(value=value))


def match_any(field_name: str, values: Sequence[Any]) -> models.FieldCondition:
    return models.FieldCondition(key=field_name, match=models.MatchAny(any=list(values)))


def stored_identity(meta: dict[str, Any]) -> ModelIdentity | None:
    """The model identity a collection's metadata records (None: not created by Rosetta)."""
    return ModelIdentity.from_dict(meta["model"]) if "model" in meta else None


def collection_info(collection: str, points: int, meta: dict[str, Any]) -> CollectionInfo:
    return CollectionInfo(
        collection,
        points,
        stored_identity(meta),
        meta.get("created_at"),
        {k: v for k, v in meta.items() if k not in {"model", "created_at"}},
    )


def check_same_model(collection: str, meta: dict[str, Any], identity: ModelIdentity) -> None:
    """Refuse to add `identity`'s vectors to a collection made by another model (or not by Rosetta)."""
    stored = stored_identity(meta)
    if stored is None:
        raise ModelMismatchError(
            f"collection '{collection}' was not created by Rosetta (no model identity); "
            "use another --collection or --recreate to replace it"
        )
    if not stored.same_vectors_as(identity):
        raise ModelMismatchError(
            f"collection '{collection}' holds vectors of model {stored.describe()}, "
            f"but the current model is {identity.describe()}. Mixing them would make "
            "search meaningless: use the same model, another --collection, or --recreate "
            "to delete and rebuild this collection."
        )


def check_collection_name(name: str) -> str:
    """Collection names become folder names: refuse anything that could leave the store folder."""
    if not isinstance(name, str) or not _COLLECTION_NAME.fullmatch(name):
        raise InvalidCollectionNameError(
            f"invalid collection name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
            "not starting with '.' (e.g. --collection my_docs)"
        )
    return name


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON so a reader sees the old file or the new one, never half of one (temp + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def holder_info() -> dict[str, Any]:
    import sys
    from datetime import UTC, datetime

    return {
        "pid": os.getpid(),
        "command": " ".join(sys.argv)[:300],
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def locked_message(path: Path, holder: Path) -> str:
    who = "another process"
    try:
        h = json.loads(holder.read_text())
        who = f"process {h['pid']} (`{h['command']}`, since {h['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return (
        f"the embedded store at {path} is in use by {who}. The embedded store allows one "
        "process at a time: stop that process (or wait for it to finish), or run a Qdrant server "
        "(see README: docker compose) and set ROSETTA_QDRANT_URL so several processes can share it."
    )
