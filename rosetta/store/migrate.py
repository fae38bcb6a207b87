"""Copy collections of the previous embedded store (qdrant-client local mode) into the engine.

Points keep their ids, dense and keyword vectors and payloads: nothing is re-encoded. The old
folder is renamed (not deleted) once every collection is copied and counted, so the data dir
opens normally afterwards and the old copy stays until the user removes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from qdrant_client import models

from rosetta.models import ModelIdentity
from rosetta.store import legacy_collections, legacy_path, open_embedded
from rosetta.store.base import DENSE, SPARSE, Point, SparseVector, StoreError
from rosetta.store.edge import EdgeStore
from rosetta.store.qdrant import QdrantStore

# (collection, points copied so far, points in the collection)
MigrateProgress = Callable[[str, int, int], None]
BATCH = 1024


@dataclass
class MigratedCollection:
    name: str
    points: int
    skipped: str | None = None  # why it was not copied


@dataclass
class MigrationReport:
    collections: list[MigratedCollection]
    backup: Path | None  # where the old folder went


def migrate_legacy(
    data_dir: Path, *, progress: MigrateProgress | None = None, keep_old: bool = True
) -> MigrationReport:
    """Copy every local-mode collection of `data_dir` into its embedded store (see module doc)."""
    data_dir = Path(data_dir)
    names = legacy_collections(data_dir)
    if not names:
        raise StoreError(
            f"nothing to migrate: {legacy_path(data_dir)} holds no collections of the previous embedded store"
        )
    old = QdrantStore.embedded(legacy_path(data_dir))
    try:
        new = open_embedded(data_dir, check_legacy=False)
        try:
            results = [_copy(old, new, name, progress) for name in names]
        finally:
            new.close()
    finally:
        old.close()
    # Collections Rosetta did not create (no model identity) cannot be used by it on any
    # backend: they stay in the renamed old folder.
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    backup = data_dir / f"qdrant-local-mode-backup-{stamp}"
    legacy_path(data_dir).rename(backup)
    if not keep_old and all(r.skipped is None for r in results):
        import shutil

        shutil.rmtree(backup, ignore_errors=True)
        return MigrationReport(results, None)
    return MigrationReport(results, backup)


def _copy(
    old: QdrantStore, new: EdgeStore, name: str, progress: MigrateProgress | None
) -> MigratedCollection:
    meta = old._metadata(name)
    if "model" not in meta:
        return MigratedCollection(name, 0, "not created by Rosetta (no model identity)")
    identity = ModelIdentity.from_dict(meta["model"])
    total = old.count(name)
    new.ensure_collection(name, identity, recreate=True)
    # Keep the original creation time: it is the collection's, not the migration's.
    with contextlib.suppress(KeyError):
        created = meta["created_at"]
        new._write_meta(
            name, {**new._read_meta(name), "created_at": created, "migrated_from": "qdrant-client local mode"}
        )
    done = 0
    offset = None
    if progress is not None:
        progress(name, 0, total)
    while True:
        records, offset = old.client.scroll(
            name, limit=BATCH, offset=offset, with_payload=True, with_vectors=True
        )
        points = []
        for r in records:
            vectors = r.vector if isinstance(r.vector, dict) else {DENSE: r.vector}
            # Rosetta's collections hold one dense and one sparse vector per point.
            dense = cast(list[float], vectors[DENSE])
            sparse = cast(models.SparseVector | None, vectors.get(SPARSE))
            points.append(
                Point(
                    str(r.id),
                    dense,
                    dict(r.payload or {}),
                    SparseVector(list(sparse.indices), list(sparse.values)) if sparse is not None else None,
                )
            )
        new.upsert(name, points)
        done += len(points)
        if progress is not None:
            progress(name, done, total)
        if offset is None:
            break
    new.optimize(name)
    copied = new.count(name)
    if copied != total:
        raise StoreError(
            f"migrating collection '{name}': copied {copied} of {total} points; the old "
            f"store is untouched, run the migration again"
        )
    return MigratedCollection(name, copied)


__all__ = ["MigratedCollection", "MigrationReport", "migrate_legacy"]
