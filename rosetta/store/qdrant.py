"""`VectorStore` over qdrant-client: a Qdrant server, or qdrant-client's local mode.

Local mode (exact search in Python, the whole collection in memory) is no longer the embedded
default; it stays for reading data folders written by earlier versions (`rosetta store migrate`)
and for side-by-side benchmarks.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import tenacity
from qdrant_client import QdrantClient, models

from rosetta.models import ModelIdentity
from rosetta.store.base import (
    DENSE,
    HOLDER_FILE,
    METADATA_KEY,
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
    StoreLockedError,
    StoreUnavailableError,
    VectorStore,
    collection_info,
    holder_info,
    locked_message,
    next_offset,
    payload_indexes,
    point_vectors,
    stored_identity,
    to_hit,
    vector_selector,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_RETRY_AFTER_S = 60.0  # a server asking for longer is better reported than waited for


def _is_transient(exc: BaseException) -> bool:
    from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    if isinstance(exc, ResourceExhaustedResponse):  # HTTP 429 with a Retry-After header
        return True
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code in {429, 500, 502, 503, 504}
    if isinstance(exc, ResponseHandlingException):
        return True
    try:
        import grpc

        if isinstance(exc, grpc.RpcError):
            return exc.code() in {
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.DEADLINE_EXCEEDED,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
            }
    except ImportError:  # pragma: no cover
        pass
    return False


class QdrantStore(VectorStore):
    """`VectorStore` over qdrant-client: embedded (path) or server (url) — one API for both."""

    def __init__(
        self, client: QdrantClient, kind: str, location: str, retries: int = 4, backoff: float = 0.5
    ) -> None:
        self.client = client
        self.kind = kind
        self.location = location
        self.retries = retries if kind == "server" else 0
        self.backoff = backoff
        self._holder_file: Path | None = None

    # ---- opening -------------------------------------------------------------------------
    @classmethod
    def embedded(cls, path: Path) -> QdrantStore:
        path.mkdir(parents=True, exist_ok=True)
        holder = path / HOLDER_FILE
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                client = QdrantClient(path=str(path))
        except RuntimeError as exc:
            if "already accessed" not in str(exc):
                raise
            raise StoreLockedError(locked_message(path, holder)) from None
        store = cls(client, "embedded", str(path))
        holder.write_text(json.dumps(holder_info()))
        store._holder_file = holder
        return store

    @classmethod
    def server(
        cls,
        url: str,
        api_key: str | None = None,
        prefer_grpc: bool = False,
        timeout: float = 30.0,
        retries: int = 4,
        grpc_port: int = 6334,
    ) -> QdrantStore:
        with warnings.catch_warnings():
            # The client warns on http + api key; a user on a private network chose that.
            warnings.simplefilter("ignore")
            # check_compatibility runs in a thread whose warnings can't be caught; we compare
            # versions ourselves below, once the server has answered.
            client = QdrantClient(
                url=url,
                api_key=api_key,
                prefer_grpc=prefer_grpc,
                grpc_port=grpc_port,
                timeout=max(1, math.ceil(timeout)),
                check_compatibility=False,
            )
        store = cls(client, "server", url, retries=retries)
        store._call(client.get_collections)  # fail early with a clear message
        store._warn_version_drift()
        return store

    def _warn_version_drift(self) -> None:
        from importlib.metadata import version

        with contextlib.suppress(Exception):
            server = self.client.info().version
            client = version("qdrant-client")
            s_major, s_minor = (int(x) for x in server.split(".")[:2])
            c_major, c_minor = (int(x) for x in client.split(".")[:2])
            if s_major != c_major or abs(s_minor - c_minor) > 1:
                log.warning(
                    "Qdrant server %s and qdrant-client %s differ by more than one minor "
                    "version; upgrade one of them",
                    server,
                    client,
                )

    # ---- plumbing ------------------------------------------------------------------------
    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a client call; retry transient server errors; make other failures readable."""
        from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retries + 1),
            retry=tenacity.retry_if_exception(_is_transient),
            wait=self._wait,
            sleep=lambda seconds: time.sleep(seconds),  # looked up per call: tests record it
            before_sleep=lambda state: log.info(
                "qdrant: transient error (%s); retry %d",
                type(state.outcome.exception()).__name__ if state.outcome else "?",
                state.attempt_number,
            ),
            reraise=True,
        )
        try:
            return retrying(fn, *args, **kwargs)
        except Exception as exc:
            if isinstance(exc, ResourceExhaustedResponse) or (
                isinstance(exc, UnexpectedResponse) and exc.status_code == 429
            ):
                raise StoreUnavailableError(
                    f"Qdrant at {self.location} is rate limiting requests (HTTP 429) and still was "
                    f"after {self.retries} retries; try again later, or ask for a higher limit."
                ) from None
            if isinstance(exc, UnexpectedResponse) and exc.status_code in (401, 403):
                raise StoreUnavailableError(
                    f"Qdrant at {self.location} rejected the API key (HTTP {exc.status_code}). "
                    "Set ROSETTA_QDRANT_API_KEY to the server's key."
                ) from None
            if isinstance(exc, UnexpectedResponse) and exc.status_code == 404 and self.kind == "server":
                raise StoreUnavailableError(
                    f"{self.location} answered HTTP 404: is it a Qdrant server? "
                    "Check ROSETTA_QDRANT_URL (e.g. http://localhost:6333)."
                ) from None
            if isinstance(exc, ResponseHandlingException) or _is_transient(exc):
                raise StoreUnavailableError(
                    f"cannot reach Qdrant at {self.location} ({_cause(exc)}). Is the server "
                    "running? Check ROSETTA_QDRANT_URL, or unset it to use the embedded store."
                ) from None
            raise

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Exponential backoff, or what the server asks for (HTTP 429/503 Retry-After), capped."""
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = _retry_after(exc)
        if asked is not None:
            return min(asked, MAX_RETRY_AFTER_S)
        return self.backoff * 2 ** (state.attempt_number - 1)

    def _require(self, collection: str) -> None:
        if not self.exists(collection):
            raise CollectionNotFoundError(
                f"collection '{collection}' does not exist in {self.kind} Qdrant ({self.location}); "
                "index documents first (rosetta index PATH)"
            )

    # ---- collections ---------------------------------------------------------------------
    def collections(self) -> list[str]:
        return sorted(c.name for c in self._call(self.client.get_collections).collections)

    def exists(self, collection: str) -> bool:
        return bool(self._call(self.client.collection_exists, collection))

    def _metadata(self, collection: str) -> dict[str, Any]:
        info = self._call(self.client.get_collection, collection)
        return dict(info.config.metadata or {}).get(METADATA_KEY) or {}

    def identity(self, collection: str) -> ModelIdentity | None:
        self._require(collection)
        return stored_identity(self._metadata(collection))

    def info(self, collection: str) -> CollectionInfo:
        self._require(collection)
        meta = self._metadata(collection)
        return collection_info(collection, self.count(collection), meta)

    def _add_fields(self, collection: str, meta: dict[str, Any], fields: Sequence[str]) -> None:
        self._index_fields(collection, fields)

    def _create(
        self, collection: str, identity: ModelIdentity, options: CollectionOptions, meta: dict[str, Any]
    ) -> None:
        if self.exists(collection):
            self._call(self.client.delete_collection, collection)
        quantization = (
            models.ScalarQuantization(
                scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, always_ram=True)
            )
            if options.scalar_quantization
            else None
        )
        self._call(
            self.client.create_collection,
            collection_name=collection,
            vectors_config={
                DENSE: models.VectorParams(
                    size=identity.dim,
                    distance=models.Distance.COSINE,
                    on_disk=options.on_disk_vectors or None,
                )
            },
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            shard_number=options.shard_number,
            replication_factor=options.replication_factor,
            quantization_config=quantization,
            metadata={METADATA_KEY: meta},
        )
        self._index_fields(collection, options.metadata_fields)

    def _index_fields(self, collection: str, extra: Sequence[str]) -> None:
        if self.kind == "embedded":
            return  # local mode scans everything; payload indexes are a server feature
        for name, kind in payload_indexes(extra):
            self._call(
                self.client.create_payload_index,
                collection,
                field_name=name,
                field_schema=_INDEX_TYPES[kind],
                wait=True,
            )

    def drop(self, collection: str) -> None:
        if self.exists(collection):
            self._call(self.client.delete_collection, collection)

    # ---- points --------------------------------------------------------------------------
    def upsert(self, collection: str, points: Sequence[Point]) -> None:
        if not points:
            return
        structs = [
            models.PointStruct(id=p.id, vector=point_vectors(p, _sparse), payload=p.payload) for p in points
        ]
        self._call(self.client.upsert, collection_name=collection, points=structs, wait=True)

    def delete(self, collection: str, where: Filter) -> None:
        self._call(
            self.client.delete,
            collection_name=collection,
            points_selector=models.FilterSelector(filter=where),
            wait=True,
        )

    def delete_ids(self, collection: str, ids: Sequence[str]) -> None:
        """Delete points by id: no filter scan (local mode scans every point for a filter)."""
        batch: list[models.ExtendedPointId] = list(ids)
        for start in range(0, len(batch), 1024):
            self._call(
                self.client.delete,
                collection_name=collection,
                points_selector=models.PointIdsList(points=batch[start : start + 1024]),
                wait=True,
            )

    def _query(self, collection: str, spec: QuerySpec) -> list[Hit]:
        self._require(collection)
        if spec.sparse is None:
            response = self._call(
                self.client.query_points,
                collection_name=collection,
                query=spec.dense,
                using=DENSE,
                query_filter=spec.where,
                limit=spec.limit,
                offset=spec.offset,
                score_threshold=spec.score_threshold,
                with_payload=True,
                with_vectors=spec.with_vector,
            )
        else:
            response = self._call(
                self.client.query_points,
                collection_name=collection,
                prefetch=[
                    models.Prefetch(
                        query=spec.dense,
                        using=DENSE,
                        filter=spec.where,
                        limit=spec.depth,
                        score_threshold=spec.score_threshold,
                    ),
                    models.Prefetch(
                        query=_sparse(spec.sparse.indices, spec.sparse.values),
                        using=SPARSE,
                        filter=spec.where,
                        limit=spec.depth,
                    ),
                ],
                query=models.FusionQuery(fusion=models.Fusion.RRF),
                limit=spec.limit,
                offset=spec.offset,
                with_payload=True,
                with_vectors=spec.with_vector,
            )
        return [to_hit(p) for p in response.points]

    def recommend(
        self, collection: str, point_id: str, *, where: Filter | None = None, limit: int = 10
    ) -> list[Hit]:
        """Points closest to an existing point's vector (the point itself excluded)."""
        self._require(collection)
        response = self._call(
            self.client.query_points,
            collection_name=collection,
            query=models.RecommendQuery(recommend=models.RecommendInput(positive=[point_id])),
            using=DENSE,
            query_filter=where,
            limit=limit,
            with_payload=True,
        )
        return [to_hit(p) for p in response.points]

    def retrieve(self, collection: str, ids: Sequence[str], with_vectors: bool = False) -> list[Hit]:
        records = self._call(
            self.client.retrieve,
            collection,
            ids=list(ids),
            with_payload=True,
            with_vectors=vector_selector(with_vectors),
        )
        return [to_hit(r) for r in records]

    def _scroll(self, collection: str, spec: ScrollSpec) -> tuple[list[Hit], str | None]:
        self._require(collection)
        records, offset = self._call(
            self.client.scroll,
            collection_name=collection,
            scroll_filter=spec.where,
            limit=spec.limit,
            offset=spec.offset,
            with_payload=spec.with_payload,
            with_vectors=spec.with_vector,
        )
        return [to_hit(r) for r in records], next_offset(offset)

    def count(self, collection: str, where: Filter | None = None) -> int:
        self._require(collection)
        return int(self._call(self.client.count, collection, count_filter=where, exact=True).count)

    def facet(
        self, collection: str, key: str, *, where: Filter | None = None, limit: int = 100
    ) -> dict[str, int]:
        """Value → point count for a payload field (keyword facets; ordered by count)."""
        self._require(collection)
        response = self._call(
            self.client.facet, collection, key=key, facet_filter=where, limit=limit, exact=True
        )
        return {str(h.value): int(h.count) for h in response.hits}

    def optimize(self, collection: str) -> None:
        """Nothing to do: a server optimizes in the background, local mode has no index."""

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self._holder_file is not None:
            with contextlib.suppress(OSError):
                self._holder_file.unlink()
            self._holder_file = None


def _retry_after(exc: BaseException | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), if the error has one."""
    from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
    from qdrant_client.http.exceptions import UnexpectedResponse

    if isinstance(exc, ResourceExhaustedResponse):
        return float(exc.retry_after_s)
    if not isinstance(exc, UnexpectedResponse) or exc.headers is None:
        return None
    value = exc.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def _cause(exc: Exception) -> str:
    """One line about why a call failed (gRPC and HTTP errors carry multi-line bodies)."""
    from qdrant_client.http.exceptions import UnexpectedResponse

    if isinstance(exc, UnexpectedResponse):
        return f"HTTP {exc.status_code} {exc.reason_phrase}"
    details = getattr(exc, "details", None)
    if callable(details):
        with contextlib.suppress(Exception):
            return str(details())
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _sparse(indices: list[int], values: list[float]) -> models.SparseVector:
    return models.SparseVector(indices=indices, values=values)


# The client's type for each kind of payload index.
_INDEX_TYPES: dict[IndexKind, models.PayloadSchemaType | models.KeywordIndexParams] = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "prefix": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, prefix=True),
    "integer": models.PayloadSchemaType.INTEGER,
    "datetime": models.PayloadSchemaType.DATETIME,
}
