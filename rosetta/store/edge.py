"""The embedded store: Qdrant's own engine in-process (qdrant-edge), one shard per collection.

Layout of the store folder (`DATA_DIR/edge`)::

    .lock                   flock'ed by the one process that has the store open
    rosetta-holder.json     who that is (pid, command, since), for the "in use" message
    <collection>/shard/     the engine's files (segments, WAL)
    <collection>/collection.json   model identity and options; the engine has no collection
                                   metadata. Written atomically, and last when creating: a
                                   collection exists once this file does.

qdrant-edge's types stay inside this module; callers use the `VectorStore` interface and
qdrant-client's filter model, translated here.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import qdrant_edge as qe
from qdrant_client import models

from rosetta.models import ModelIdentity
from rosetta.store.base import (
    DENSE,
    HOLDER_FILE,
    SPARSE,
    CollectionInfo,
    CollectionNotFoundError,
    CollectionOptions,
    Filter,
    Hit,
    IndexKind,
    Point,
    QuerySpec,
    ScrollSpec,
    StoreCorruptedError,
    StoreError,
    StoreLockedError,
    VectorStore,
    check_collection_name,
    collection_info,
    holder_info,
    locked_message,
    next_offset,
    payload_indexes,
    point_vectors,
    stored_identity,
    to_hit,
    vector_selector,
    write_json_atomic,
)

T = TypeVar("T")

META_FILE = "collection.json"
SHARD_DIR = "shard"
LOCK_FILE = ".lock"
BACKEND = "qdrant-edge"
# Payload and sparse indexes memory-mapped, read on demand (the OS page cache keeps the hot parts),
# instead of loaded into RAM when the shard opens. Measured at 100k points: open 0.66-1.0 s →
# 0.19-0.27 s, filtered search p50 unchanged (lang 1.33 → 1.32 ms, source prefix 5.0 → 2.3 ms).
INDEX_MEMORY = qe.Memory.Cold
# HNSW parameters chosen by bench/query.py (recall@10 against exact search, latency).
HNSW_M = 16  # Qdrant's default; not swept (each build of 1M points takes ~1 h on one core)
HNSW_EF_CONSTRUCT = 100
# Search beam width, by measurement (bench/results/query*.json, unfiltered recall@10 / p50): at 300k
# ef 128 → 0.974 / 1.7 ms, 256 → 0.996 / 3.0 ms; at 1M 128 → 0.93 / 2.1 ms, 256 → 0.972 / 4.3 ms.
HNSW_EF = 256
# Below this many KB of vectors in a segment the engine scans instead of walking the graph.
FULL_SCAN_KB = 10_000
RRF_K = 2  # Qdrant server's default, so hybrid ranks match across backends
QUANT_OVERSAMPLING = 2.0


# The engine's type for each kind of payload index.
_INDEX_TYPES: dict[IndexKind, Any] = {
    "keyword": qe.KeywordIndexParams(memory=INDEX_MEMORY),
    "prefix": qe.KeywordIndexParams(prefix=True, memory=INDEX_MEMORY),
    "integer": qe.IntegerIndexParams(lookup=True, range=True, memory=INDEX_MEMORY),
    "datetime": qe.DatetimeIndexParams(memory=INDEX_MEMORY),
}


class EdgeStore(VectorStore):
    """`VectorStore` on qdrant-edge shards in one folder, opened by one process at a time."""

    kind = "edge"

    def __init__(self, root: Path, lock_fd: int) -> None:
        self.root = root
        self.location = str(root)
        self._lock_fd: int | None = lock_fd
        self._shards: dict[str, qe.EdgeShard] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self.hnsw_ef = HNSW_EF  # search-time beam width; benchmarks sweep it

    # ---- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, root: Path) -> EdgeStore:
        """Take the store folder for this process (StoreLockedError names the holder)."""
        # Absolute: the engine opens files by the path it was given for as long as the store is
        # open, and a process may change directory meanwhile (`rosetta demo` does).
        root = Path(root).absolute()
        try:
            root.mkdir(parents=True, exist_ok=True)
            fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(_os_message(root, exc)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StoreLockedError(locked_message(root, root / HOLDER_FILE)) from None
        try:
            write_json_atomic(root / HOLDER_FILE, holder_info())
        except OSError as exc:
            os.close(fd)
            raise StoreError(_os_message(root, exc)) from None
        return cls(root, fd)

    # ---- plumbing ------------------------------------------------------------------------
    def _dir(self, collection: str) -> Path:
        return self.root / check_collection_name(collection)

    def _call(self, collection: str, fn: Callable[..., T], *args: Any) -> T:
        """Run an engine call; turn its failures into one-line messages naming the folder."""
        try:
            return fn(*args)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # pyo3 panics derive from BaseException
            raise StoreError(_engine_message(self._dir(collection), exc)) from exc

    def _require(self, collection: str) -> None:
        if not self.exists(collection):
            raise CollectionNotFoundError(
                f"collection '{collection}' does not exist in the embedded store ({self.location}); "
                "index documents first (rosetta index PATH)"
            )

    def _shard(self, collection: str) -> qe.EdgeShard:
        shard = self._shards.get(collection)
        if shard is not None:
            return shard
        self._read_meta(collection)  # raises for a missing or unreadable collection.json
        path = self._dir(collection) / SHARD_DIR
        try:
            shard = qe.EdgeShard.load(str(path))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            raise StoreCorruptedError(
                f"collection '{collection}' cannot be opened: its files in {path} are missing or damaged "
                f"({_first_line(exc)}). Delete the folder {path.parent} and index again "
                f"(rosetta index PATH --collection {collection}), or restore it from a backup."
            ) from exc
        self._shards[collection] = shard
        return shard

    def _read_meta(self, collection: str) -> dict[str, Any]:
        cached = self._meta.get(collection)
        if cached is not None:
            return cached
        path = self._dir(collection) / META_FILE
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
        except FileNotFoundError:
            raise CollectionNotFoundError(
                f"collection '{collection}' does not exist in the embedded store ({self.location}); "
                "index documents first (rosetta index PATH)"
            ) from None
        except (OSError, ValueError) as exc:
            raise StoreCorruptedError(
                f"collection '{collection}': {path} is unreadable ({_first_line(exc)}). Delete the folder "
                f"{path.parent} and index again (rosetta index PATH --collection {collection})."
            ) from None
        self._meta[collection] = meta
        return meta

    # ---- collections ---------------------------------------------------------------------
    def collections(self) -> list[str]:
        return sorted(
            p.parent.name for p in self.root.glob(f"*/{META_FILE}") if not p.parent.name.startswith(".")
        )

    def exists(self, collection: str) -> bool:
        return (self._dir(collection) / META_FILE).is_file()

    def identity(self, collection: str) -> ModelIdentity | None:
        return stored_identity(self._read_meta(collection))

    def info(self, collection: str) -> CollectionInfo:
        meta = self._read_meta(collection)
        return collection_info(collection, self.count(collection), meta)

    def _metadata(self, collection: str) -> dict[str, Any]:
        return self._read_meta(collection)

    def _add_fields(self, collection: str, meta: dict[str, Any], fields: Sequence[str]) -> None:
        new_fields = [f for f in fields if f not in meta.get("metadata_fields", [])]
        if new_fields:
            self._index_fields(collection, payload_indexes(new_fields, base=False))
            meta = {**meta, "metadata_fields": [*meta.get("metadata_fields", []), *new_fields]}
            self._write_meta(collection, meta)

    def _create(
        self, collection: str, identity: ModelIdentity, options: CollectionOptions, meta: dict[str, Any]
    ) -> None:
        self.drop(collection)
        folder = self._dir(collection)
        if folder.exists():  # an interrupted create left a folder without collection.json
            self._remove_folder(folder)
        try:
            shard = qe.EdgeShard.create(str(folder / SHARD_DIR), _edge_config(identity.dim, options))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            raise StoreError(_engine_message(folder, exc)) from exc
        self._shards[collection] = shard
        self._index_fields(collection, payload_indexes(options.metadata_fields))
        self._write_meta(
            collection,
            {
                **meta,
                "backend": BACKEND,
                "scalar_quantization": options.scalar_quantization,
                "on_disk_vectors": options.on_disk_vectors,
                "metadata_fields": list(options.metadata_fields),
            },
        )

    def _write_meta(self, collection: str, meta: dict[str, Any]) -> None:
        try:
            write_json_atomic(self._dir(collection) / META_FILE, meta)
        except OSError as exc:
            raise StoreError(_os_message(self._dir(collection), exc)) from None
        self._meta[collection] = meta

    def _index_fields(self, collection: str, indexes: list[tuple[str, IndexKind]]) -> None:
        shard = self._shard_unchecked(collection)
        for name, kind in indexes:
            operation = qe.UpdateOperation.create_field_index(name, _INDEX_TYPES[kind])
            self._call(collection, shard.update, operation)

    def _shard_unchecked(self, collection: str) -> qe.EdgeShard:
        # During creation collection.json is written last, so `_shard` would not find it yet.
        return self._shards.get(collection) or self._shard(collection)

    def drop(self, collection: str) -> None:
        folder = self._dir(collection)
        shard = self._shards.pop(collection, None)
        self._meta.pop(collection, None)
        if shard is not None:
            with contextlib.suppress(Exception):
                shard.close()
        if folder.exists():
            self._remove_folder(folder)

    def _remove_folder(self, folder: Path) -> None:
        # Rename first: a crash half-way through deleting never leaves a half collection behind.
        trash = self.root / f".trash-{folder.name}-{uuid.uuid4().hex[:8]}"
        try:
            folder.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)
        except OSError as exc:
            raise StoreError(_os_message(folder, exc)) from None

    # ---- points --------------------------------------------------------------------------
    def upsert(self, collection: str, points: Sequence[Point]) -> None:
        if not points:
            return
        shard = self._shard(collection)
        edge_points = [qe.Point(p.id, point_vectors(p, qe.SparseVector), p.payload) for p in points]
        self._call(collection, shard.update, qe.UpdateOperation.upsert_points(edge_points))

    def delete(self, collection: str, where: Filter) -> None:
        shard = self._shard(collection)
        operation = qe.UpdateOperation.delete_points_by_filter(_filter(where))
        self._call(collection, shard.update, operation)

    def delete_ids(self, collection: str, ids: Sequence[str]) -> None:
        shard = self._shard(collection)
        batch: list[int | uuid.UUID | str] = list(ids)
        for start in range(0, len(batch), 4096):
            self._call(
                collection, shard.update, qe.UpdateOperation.delete_points(batch[start : start + 4096])
            )

    def optimize(self, collection: str) -> None:
        """Merge segments and build the HNSW graph (blocking), then flush to disk.

        Called when an index run or an upload finishes, so no run leaves an unindexed segment
        (which every later search would scan in full).
        """
        shard = self._shard(collection)
        self._call(collection, shard.optimize)
        self._call(collection, shard.flush)

    # ---- reading -------------------------------------------------------------------------
    def _params(self, collection: str) -> qe.SearchParams:
        quantized = bool(self._read_meta(collection).get("scalar_quantization"))
        return qe.SearchParams(
            hnsw_ef=self.hnsw_ef,
            quantization=qe.QuantizationSearchParams(rescore=True, oversampling=QUANT_OVERSAMPLING)
            if quantized
            else None,
        )

    def _query(self, collection: str, spec: QuerySpec) -> list[Hit]:
        shard = self._shard(collection)
        flt = to_edge_filter(spec.where)
        params = self._params(collection)
        dense = qe.Query.Nearest(spec.dense, using=DENSE)
        if spec.sparse is None:
            request = qe.QueryRequest(
                limit=spec.limit,
                offset=spec.offset,
                query=dense,
                filter=flt,
                score_threshold=spec.score_threshold,
                params=params,
                with_payload=True,
                with_vector=spec.with_vector,
            )
        else:
            keywords = qe.SparseVector(list(spec.sparse.indices), list(spec.sparse.values))
            request = qe.QueryRequest(
                # The stubs do not list Fusion.Rrf among the query types; the engine accepts it.
                limit=spec.limit,
                offset=spec.offset,
                query=qe.Fusion.Rrf(k=RRF_K),  # type: ignore[arg-type]
                prefetches=[
                    qe.Prefetch(
                        limit=spec.depth,
                        query=dense,
                        filter=flt,
                        params=params,
                        score_threshold=spec.score_threshold,
                    ),
                    qe.Prefetch(limit=spec.depth, filter=flt, query=qe.Query.Nearest(keywords, using=SPARSE)),
                ],
                with_payload=True,
                with_vector=spec.with_vector,
            )
        return [to_hit(p) for p in self._call(collection, shard.query, request)]

    def recommend(
        self, collection: str, point_id: str, *, where: Filter | None = None, limit: int = 10
    ) -> list[Hit]:
        """Points closest to an existing point's vector (the point itself excluded)."""
        origin = self.retrieve(collection, [point_id], with_vectors=True)
        if not origin or origin[0].vector is None:
            return []
        not_self = models.Filter(must_not=[models.HasIdCondition(has_id=[point_id])])
        combined = models.Filter(must=[where, not_self]) if where is not None else not_self
        return self.query(collection, origin[0].vector, where=combined, limit=limit)

    def retrieve(self, collection: str, ids: Sequence[str], with_vectors: bool = False) -> list[Hit]:
        shard = self._shard(collection)
        records = self._call(collection, shard.retrieve, list(ids), True, vector_selector(with_vectors))
        return [to_hit(r) for r in records]

    def _scroll(self, collection: str, spec: ScrollSpec) -> tuple[list[Hit], str | None]:
        shard = self._shard(collection)
        request = qe.ScrollRequest(
            offset=spec.offset,
            limit=spec.limit,
            filter=to_edge_filter(spec.where),
            with_payload=spec.with_payload,
            with_vector=spec.with_vector,
        )
        records, offset = self._call(collection, shard.scroll, request)
        return [to_hit(r) for r in records], next_offset(offset)

    def count(self, collection: str, where: Filter | None = None) -> int:
        shard = self._shard(collection)
        # Without a filter the engine's estimate is the segments' live point counts (exact) and
        # costs nothing, where an exact count walks every point (milliseconds per search at 100k+).
        request = qe.CountRequest(exact=where is not None, filter=to_edge_filter(where))
        return int(self._call(collection, shard.count, request))

    def facet(
        self, collection: str, key: str, *, where: Filter | None = None, limit: int = 100
    ) -> dict[str, int]:
        """Value → point count for a payload field (ordered by count)."""
        shard = self._shard(collection)
        if key in self._indexed_fields(collection):
            response = self._call(
                collection,
                shard.facet,
                qe.FacetRequest(key, limit=limit, exact=True, filter=to_edge_filter(where)),
            )
            return {str(h.value): int(h.count) for h in response.hits}
        # The engine facets indexed fields only; count the others from the payloads.
        counts: Counter[str] = Counter()
        for hit in self.iterate(collection, where=where, batch=2048, with_payload=[key]):
            value = hit.payload.get(key)
            for v in value if isinstance(value, list) else [value]:
                if v is not None:
                    counts[str(v)] += 1
        return dict(counts.most_common(limit))

    def _indexed_fields(self, collection: str) -> set[str]:
        shard = self._shard(collection)
        return set(self._call(collection, shard.info).payload_schema)

    def points_indexed(self, collection: str) -> tuple[int, int, int]:
        """(points, vectors in the HNSW graph, segments): what `optimize` changes."""
        info = self._call(collection, self._shard(collection).info)
        return int(info.points_count), int(info.indexed_vectors_count), int(info.segments_count)

    def close(self) -> None:
        for name, shard in list(self._shards.items()):
            with contextlib.suppress(BaseException):
                shard.flush()
            with contextlib.suppress(BaseException):
                shard.close()
            self._shards.pop(name, None)
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                (self.root / HOLDER_FILE).unlink()
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def __del__(self) -> None:  # a forgotten store must not keep the folder locked
        # Not contextlib.suppress: at interpreter exit module globals may already be gone.
        try:
            self.close()
        except Exception:
            return


def _edge_config(dim: int, options: CollectionOptions) -> qe.EdgeConfig:
    quantization = (
        qe.ScalarQuantizationConfig(qe.ScalarType.Int8, quantile=0.99, always_ram=True)
        if options.scalar_quantization
        else None
    )
    return qe.EdgeConfig(
        vectors={
            DENSE: qe.EdgeVectorParams(
                size=dim,
                distance=qe.Distance.Cosine,
                memory=qe.Memory.Cold if options.on_disk_vectors else None,
                quantization_config=quantization,
            )
        },
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf, memory=INDEX_MEMORY)},
        hnsw_config=qe.HnswIndexConfig(
            m=HNSW_M, ef_construct=HNSW_EF_CONSTRUCT, full_scan_threshold=FULL_SCAN_KB
        ),
    )


# ---- qdrant-client filter model → engine filter -------------------------------------------------
def to_edge_filter(where: Filter | None) -> qe.Filter | None:
    if where is None:
        return None
    return _filter(where)


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _filter(f: models.Filter) -> qe.Filter:
    min_should = None
    if f.min_should is not None:
        min_should = qe.MinShould([_condition(c) for c in f.min_should.conditions], f.min_should.min_count)
    return qe.Filter(
        must=[_condition(c) for c in _listify(f.must)] or None,
        should=[_condition(c) for c in _listify(f.should)] or None,
        must_not=[_condition(c) for c in _listify(f.must_not)] or None,
        min_should=min_should,
    )


def _condition(c: Any) -> Any:
    if isinstance(c, models.Filter):
        return _filter(c)
    if isinstance(c, models.FieldCondition):
        return _field_condition(c)
    if isinstance(c, models.HasIdCondition):
        return qe.HasIdCondition(set(c.has_id))
    if isinstance(c, models.IsEmptyCondition):
        return qe.IsEmptyCondition(c.is_empty.key)
    if isinstance(c, models.IsNullCondition):
        return qe.IsNullCondition(c.is_null.key)
    if isinstance(c, models.HasVectorCondition):
        return qe.HasVectorCondition(c.has_vector)
    if isinstance(c, models.NestedCondition):
        return qe.NestedCondition(c.nested.key, _filter(c.nested.filter))
    raise TypeError(f"filter condition {type(c).__name__} is not supported by the embedded store")


def _field_condition(c: models.FieldCondition) -> qe.FieldCondition:
    kwargs: dict[str, Any] = {}
    m = c.match
    if m is not None:
        if isinstance(m, models.MatchValue):
            kwargs["match"] = qe.MatchValue(m.value)
        elif isinstance(m, models.MatchAny):
            kwargs["match"] = qe.MatchAny(m.any[:])
        elif isinstance(m, models.MatchExcept):
            kwargs["match"] = qe.MatchExcept(m.except_[:])
        elif isinstance(m, models.MatchPrefix):
            kwargs["match"] = qe.MatchPrefix(m.prefix)
        elif isinstance(m, models.MatchText):
            kwargs["match"] = qe.MatchText(m.text)
        elif isinstance(m, models.MatchTextAny):
            kwargs["match"] = qe.MatchTextAny(m.text_any)
        elif isinstance(m, models.MatchPhrase):
            kwargs["match"] = qe.MatchPhrase(m.phrase)
        else:
            raise TypeError(f"match {type(m).__name__} is not supported by the embedded store")
    r = c.range
    if isinstance(r, models.DatetimeRange):
        kwargs["range"] = qe.RangeDateTime(gte=_iso(r.gte), gt=_iso(r.gt), lte=_iso(r.lte), lt=_iso(r.lt))
    elif isinstance(r, models.Range):
        kwargs["range"] = qe.RangeFloat(gte=r.gte, gt=r.gt, lte=r.lte, lt=r.lt)
    if c.values_count is not None:
        v = c.values_count
        kwargs["values_count"] = qe.ValuesCount(lt=v.lt, gt=v.gt, gte=v.gte, lte=v.lte)
    if c.is_empty is not None:
        kwargs["is_empty"] = c.is_empty
    if c.is_null is not None:
        kwargs["is_null"] = c.is_null
    if c.geo_bounding_box is not None or c.geo_radius is not None or c.geo_polygon is not None:
        raise TypeError("geo filters are not supported by the embedded store")
    return qe.FieldCondition(c.key, **kwargs)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        # Qdrant reads naive datetimes as UTC; say so explicitly.
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return str(value)


# ---- messages ---------------------------------------------------------------------------------
def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    for prefix in ("Service runtime error: ", "IO Error: "):  # the engine's wrappers say nothing
        while text.startswith(prefix):
            text = text[len(prefix) :]
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _is_disk_full(exc: BaseException) -> bool:
    text = str(exc).lower()
    return (
        (isinstance(exc, OSError) and exc.errno == errno.ENOSPC)
        or "no space left" in text
        or "disk full" in text
        or "storage full" in text
    )


def _engine_message(folder: Path, exc: BaseException) -> str:
    if _is_disk_full(exc):
        return (
            f"the disk holding {folder} is full. Free some space and run the same command again "
            "(an interrupted index run resumes without duplicates)."
        )
    if isinstance(exc, PermissionError) or "permission denied" in str(exc).lower():
        return (
            f"cannot write to {folder} (permission denied): make it writable, or set "
            "ROSETTA_DATA_DIR to a folder you can write to."
        )
    return f"the embedded store failed on {folder}: {_first_line(exc)}"


def _os_message(folder: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return _engine_message(folder, exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"cannot write to {folder} ({os.strerror(exc.errno)}): make it writable, or set "
            "ROSETTA_DATA_DIR to a folder you can write to."
        )
    return f"cannot use the store folder {folder}: {exc.strerror or exc}"
