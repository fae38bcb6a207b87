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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, Self

import numpy as np
from qdrant_client import models

from rosetta.models import ModelIdentity
from rosetta.schema import DATETIME_FIELDS, INTEGER_FIELDS, KEYWORD_FIELDS, PREFIX_FIELD

DENSE = "dense"
SPARSE = "keywords"
METADATA_KEY = "rosetta"
SCHEMA_VERSION = 1
HOLDER_FILE = "rosetta-holder.json"
# Letters, digits, '_', '-', '.'; not starting with '.' (no hidden folders, no '..').
_COLLECTION_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")

Filter = models.Filter

# What `rosetta.store` offers callers; the rest here is for the backends.
__all__ = [
    "DENSE",
    "HOLDER_FILE",
    "METADATA_KEY",
    "SCHEMA_VERSION",
    "SPARSE",
    "CollectionInfo",
    "CollectionNotFoundError",
    "CollectionOptions",
    "Filter",
    "Hit",
    "InvalidCollectionNameError",
    "MigrationNeededError",
    "ModelMismatchError",
    "Point",
    "SparseVector",
    "StoreCorruptedError",
    "StoreError",
    "StoreLockedError",
    "StoreUnavailableError",
    "VectorStore",
    "check_collection_name",
    "match",
    "match_any",
]


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


@dataclass(frozen=True)
class QuerySpec:
    """One `query` call as the backends receive it: the vector as a list, what to return."""

    dense: list[float]
    where: Filter | None
    limit: int
    offset: int
    score_threshold: float | None
    sparse: SparseVector | None  # None: dense only; else dense + keywords fused by RRF
    with_vector: list[str] | bool

    @property
    def depth(self) -> int:
        """How many candidates each side of a hybrid query fetches before fusion."""
        return max(4 * (self.limit + self.offset), 50)


@dataclass(frozen=True)
class ScrollSpec:
    """One `scroll` call as the backends receive it."""

    where: Filter | None
    limit: int
    offset: str | None
    with_vector: list[str] | bool
    with_payload: bool | list[str]


class VectorStore(Protocol):
    """The store interface. A backend subclasses it and implements the primitives (`_query`,
    `_scroll`, `_metadata`, `_create`, `_add_fields` and the rest); the calls with defaults and
    checks (`ensure_collection`, `query`, `scroll`, `iterate`, `with`) are written once, here."""

    kind: str
    location: str

    def collections(self) -> list[str]: ...
    def exists(self, collection: str) -> bool: ...
    def identity(self, collection: str) -> ModelIdentity | None: ...
    def info(self, collection: str) -> CollectionInfo: ...
    def drop(self, collection: str) -> None: ...
    def upsert(self, collection: str, points: Sequence[Point]) -> None: ...
    def delete(self, collection: str, where: Filter) -> None: ...
    def delete_ids(self, collection: str, ids: Sequence[str]) -> None: ...
    def recommend(
        self, collection: str, point_id: str, *, where: Filter | None = None, limit: int = 10
    ) -> list[Hit]: ...
    def retrieve(self, collection: str, ids: Sequence[str], with_vectors: bool = False) -> list[Hit]: ...
    def count(self, collection: str, where: Filter | None = None) -> int: ...
    def facet(
        self, collection: str, key: str, *, where: Filter | None = None, limit: int = 100
    ) -> dict[str, int]: ...
    def optimize(self, collection: str) -> None: ...
    def close(self) -> None: ...

    def _metadata(self, collection: str) -> dict[str, Any]: ...

    def _create(
        self, collection: str, identity: ModelIdentity, options: CollectionOptions, meta: dict[str, Any]
    ) -> None: ...

    def _add_fields(self, collection: str, meta: dict[str, Any], fields: Sequence[str]) -> None: ...

    def _query(self, collection: str, spec: QuerySpec) -> list[Hit]: ...

    def _scroll(self, collection: str, spec: ScrollSpec) -> tuple[list[Hit], str | None]: ...

    def ensure_collection(
        self,
        collection: str,
        identity: ModelIdentity,
        *,
        recreate: bool = False,
        options: CollectionOptions = CollectionOptions(),
    ) -> None:
        """Create the collection for `identity`'s vectors, or check an existing one matches it."""
        check_collection_name(collection)
        if self.exists(collection) and not recreate:
            meta = self._metadata(collection)
            check_same_model(collection, meta, identity)
            self._add_fields(collection, meta, options.metadata_fields)
            return
        meta = {
            "schema": SCHEMA_VERSION,
            "model": identity.to_dict(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._create(collection, identity, options, meta)

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
    ) -> list[Hit]:
        """Dense search; with `sparse`, dense + keyword results fused by reciprocal rank fusion."""
        spec = QuerySpec(
            dense=np.asarray(vector, dtype=np.float32).tolist(),
            where=where,
            limit=limit,
            offset=offset,
            score_threshold=score_threshold,
            sparse=sparse if sparse is not None and sparse.indices else None,
            with_vector=vector_selector(with_vectors),
        )
        return self._query(collection, spec)

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
        """One page of the points matching `where`, and the offset of the next (None: the last)."""
        spec = ScrollSpec(
            where=where,
            limit=limit,
            offset=offset,
            with_vector=vector_selector(with_vectors),
            with_payload=with_payload if isinstance(with_payload, bool) else list(with_payload),
        )
        return self._scroll(collection, spec)

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


def vector_selector(with_vectors: bool) -> list[str] | bool:
    """Which named vectors a read returns: the dense one, or none."""
    return [DENSE] if with_vectors else False


def point_vectors(point: Point, sparse_type: Callable[[list[int], list[float]], Any]) -> dict[str, Any]:
    """A point's named vectors for an upsert; the backend's own sparse-vector type builds the sparse one."""
    vectors: dict[str, Any] = {DENSE: np.asarray(point.vector, dtype=np.float32).tolist()}
    if point.sparse is not None and point.sparse.indices:
        vectors[SPARSE] = sparse_type(list(point.sparse.indices), list(point.sparse.values))
    return vectors


# The payload indexes of a collection, by kind; each backend maps the kinds to its own types.
IndexKind = Literal["keyword", "prefix", "integer", "datetime"]


def payload_indexes(extra: Sequence[str], *, base: bool = True) -> list[tuple[str, IndexKind]]:
    """(field, kind) for every payload index: the schema's (`base`) and the metadata `extra` fields."""
    specs: list[tuple[str, IndexKind]] = []
    if base:
        specs += [(f, "prefix" if f == PREFIX_FIELD else "keyword") for f in KEYWORD_FIELDS]
        specs += [(f, "datetime") for f in DATETIME_FIELDS]
        specs += [(f, "integer") for f in INTEGER_FIELDS]
    specs += [(f, "keyword") for f in extra if f not in KEYWORD_FIELDS]
    return specs


def to_hit(p: Any) -> Hit:
    """A search result or record of either client (qdrant-client or the engine) as a `Hit`."""
    vector = None
    v = getattr(p, "vector", None)
    if v:
        v = v.get(DENSE) if isinstance(v, dict) else v
        vector = [float(x) for x in v] if v is not None else None
    return Hit(
        id=str(p.id),
        score=float(getattr(p, "score", 0.0) or 0.0),
        payload=dict(p.payload or {}),
        vector=vector,
    )


def next_offset(offset: Any) -> str | None:
    return str(offset) if offset is not None else None


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
