"""The embedded engine's own concerns: files beside the shard, one process at a time, damaged
or unwritable folders, and migrating a data folder written by qdrant-client's local mode."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient, models
from typer.testing import CliRunner

from rosetta.models import ModelIdentity
from rosetta.store import (
    MigrationNeededError,
    Point,
    QdrantStore,
    SparseVector,
    StoreCorruptedError,
    StoreError,
    StoreLockedError,
    edge_path,
    legacy_path,
    open_embedded,
)

IDENTITY = ModelIdentity("unit-model", "folder", "a" * 64, 8)


def points(n: int, seed: int = 0) -> list[Point]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        v = rng.normal(size=8).astype(np.float32)
        out.append(
            Point(
                str(uuid.UUID(int=i + 1)),
                v / np.linalg.norm(v),
                {"doc_id": f"d{i}", "lang": ["en", "de"][i % 2], "chunk_index": 0, "text": f"t{i}"},
                SparseVector([i, 1000 + i], [1.0, 0.5]),
            )
        )
    return out


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A data dir whose embedded store holds collection 'docs' (20 points), closed again."""
    with open_embedded(tmp_path) as store:
        store.ensure_collection("docs", IDENTITY)
        store.upsert("docs", points(20))
        store.optimize("docs")
    return tmp_path


def test_identity_lives_beside_the_shard_and_survives_reopening(built: Path) -> None:
    folder = edge_path(built) / "docs"
    meta = json.loads((folder / "collection.json").read_text())
    assert meta["model"]["name"] == "unit-model" and meta["backend"] == "qdrant-edge"
    assert (folder / "shard").is_dir()
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # temp + rename left nothing
    with open_embedded(built) as store:
        assert store.collections() == ["docs"] and store.identity("docs") == IDENTITY
        assert store.count("docs") == 20
        store.drop("docs")
        assert store.collections() == [] and not folder.exists()


def test_a_second_opener_is_told_who_holds_the_store(tmp_path: Path) -> None:
    with open_embedded(tmp_path), pytest.raises(StoreLockedError) as info:
        open_embedded(tmp_path)
    message = str(info.value)
    assert f"process {os.getpid()}" in message and "ROSETTA_QDRANT_URL" in message and "\n" not in message
    open_embedded(tmp_path).close()  # released on close


def _garble_segment_json(shard: Path) -> None:
    for f in shard.glob("segments/*/segment.json"):
        f.write_text("{not json")


def _truncate_segment_files(shard: Path) -> None:
    for f in shard.glob("segments/**/*"):
        if f.is_file():
            with f.open("r+b") as fh:
                fh.truncate(3)


def _garble_wal(shard: Path) -> None:
    for f in (shard / "wal").iterdir():
        with f.open("r+b") as fh:
            fh.write(os.urandom(4096))


def _garble_engine_config(shard: Path) -> None:
    (shard / "edge_config.json").write_text("xx")


def _garble_collection_json(shard: Path) -> None:
    (shard.parent / "collection.json").write_text('{"model": ')


@pytest.mark.parametrize(
    "damage",
    [
        _garble_segment_json,
        _truncate_segment_files,
        _garble_wal,
        _garble_engine_config,
        _garble_collection_json,
    ],
)
def test_damaged_files_give_a_one_line_message(built: Path, damage) -> None:
    damage(edge_path(built) / "docs" / "shard")
    with open_embedded(built) as store, pytest.raises(StoreCorruptedError) as info:
        store.count("docs")
    message = str(info.value)
    assert str(edge_path(built) / "docs") in message and "index again" in message
    assert "\n" not in message


def test_damaged_store_on_the_cli_is_one_line_without_traceback(built: Path, monkeypatch) -> None:
    from rosetta.cli import app

    _truncate_segment_files(edge_path(built) / "docs" / "shard")
    monkeypatch.setenv("ROSETTA_DATA_DIR", str(built))
    monkeypatch.delenv("ROSETTA_QDRANT_URL", raising=False)
    result = CliRunner().invoke(app, ["stats", "--collection", "docs"])
    assert result.exit_code == 2
    assert "damaged" in result.stderr and "Traceback" not in result.output + result.stderr
    assert result.stderr.startswith("error: collection 'docs' cannot be opened")


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """Make a folder unwritable for real: chmod, or the immutable flag where we run as root."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode:
            pytest.skip("running as root without chattr: cannot make a folder unwritable")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(0o700)


def test_unwritable_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with unwritable(data), pytest.raises(StoreError) as info:
        open_embedded(data)
    assert "cannot write to" in str(info.value) and "ROSETTA_DATA_DIR" in str(info.value)


def test_data_folder_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    with pytest.raises(StoreError, match="cannot use the store folder"):
        open_embedded(tmp_path / "data")


def test_disk_full_is_one_line(built: Path) -> None:
    """A fake: a full disk cannot be made here, so the shard's update raises what the engine
    raises on ENOSPC (its io::Error text), and we check the message the user gets."""

    class FullDisk:
        def __init__(self, shard) -> None:
            self.shard = shard

        def update(self, operation) -> None:
            raise Exception("Service runtime error: No space left on device (os error 28)")

        def __getattr__(self, name):
            return getattr(self.shard, name)

    with open_embedded(built) as store:
        store.count("docs")
        store._shards["docs"] = FullDisk(store._shards["docs"])
        with pytest.raises(StoreError, match="is full") as info:
            store.upsert("docs", points(2, seed=5))
        store._shards["docs"] = store._shards["docs"].shard
    assert "run the same command again" in str(info.value)


# ---- migration from qdrant-client local mode ----------------------------------------------------
def _legacy_store(data: Path) -> list[Point]:
    """A real local-mode store as earlier versions wrote it: a Rosetta collection and a foreign one."""
    pts = points(300, seed=2)
    old = QdrantStore.embedded(legacy_path(data))
    old.ensure_collection("docs", IDENTITY)
    old.upsert("docs", pts)
    old.client.create_collection(
        "foreign", vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT)
    )
    old.close()
    return pts


def test_migrating_a_local_mode_data_dir(tmp_path: Path, monkeypatch) -> None:
    from rosetta.cli import app

    pts = _legacy_store(tmp_path)
    with pytest.raises(MigrationNeededError) as info:
        open_embedded(tmp_path)
    assert f"ROSETTA_DATA_DIR={tmp_path} rosetta store migrate" in str(info.value)
    assert "docs" in str(info.value) and "\n" not in str(info.value)

    monkeypatch.setenv("ROSETTA_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ROSETTA_QDRANT_URL", raising=False)
    result = CliRunner().invoke(app, ["store", "migrate"])
    assert result.exit_code == 0, result.output
    assert "copied docs: 300 points" in result.stdout and "not copied foreign" in result.stdout
    assert not legacy_path(tmp_path).exists()
    backups = list(tmp_path.glob("qdrant-local-mode-backup-*"))
    assert len(backups) == 1 and (backups[0] / "collection" / "foreign").is_dir()

    with open_embedded(tmp_path) as store:
        assert store.collections() == ["docs"] and store.identity("docs") == IDENTITY
        assert store.count("docs") == 300
        got = {h.id: h for h in store.iterate("docs", with_vectors=True)}
        for p in pts[::37]:
            assert got[p.id].payload == p.payload
            assert np.allclose(got[p.id].vector, p.vector, atol=1e-6)
        # Keyword vectors came along: a term only point 17 has finds it first in a hybrid query.
        hybrid = store.query("docs", pts[200].vector, sparse=SparseVector([1017], [1.0]), limit=2)
        assert pts[17].id in {h.id for h in hybrid}
    # The old folder is gone, so nothing asks for a migration any more.
    assert CliRunner().invoke(app, ["store", "migrate"]).exit_code == 2


def test_local_mode_meta_without_collections_needs_no_migration(tmp_path: Path) -> None:
    QdrantClient(path=str(legacy_path(tmp_path))).close()
    open_embedded(tmp_path).close()


# ---- taking turns: the UI's store handle ------------------------------------------------------
def test_idle_release_lets_another_process_take_turns(built: Path, models_dir: Path) -> None:
    import time

    from rosetta.store.shared import IdleReleasingStore
    from tests.indexer.test_processes import env_for, rosetta

    ui = IdleReleasingStore(
        lambda: open_embedded(built), kind="edge", location=str(edge_path(built)), idle_s=0.3
    )
    try:
        assert ui.count("docs") == 20 and ui.is_open
        with pytest.raises(StoreLockedError):  # in use right now: a CLI run is refused, with a name
            open_embedded(built)
        deadline = time.monotonic() + 10
        while ui.is_open and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not ui.is_open  # released after 0.3 s without calls
        # A real CLI process gets the store while the UI is idle…
        cli = subprocess.run(
            rosetta("stats", "--collection", "docs", "--json"),
            env=env_for(built, models_dir),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["points"] == 20
        # …and while another process holds it, the UI is told who.
        with open_embedded(built), pytest.raises(StoreLockedError, match=f"process {os.getpid()}"):
            ui.count("docs")
        assert ui.count("docs") == 20  # and takes it again afterwards
        with ui.hold():  # an ingest keeps it across calls, however long it takes
            time.sleep(0.5)
            assert ui.is_open
        assert [h.id for h in ui.iterate("docs", batch=7)][:1]
    finally:
        ui.close()
    open_embedded(built).close()


def test_relative_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default data dir is relative (`.rosetta`): the engine must keep finding its files when
    the process changes directory while the store is open (`rosetta demo` does)."""
    import uuid

    import numpy as np

    from rosetta.models import ModelIdentity
    from rosetta.store import Point

    monkeypatch.chdir(tmp_path)
    ident = ModelIdentity(name="t", source="offline", weights_sha256="0" * 64, dim=8)
    rng = np.random.default_rng(0)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with open_embedded(Path(".rosetta")) as store:
        store.ensure_collection("docs", ident)
        monkeypatch.chdir(elsewhere)
        for batch in range(3):
            vectors = rng.normal(size=(40, 8)).astype(np.float32)
            store.upsert(
                "docs",
                [Point(str(uuid.uuid4()), v, {"doc_id": f"d{batch}-{i}"}) for i, v in enumerate(vectors)],
            )
        store.optimize("docs")
        assert store.count("docs") == 120
        assert len(store.query("docs", rng.normal(size=8).astype(np.float32), limit=5)) == 5
