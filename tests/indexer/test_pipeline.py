"""The Index API end to end, on every store backend: multilingual corpus, incremental runs,
modified files, --prune, the bad-input zoo, model mismatch, uploads, progress, stats."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from indexer.pipeline import Index, Upload
from rosetta.schema import PAYLOAD_KEYS
from rosetta.store import ModelMismatchError
from tests.indexer.conftest import CORPUS, CORPUS_LANGS, make_docx, make_pdf


def points(store, collection: str) -> dict[str, dict]:
    return {h.id: h.payload for h in store.iterate(collection)}


def assert_exact(store, collection: str) -> None:
    """Every document holds chunks 0..n-1 of one content hash, nothing else."""
    by_doc: dict[str, list[dict]] = {}
    for p in points(store, collection).values():
        by_doc.setdefault(p["doc_id"], []).append(p)
    for doc_id, chunks in by_doc.items():
        assert len({c["content_hash"] for c in chunks}) == 1, doc_id
        assert sorted(c["chunk_index"] for c in chunks) == list(range(chunks[0]["chunk_count"])), doc_id


def test_multilingual_corpus_and_idempotent_rerun(store, collection, encoder, corpus: Path) -> None:
    index = Index(store, encoder, collection)
    seen = []
    report = index.add([corpus], progress=seen.append)
    assert report.ok and report.files_indexed == len(CORPUS) and report.chunks_added >= len(CORPUS)
    assert seen and seen[-1].files_done == len(CORPUS) and seen[-1].chunks_done == report.chunks_added
    stored = points(store, collection)
    assert len(stored) == report.chunks_added
    assert {p["doc_lang"] for p in stored.values()} == CORPUS_LANGS
    one = next(p for p in stored.values() if p["doc_id"] == "es/cocina.html")
    assert one["title"] == "Cocina española" and "no indexar" not in one["text"]
    for key in (
        "doc_id",
        "source",
        "title",
        "lang",
        "doc_lang",
        "chunk_index",
        "char_start",
        "char_end",
        "text",
        "ingested_at",
        "content_hash",
    ):
        assert key in one
    stats = index.stats()
    assert stats.points == len(stored) and stats.documents == len(CORPUS)
    assert set(stats.languages) == CORPUS_LANGS and stats.model["name"] == encoder.identity.name

    again = index.add([corpus])
    assert (again.chunks_added, again.chunks_deleted, again.files_unchanged) == (0, 0, len(CORPUS))
    assert points(store, collection) == stored


def test_modified_file_replaces_exactly_its_chunks(store, collection, encoder, corpus: Path) -> None:
    index = Index(store, encoder, collection)
    index.add([corpus])
    before = points(store, collection)
    cats = {i for i, p in before.items() if p["doc_id"] == "en/cats.txt"}
    (corpus / "en/cats.txt").write_text("Dogs are loyal animals. " * 60)
    report = index.add([corpus])
    after = points(store, collection)
    new = {i for i, p in after.items() if p["doc_id"] == "en/cats.txt"}
    assert report.files_indexed == 1 and report.files_unchanged == len(CORPUS) - 1
    assert report.chunks_deleted == len(cats) and report.chunks_added == len(new) > 1
    assert not cats & new
    assert {i: p for i, p in after.items() if i not in new} == {
        i: p for i, p in before.items() if i not in cats
    }
    assert_exact(store, collection)


def test_prune_and_tables(store, collection, encoder, corpus: Path) -> None:
    (corpus / "rows.csv").write_text(
        "id,text,topic\nr1,Le soleil brille sur la mer.,météo\n"
        "r2,The stock market fell sharply today.,finance\n"
    )
    index = Index(
        store, encoder, collection, options=dataclasses.replace(index_options(), metadata_fields=("topic",))
    )
    assert index.add([corpus], id_column="id").ok
    assert store.facet(collection, "topic") == {"météo": 1, "finance": 1}
    # A row removed from a table that is still there goes, without --prune.
    (corpus / "rows.csv").write_text("id,text,topic\nr1,Le soleil brille sur la mer.,météo\n")
    report = index.add([corpus], id_column="id")
    assert report.chunks_deleted == 1 and store.count(collection) > 0
    docs = {p["doc_id"] for p in points(store, collection).values()}
    assert "r2" not in docs and "r1" in docs
    # A deleted file stays until --prune.
    (corpus / "de/wetter.txt").unlink()
    assert index.add([corpus], id_column="id").chunks_deleted == 0
    pruned = index.add([corpus], id_column="id", prune=True)
    assert pruned.chunks_deleted >= 1 and pruned.documents_pruned == 1
    assert "de/wetter.txt" not in {p["doc_id"] for p in points(store, collection).values()}
    # A mistyped path never prunes everything.
    safe = index.add([corpus / "nope"], prune=True)
    assert safe.files_failed and store.count(collection) > 0


def index_options():
    from rosetta.store import CollectionOptions

    return CollectionOptions()


def test_bad_input_zoo_never_stops_the_run(store, collection, encoder, corpus: Path) -> None:
    zoo = corpus / "zoo"
    zoo.mkdir()
    (zoo / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<")
    (zoo / "binary.txt").write_bytes(b"\x00\xff\x10" * 1000)
    (zoo / "empty.md").write_bytes(b"")
    (zoo / "unreadable.txt").symlink_to(zoo / "does-not-exist")
    (zoo / "invalid.jsonl").write_text('{"text": "ok"}\n{broken\n')
    (zoo / "missing-column.csv").write_text("title,note\na,b\n")
    with (zoo / "huge.txt").open("wb") as fh:
        fh.write(b"y" * (50 * 1024 * 1024))
    (zoo / "mystery.bin").write_bytes(bytes(range(256)) * 8)
    (zoo / "good.pdf").write_bytes(make_pdf(["Page one talks about volcanoes.", "Page two about lava."]))
    make_docx(zoo / "good.docx", "Informe", ["El volcán entró en erupción ayer por la tarde."])
    report = index_all = Index(store, encoder, collection).add([corpus])
    failed = {Path(f.path).name: f.error for f in report.files_failed}
    assert set(failed) == {
        "corrupt.pdf",
        "binary.txt",
        "unreadable.txt",
        "invalid.jsonl",
        "missing-column.csv",
        "huge.txt",
    }
    assert all(failed.values())
    assert {Path(s.path).name for s in report.skipped} == {"empty.md", "mystery.bin"}
    assert report.files_seen == len(CORPUS) + 10
    assert report.files_indexed == len(CORPUS) + 2 and report.files_skipped == 2
    pdf_pages = {p["page"] for p in points(store, collection).values() if p["doc_id"] == "zoo/good.pdf"}
    assert pdf_pages == {1}  # two short pages make one chunk, labelled with the page it starts on
    assert index_all.to_dict()["files_failed"][0].keys() == {"path", "error"}


def test_chunks_carry_the_page_they_start_on(store, collection, encoder, tmp_path: Path) -> None:
    words = {1: "volcano", 2: "glacier", 3: "desert"}
    pages = [" ".join(f"The {w} number {i} is described here." for i in range(80)) for w in words.values()]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "atlas.pdf").write_bytes(make_pdf(pages))
    report = Index(store, encoder, collection).add([docs])
    assert report.ok and report.chunks_added > 3
    chunks = list(points(store, collection).values())
    assert {p["page"] for p in chunks} == {1, 2, 3}
    # A PDF (no metadata columns) writes exactly the schema's keys.
    assert {k for p in chunks for k in p} == PAYLOAD_KEYS
    for p in chunks:
        first = next(w for w in p["text"].split() if w in words.values())
        assert p["page"] == next(n for n, w in words.items() if w == first), p["text"][:80]


def test_uploads_and_model_mismatch(store, collection, encoder) -> None:
    index = Index(store, encoder, collection)
    report = index.add_upload("notes.md", b"# Notes\n\nUne note en fran\xc3\xa7ais sur la musique.")
    assert report.ok and report.chunks_added == 1
    assert index.add([Upload("notes.md", b"# Notes\n\nchanged text")]).chunks_deleted == 1
    other = dataclasses.replace(encoder.identity, name="other-model", weights_sha256="f" * 64)
    store.ensure_collection(collection + "x", other)
    with pytest.raises(ModelMismatchError) as err:
        Index(store, encoder, collection + "x").add_upload("a.txt", b"text")
    message = str(err.value)
    assert "other-model" in message and encoder.identity.name in message and "--recreate" in message
    fresh = Index(store, encoder, collection + "x")
    fresh.ensure(recreate=True)
    assert fresh.add_upload("a.txt", b"some text here").chunks_added == 1


def test_languages_per_chunk(store, collection, encoder, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.txt"
    mixed.write_text(
        ("Das ist ein deutscher Absatz über das Wetter und die Berge im Süden. " * 20)
        + "\n\n"
        + ("This is an English paragraph about the weather in the mountains. " * 20)
    )
    Index(store, encoder, collection).add([mixed])
    langs = Counter(p["lang"] for p in points(store, collection).values())
    assert {"de", "en"} <= set(langs)
    assert len({p["doc_lang"] for p in points(store, collection).values()}) == 1
