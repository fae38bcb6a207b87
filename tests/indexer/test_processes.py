"""Real processes: kill -9 mid-run then re-run (exact counts, no duplicates), the embedded store
held by another process, and the CLI's exit codes and JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexer.chunking import ChunkConfig
from indexer.cli import EXIT_SOME_FAILED
from indexer.discovery import discover
from indexer.pipeline import Index
from indexer.readers import ReadOptions, read_source
from rosetta.store import EdgeStore, edge_path, open_embedded
from tests.indexer.conftest import CORPUS, write_corpus

SENTENCES = [
    "The harbour was quiet before dawn.",
    "Le marché ouvre à six heures du matin.",
    "Die Brücke wurde im Jahr 1890 gebaut.",
    "El tren llegó con veinte minutos de retraso.",
    "Il museo è chiuso il lunedì.",
    "O rio atravessa a cidade de norte a sul.",
]


def env_for(data_dir: Path, models_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSETTA_")}
    env.update(
        ROSETTA_DATA_DIR=str(data_dir),
        ROSETTA_CACHE_DIR=str(models_dir),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        **extra,
    )
    return env


def rosetta(*args: str) -> list[str]:
    # Not `-m rosetta.cli`: that would load the CLI module twice (as __main__ and for the layers).
    return [sys.executable, "-c", "from rosetta.cli import main; main()", *args]


def test_kill_9_mid_run_then_rerun_is_exact(tmp_path: Path, models_dir: Path, encoder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for d in range(40):
        text = " ".join(SENTENCES[(d + k) % len(SENTENCES)] + f" ({d}.{k})" for k in range(10))
        (corpus / f"doc{d:02d}.txt").write_text(text)
    data = tmp_path / "data"
    config = ChunkConfig(32, 8)
    expected = sum(len(_chunks(encoder, config, src)) for src in discover([corpus]).files)
    proc = subprocess.Popen(
        rosetta("index", str(corpus), "--chunk-tokens", "32", "--overlap", "8"),
        env=env_for(data, models_dir, ROSETTA_BATCH_SIZE="4"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # The running process holds the store, so watch its write-ahead log grow instead: the log's
    # files are preallocated with zeros and filled from the start (≈1.6 kB per 384-d point).
    wal = edge_path(data) / "documents" / "shard" / "wal"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if _log_bytes(wal) >= 40 * 1600:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()!r}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    store = open_embedded(data)
    try:
        written = store.count("documents")
        assert 0 < written < expected
        index = Index(store, encoder, "documents", chunk=config)
        report = index.add([corpus])
        assert report.ok and store.count("documents") == expected
        payloads = [h.payload for h in store.iterate("documents")]
        keys = [(p["doc_id"], p["chunk_index"]) for p in payloads]
        assert len(keys) == len(set(keys)) == expected
        assert len({p["doc_id"] for p in payloads}) == 40
        assert index.add([corpus]).chunks_added == 0
    finally:
        store.close()


def _log_bytes(wal: Path, head: int = 1 << 20) -> int:
    """Bytes written at the start of the log's files (the first MB is enough to watch)."""
    if not wal.is_dir():
        return 0
    total = 0
    for f in wal.iterdir():
        if f.is_file():
            with f.open("rb") as fh:
                total += len(fh.read(head).rstrip(b"\0"))
    return total


def _chunks(encoder, config: ChunkConfig, src) -> list:
    from indexer.chunking import Chunker

    chunker = Chunker(encoder.tokenizer, encoder.max_seq_length, config, encoder.document_prefix())
    return [c for d in read_source(src, ReadOptions()) for c in chunker.split(d.text, d.pages)]


def test_second_process_gets_a_clear_error(tmp_path: Path, models_dir: Path) -> None:
    holder = EdgeStore.open(edge_path(tmp_path / "data"))
    try:
        result = subprocess.run(
            rosetta("stats"),
            env=env_for(tmp_path / "data", models_dir),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.close()
    assert result.returncode == 2
    assert f"process {os.getpid()}" in result.stderr and "ROSETTA_QDRANT_URL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def cli_env(tmp_path: Path, models_dir: Path, encoder, monkeypatch: pytest.MonkeyPatch) -> Path:
    from rosetta.models import Encoder

    monkeypatch.setenv("ROSETTA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ROSETTA_CACHE_DIR", str(models_dir))
    monkeypatch.delenv("ROSETTA_QDRANT_URL", raising=False)
    # The session encoder stands in for a fresh load (seconds saved per command).
    monkeypatch.setattr(Encoder, "from_settings", lambda *args, **kwargs: encoder)
    return tmp_path


def test_cli_exit_codes_json_and_mismatch(cli_env: Path) -> None:
    from rosetta.cli import app

    corpus = write_corpus(cli_env / "corpus", dict(list(CORPUS.items())[:3]))
    runner = CliRunner()
    ok = runner.invoke(app, ["index", str(corpus), "--json"])
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.stdout.strip().splitlines()[-1])
    assert list(report) == [
        "files_seen",
        "files_indexed",
        "files_unchanged",
        "files_skipped",
        "files_failed",
        "chunks_added",
        "chunks_deleted",
        "seconds",
    ]
    assert report["files_indexed"] == 3 and report["files_failed"] == []
    (corpus / "bad.pdf").write_bytes(b"%PDF-1.4 broken")
    partial = runner.invoke(app, ["index", str(corpus), "--json"])
    assert partial.exit_code == EXIT_SOME_FAILED
    failed = json.loads(partial.stdout.strip().splitlines()[-1])["files_failed"]
    assert failed[0]["path"].endswith("bad.pdf") and failed[0]["error"]
    stats = runner.invoke(app, ["stats", "--json"])
    data = json.loads(stats.stdout)
    assert set(data) == {"points", "documents", "languages", "model"} and data["documents"] == 3

    with open_embedded(cli_env / "data") as store:
        import dataclasses

        from rosetta.models import ModelIdentity

        other = ModelIdentity("some-other-model", "folder", "0" * 64, 384)
        store.ensure_collection("other", dataclasses.replace(other))
    refused = runner.invoke(app, ["index", str(corpus), "--collection", "other"])
    assert refused.exit_code == 2
    assert "some-other-model" in refused.stderr and "--recreate" in refused.stderr
    rebuilt = runner.invoke(app, ["index", str(corpus), "--collection", "other", "--recreate", "--json"])
    assert rebuilt.exit_code == EXIT_SOME_FAILED  # bad.pdf still fails; the rest went in
