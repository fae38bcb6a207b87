"""The vector store: one narrow interface (`VectorStore`) and its backends.

- `EdgeStore` (`rosetta.store.edge`): Qdrant's own engine in-process (qdrant-edge) — the
  embedded default, in `DATA_DIR/edge`.
- `QdrantStore` (`rosetta.store.qdrant`): a Qdrant server (`ROSETTA_QDRANT_URL`), or
  qdrant-client's local mode, kept to read data folders of earlier versions (`rosetta store
  migrate`) and for side-by-side benchmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rosetta.store import base
from rosetta.store.base import *  # noqa: F403  the interface, its dataclasses and errors (base.__all__)
from rosetta.store.base import CollectionOptions, MigrationNeededError, VectorStore
from rosetta.store.edge import EdgeStore
from rosetta.store.qdrant import QdrantStore


def edge_path(data_dir: Path) -> Path:
    return Path(data_dir) / "edge"


def legacy_path(data_dir: Path) -> Path:
    """Where earlier versions kept the embedded store (qdrant-client local mode)."""
    return Path(data_dir) / "qdrant"


def legacy_collections(data_dir: Path) -> list[str]:
    """Collections of a local-mode store in this data folder not yet migrated (none: [])."""
    import json

    meta = legacy_path(data_dir) / "meta.json"
    try:
        names = sorted(json.loads(meta.read_text(encoding="utf-8")).get("collections", {}))
    except (OSError, ValueError, AttributeError):
        return []
    return names


def migrate_command_hint(data_dir: Path) -> str:
    prefix = "" if Path(data_dir) == Path(".rosetta") else f"ROSETTA_DATA_DIR={data_dir} "
    return f"{prefix}rosetta store migrate"


def open_embedded(data_dir: Path, *, check_legacy: bool = True) -> EdgeStore:
    """The embedded store of a data folder; refuses (with the command to run) an unmigrated one."""
    if check_legacy:
        old = legacy_collections(data_dir)
        if old:
            raise MigrationNeededError(
                f"{legacy_path(data_dir)} holds collections of the previous embedded store "
                f"({', '.join(old)}); copy them to the new engine (no re-encoding) with: "
                f"{migrate_command_hint(data_dir)}"
            )
    return EdgeStore.open(edge_path(data_dir))


def open_store(settings: Any) -> VectorStore:
    """Open the store the settings describe (server if QDRANT_URL is set, else embedded)."""
    if settings.qdrant_url:
        return QdrantStore.server(
            settings.qdrant_url,
            settings.qdrant_api_key,
            prefer_grpc=settings.qdrant_prefer_grpc,
            timeout=settings.qdrant_timeout,
            grpc_port=settings.qdrant_grpc_port,
        )
    return open_embedded(Path(settings.data_dir))


def collection_options(settings: Any, metadata_fields: Sequence[str] = ()) -> CollectionOptions:
    return CollectionOptions(
        shard_number=settings.shard_number,
        replication_factor=settings.replication_factor,
        on_disk_vectors=settings.on_disk_vectors,
        scalar_quantization=settings.scalar_quantization,
        metadata_fields=tuple(metadata_fields),
    )


__all__ = [
    *base.__all__,
    "EdgeStore",
    "QdrantStore",
    "collection_options",
    "edge_path",
    "legacy_collections",
    "legacy_path",
    "migrate_command_hint",
    "open_embedded",
    "open_store",
]
