"""Encoder backends: ONNX builds of a real offline model, the auto rule, the compatibility rule."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from rosetta.models import Encoder, ModelIdentity, ModelNotFoundError
from rosetta.models.backends import INT8_GATE_PASSED, choose_backend, int8_fast_here

pytest.importorskip("onnxruntime")

# The packaged English model is small enough to export in seconds; the build code is model-agnostic.
MODEL = "all-MiniLM-L6-v2"
TEXTS = [
    "The cat sleeps on the warm windowsill.",
    "Quarterly revenue grew by four percent despite weaker demand in Europe.",
    "How do I reset my password?",
    "a",
    "Photosynthesis converts light energy into chemical energy stored in glucose molecules, "
    "which plants then use to grow, repair tissue and reproduce. " * 3,
]
E5_SHA = next(iter(INT8_GATE_PASSED))


@pytest.fixture(scope="module")
def build_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def reference(build_root: Path) -> Encoder:
    return Encoder.load(MODEL, build_root, "cpu", "fp32", "torch")


@pytest.fixture(scope="module")
def onnx_fp32(build_root: Path) -> Encoder:
    return Encoder.load(MODEL, build_root, "cpu", "fp32", "onnx")


@pytest.fixture(scope="module")
def onnx_int8(build_root: Path) -> Encoder:
    return Encoder.load(MODEL, build_root, "cpu", "fp32", "onnx-int8")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


def test_onnx_fp32_computes_the_torch_vectors(reference: Encoder, onnx_fp32: Encoder) -> None:
    for encode in ("encode_documents", "encode_queries"):
        ref = getattr(reference, encode)(TEXTS, batch_size=2)
        got = getattr(onnx_fp32, encode)(TEXTS, batch_size=2)
        assert got.shape == ref.shape and got.dtype == np.float32
        assert cosines(ref, got).min() > 0.9999
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert onnx_fp32.identity.backend == "onnx" and onnx_fp32.identity.quantization == "none"
    assert reference.identity.backend == "torch"
    # Same fp32 graph: a collection written by one is searched by the other.
    assert onnx_fp32.identity.same_vectors_as(reference.identity)


def test_batching_and_order(onnx_fp32: Encoder, onnx_int8: Encoder) -> None:
    one = onnx_fp32.encode_documents(TEXTS, batch_size=len(TEXTS))
    by_two = onnx_fp32.encode_documents(TEXTS[::-1], batch_size=2)[::-1]
    assert cosines(one, by_two).min() > 0.9999
    # Dynamic int8 scales activations per batch, so a text's vector moves a little with its batch
    # mates; same batches give the same vectors.
    one = onnx_int8.encode_documents(TEXTS, batch_size=len(TEXTS))
    by_two = onnx_int8.encode_documents(TEXTS[::-1], batch_size=2)[::-1]
    assert cosines(one, by_two).min() > 0.97
    assert np.array_equal(one, onnx_int8.encode_documents(TEXTS, batch_size=len(TEXTS)))
    assert onnx_int8.encode_documents([]).shape == (0, 384)


def test_int8_is_close_but_not_equal_and_refused_unless_measured(
    reference: Encoder, onnx_int8: Encoder, tmp_path: Path
) -> None:
    from rosetta.store import ModelMismatchError, QdrantStore

    ref = reference.encode_documents(TEXTS)
    got = onnx_int8.encode_documents(TEXTS)
    c = cosines(ref, got)
    assert c.min() > 0.95 and c.max() < 0.99999
    assert onnx_int8.identity.quantization == "dynamic-int8"
    # MiniLM's int8 vectors were never measured against its fp32 ones: a collection written by torch
    # refuses them, naming both backends.
    assert onnx_int8.identity.weights_sha256 not in INT8_GATE_PASSED
    store = QdrantStore.embedded(tmp_path / "qdrant")
    try:
        store.ensure_collection("docs", reference.identity)
        with pytest.raises(ModelMismatchError) as err:
            store.ensure_collection("docs", onnx_int8.identity)
        assert "torch" in str(err.value) and "onnx-int8" in str(err.value)
        store.ensure_collection("docs", replace(onnx_int8.identity, backend="onnx"))
    finally:
        store.close()


def test_measured_weights_take_fp32_queries_into_int8_collections_only() -> None:
    torch_e5 = ModelIdentity("multilingual-e5-small", "offline", E5_SHA, 384, {"query": "query: "})
    int8_e5 = replace(torch_e5, backend="onnx-int8", quantization="dynamic-int8")
    onnx_e5 = replace(torch_e5, backend="onnx")
    # Measured: fp32 queries against int8 passages stay within the gate, int8 queries against fp32
    # passages do not (bench/results/quality_gate.json).
    assert int8_e5.same_vectors_as(torch_e5) and int8_e5.same_vectors_as(onnx_e5)
    assert not torch_e5.same_vectors_as(int8_e5)
    assert torch_e5.same_vectors_as(onnx_e5) and onnx_e5.same_vectors_as(torch_e5)
    # Old collections recorded no backend: they were written by torch.
    old = ModelIdentity.from_dict(
        {k: v for k, v in torch_e5.to_dict().items() if k not in {"backend", "quantization"}}
    )
    assert old.backend == "torch" and not old.same_vectors_as(int8_e5) and old.same_vectors_as(onnx_e5)
    unmeasured = "0" * 64
    assert not replace(int8_e5, weights_sha256=unmeasured).same_vectors_as(
        replace(torch_e5, weights_sha256=unmeasured)
    )
    assert "onnx-int8" in int8_e5.describe()


def test_build_is_cached_and_deterministic(build_root: Path, onnx_int8: Encoder, tmp_path: Path) -> None:
    builds = list((build_root / "onnx").iterdir())
    assert len(builds) == 1
    assert {p.name for p in builds[0].glob("*.onnx")} == {"model.onnx", "model_int8.onnx"}
    stamps = {p.name: p.stat().st_mtime_ns for p in builds[0].glob("*.onnx")}
    Encoder.load(MODEL, build_root, "cpu", "fp32", "onnx-int8")  # reuses the build
    assert {p.name: p.stat().st_mtime_ns for p in builds[0].glob("*.onnx")} == stamps
    assert not list(builds[0].glob("*.tmp"))
    # A second build from the same weights is byte-identical.
    Encoder.load(MODEL, tmp_path, "cpu", "fp32", "onnx-int8")
    again = next((tmp_path / "onnx").iterdir())
    for name in ("model.onnx", "model_int8.onnx"):
        assert digest(again / name) == digest(builds[0] / name), name


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("native_bf16", [True, False])
def test_auto_rule_with_auto_precision(monkeypatch: pytest.MonkeyPatch, native_bf16: bool) -> None:
    from rosetta.models import backends

    # A fake: the CPU's instructions cannot be switched for real (bench/encoder_isa.py caps them).
    monkeypatch.setattr(backends, "bf16_fast_here", lambda: native_bf16)
    choice = choose_backend("auto", "cpu", "auto", E5_SHA, None)
    if native_bf16:
        assert choice.backend == "torch" and "bf16" in choice.reason
        # bf16 does not depend on the int8 gate: any weights get it.
        assert choose_backend("auto", "cpu", "auto", "f" * 64, None).backend == "torch"
    else:
        assert choice.backend == ("onnx-int8" if int8_fast_here() else "torch")
    # An explicit fp32 keeps the int8 path (and torch fp32 with ROSETTA_ENCODER_BACKEND=torch).
    assert choose_backend("auto", "cpu", "fp32", E5_SHA, None).backend == (
        "onnx-int8" if int8_fast_here() else "torch"
    )


def test_auto_rule() -> None:
    choice = choose_backend("auto", "cpu", "fp32", E5_SHA, None)
    assert choice.backend == ("onnx-int8" if int8_fast_here() else "torch")
    assert "quality gate" in choice.reason or "int8" in choice.reason
    assert choose_backend("auto", "cpu", "fp32", "f" * 64, None).backend == "torch"
    assert choose_backend("auto", "cpu", "bf16", E5_SHA, None).backend == "torch"
    assert choose_backend("auto", "cuda", "fp32", E5_SHA, None).backend == "torch"
    assert choose_backend("auto", "cpu", "fp32", E5_SHA, "only mean pooling").backend == "torch"
    assert choose_backend("torch", "cpu", "fp32", E5_SHA, None).backend == "torch"
    with pytest.raises(ValueError, match="CPU only"):
        choose_backend("onnx-int8", "cuda", "fp32", E5_SHA, None)
    with pytest.raises(ValueError, match="ROSETTA_ENCODER_BACKEND=torch"):
        choose_backend("onnx", "cpu", "fp32", E5_SHA, "only mean pooling")


def test_auto_encodes_queries_on_onnx_fp32(build_root: Path, reference: Encoder) -> None:
    """Under `auto`, queries run on ONNX Runtime fp32 (the torch fp32 vectors, fastest for one text)
    whatever computes the passages; an explicit backend computes both (the reference stays exact)."""
    auto = Encoder.load(MODEL, build_root, "cpu", "auto", "auto")
    assert auto.query_onnx is not None and auto._query_runner is None  # built on the first query
    got = auto.encode_queries(TEXTS, batch_size=2)
    assert np.min(cosines(got, reference.encode_queries(TEXTS, batch_size=2))) > 0.9999
    assert auto._query_runner is not None and (auto.query_onnx / "model.onnx").exists()
    assert Encoder.load(MODEL, build_root, "cpu", "fp32", "torch").query_onnx is None
    assert reference.query_onnx is None


def test_unexportable_model_is_a_clear_error(tmp_path: Path, reference: Encoder) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    folder = tmp_path / "cls-pooled"
    transformer = reference.model[0]
    model = SentenceTransformer(modules=[transformer, Pooling(384, pooling_mode="cls")], device="cpu")
    model.save(str(folder))
    with pytest.raises(ModelNotFoundError, match="mean pooling"):
        Encoder.load(str(folder), tmp_path, "cpu", "fp32", "onnx")
    auto = Encoder.load(str(folder), tmp_path, "cpu", "fp32", "auto")
    assert auto.identity.backend == "torch" and auto.query_onnx is None  # queries stay on torch too


def test_models_list_shows_the_choice(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rosetta.cli import app

    monkeypatch.setenv("ROSETTA_CACHE_DIR", str(models_dir))
    monkeypatch.setenv("ROSETTA_ENCODER_BACKEND", "auto")
    monkeypatch.setenv("ROSETTA_PRECISION", "fp32")
    result = CliRunner().invoke(app, ["models", "list", "--json"])
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["multilingual-e5-small"]["backend"] == ("onnx-int8" if int8_fast_here() else "torch")
    assert rows["multilingual-e5-small"]["backend_reason"]
    assert rows["all-MiniLM-L6-v2"]["backend"] == "torch"
    assert "not measured" in rows["all-MiniLM-L6-v2"]["backend_reason"]
    # The default precision (auto): bf16 passages where the CPU has AMX; queries on ONNX fp32.
    monkeypatch.delenv("ROSETTA_PRECISION")
    result = CliRunner().invoke(app, ["models", "list", "--json"])
    row = {r["name"]: r for r in json.loads(result.output)}["multilingual-e5-small"]
    assert row["backend"] == choose_backend("auto", "cpu", "auto", E5_SHA, None).backend
    assert "queries: ONNX Runtime fp32" in row["backend_reason"]


def test_auto_follows_the_backend_that_wrote_a_collection(onnx_int8: Encoder, tmp_path: Path) -> None:
    """A collection written by torch fp32 (every collection made before int8 was the default) keeps
    being searched and extended under `auto`: the encoder switches to the collection's backend."""
    from app.search import Searcher, SearchRequest
    from indexer.pipeline import Index
    from rosetta.store import ModelMismatchError, open_embedded

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "cat.txt").write_text("The cat sleeps on the warm windowsill all afternoon.")
    (docs / "tax.txt").write_text("Quarterly revenue grew by four percent despite weaker demand.")
    torch_encoder = Encoder.load(MODEL, onnx_int8.models_dir or tmp_path, "cpu", "fp32", "torch")
    store = open_embedded(tmp_path / "data")
    try:
        Index(store, torch_encoder, "docs").add([docs])
        # What `auto` gives on a machine and model where int8 passed the gate.
        auto = Encoder(
            onnx_int8.model,
            onnx_int8.identity,
            runner=onnx_int8.runner,
            requested="auto",
            models_dir=onnx_int8.models_dir,
        )
        explicit = Encoder(
            onnx_int8.model,
            onnx_int8.identity,
            runner=onnx_int8.runner,
            requested="onnx-int8",
            models_dir=onnx_int8.models_dir,
        )
        with pytest.raises(ModelMismatchError, match="onnx-int8"):
            Searcher(explicit, store, "docs").search(SearchRequest(query="sleeping cat"))
        searcher = Searcher(auto, store, "docs")
        result = searcher.search(SearchRequest(query="sleeping cat"))
        assert searcher.encoder.identity.backend == "torch"
        assert result.hits[0].passage.doc_id.endswith("cat.txt")
        (docs / "dog.txt").write_text("The dog waits by the door for its walk.")
        index = Index(store, auto, "docs")
        report = index.add([docs])
        assert report.chunks_added == 1 and index.encoder.identity.backend == "torch"
        assert store.identity("docs").backend == "torch"
    finally:
        store.close()


def test_auto_searches_int8_passages_with_fp32_queries(
    onnx_int8: Encoder, onnx_fp32: Encoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An int8 collection under `auto` (which chose torch for passages here): its passages are
    extended with int8, its queries run on the fp32 engine, the same engine object as before."""
    from app.search import Searcher, SearchRequest
    from indexer.pipeline import Index
    from rosetta.models import backends
    from rosetta.store import open_embedded

    # INT8_GATE_PASSED is measured data (for mE5); the small English model stands in for gated
    # weights so the test needs no minute-long int8 export of mE5.
    monkeypatch.setitem(backends.INT8_GATE_PASSED, onnx_int8.identity.weights_sha256, MODEL)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "cat.txt").write_text("The cat sleeps on the warm windowsill all afternoon.")
    (docs / "tax.txt").write_text("Quarterly revenue grew by four percent despite weaker demand.")
    store = open_embedded(tmp_path / "data")
    try:
        Index(store, onnx_int8, "docs").add([docs])
        folder = onnx_int8.runner.path.parent
        base = replace(onnx_int8.identity, backend="torch", quantization="none")
        auto = Encoder(
            onnx_int8.model, base, requested="auto", models_dir=onnx_int8.models_dir, query_onnx=folder
        )
        auto.prepare_queries()
        searcher = Searcher(auto, store, "docs")
        result = searcher.search(SearchRequest(query="sleeping cat"))
        assert result.hits[0].passage.doc_id.endswith("cat.txt")
        assert searcher.encoder.identity.backend == "onnx-int8"
        assert searcher.encoder._query_runner is auto._query_runner is not None
        got = searcher.encoder.encode_queries(TEXTS)
        assert np.min(cosines(got, onnx_fp32.encode_queries(TEXTS))) > 0.9999
        # More passages for it are int8 too: the collection's vectors stay of one kind.
        (docs / "dog.txt").write_text("The dog waits by the door for its walk.")
        index = Index(store, auto, "docs")
        assert index.add([docs]).chunks_added == 1 and index.encoder.identity.backend == "onnx-int8"
    finally:
        store.close()


def test_each_batch_is_padded_to_its_own_longest_text(onnx_fp32: Encoder) -> None:
    # Batches are formed longest-first by characters (what the int8 quality gate measured); each
    # is padded only to its own longest member, and vectors do not depend on the batching.
    texts = ["文字化けの問題を解決する方法", "a" * 10, "internationalization " * 3, "日本語", "ok"] * 2
    runner = onnx_fp32.runner
    assert runner is not None
    widths: list[int] = []
    session = runner.session

    class Recording:  # the real session; only the input widths are noted
        def run(self, names: Any, feeds: dict[str, np.ndarray]) -> Any:
            widths.append(feeds["input_ids"].shape[1])
            return session.run(names, feeds)

    runner.session = Recording()  # type: ignore[assignment]
    try:
        got = runner.encode(texts, batch_size=2)
    finally:
        runner.session = session
    ids = runner.tokenizer(texts, truncation=True, max_length=runner.max_seq_length)["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    assert widths == [max(len(ids[i]) for i in order[k : k + 2]) for k in range(0, len(texts), 2)]
    assert cosines(got, runner.encode(texts, batch_size=len(texts))).min() > 0.9999
