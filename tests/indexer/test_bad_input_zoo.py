"""The hostile-input probe as a test suite: inputs that once hung, crashed, garbled text, blew up
memory or silently lost documents. Each case is real (real FIFOs, device files, zip bombs, real
store and model); where a fault cannot be caused for real here the test says so.

`ZOO` lists the cases; the README's reliability figures count them."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexer.discovery import discover
from indexer.pipeline import Index, Upload
from indexer.readers import ReadError, ReadOptions, SkipFile, SourceFile, decode_text, load_bytes, read_upload
from rosetta.store import Point, SparseVector
from tests.indexer.conftest import bomb_docx, make_docx

runner = CliRunner()


def _read_in_time(src: SourceFile, options: ReadOptions = ReadOptions(), seconds: float = 10.0):
    """load_bytes in a thread: a hang fails the test instead of hanging the suite."""
    outcome: list[object] = []

    def target() -> None:
        try:
            outcome.append(load_bytes(src, options))
        except Exception as exc:  # the test inspects it
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"reading {src.name} did not return within {seconds} s"
    return outcome[0]


# ---- non-regular files and sizes ------------------------------------------------------------
def test_fifo_is_skipped_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    result = _read_in_time(SourceFile(rel="pipe.txt", path=fifo))
    assert isinstance(result, SkipFile) and "FIFO" in str(result)


def test_symlink_to_dev_zero_is_skipped(tmp_path: Path) -> None:
    link = tmp_path / "zero.txt"
    link.symlink_to("/dev/zero")
    result = _read_in_time(SourceFile(rel="zero.txt", path=link))
    assert isinstance(result, SkipFile) and "character device" in str(result)


def test_size_limit_counts_bytes_read_not_reported_size(tmp_path: Path) -> None:
    # /proc files are regular files whose stat size is 0 whatever they hold.
    maps = Path("/proc/self/maps")
    if not maps.exists() or maps.stat().st_size != 0:
        pytest.skip("needs Linux /proc (a regular file that reports size 0)")
    link = tmp_path / "maps.txt"
    link.symlink_to(maps)
    result = _read_in_time(SourceFile(rel="maps.txt", path=link), ReadOptions(max_file_mb=0.0001))
    assert isinstance(result, ReadError) and "too large" in str(result)


# ---- container bombs --------------------------------------------------------------------------
def test_docx_bomb_refused_before_parsing() -> None:
    bomb = bomb_docx()
    assert len(bomb) < 200_000  # a small upload...
    with pytest.raises(ReadError, match="markup elements"):  # ...that would unpack to 30 MB of XML
        read_upload("bomb.docx", bomb)
    # The same bomb under another extension is sniffed as DOCX and bounded the same way.
    with pytest.raises(ReadError, match="markup elements"):
        read_upload("bomb.bin", bomb)


def test_zip_declared_size_and_entry_count_bounded(tmp_path: Path) -> None:
    good = make_docx(tmp_path / "ok.docx", "Titel", ["Ein ganz normaler Absatz."]).read_bytes()
    assert read_upload("ok.docx", good)[0].text.endswith("Ein ganz normaler Absatz.")
    with pytest.raises(ReadError, match="unpacks to"):
        read_upload("ok.docx", good, ReadOptions(max_unpacked_mb=0.001))
    with pytest.raises(ReadError, match="parts"):
        read_upload("ok.docx", good, ReadOptions(max_zip_entries=3))
    with pytest.raises(ReadError, match="gave up after 0 s of parsing"):
        read_upload("ok.docx", good, ReadOptions(max_parse_seconds=0))


def test_html_markup_bomb_refused() -> None:
    with pytest.raises(ReadError, match="markup elements"):
        read_upload(
            "bomb.html",
            b"<html><body>" + b"<b>" * 200_000 + b"x</body></html>",
            ReadOptions(max_elements=100_000),
        )


# ---- encodings ----------------------------------------------------------------------------------
def test_mixed_utf8_and_latin1_decoded_per_line() -> None:
    raw = (
        "Grüße aus Köln\n".encode()
        + "Café crème, déjà vu\n".encode("latin-1")
        + "Ça marche très bien\n".encode()
    )
    assert decode_text(raw) == "Grüße aus Köln\nCafé crème, déjà vu\nÇa marche très bien\n"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize(
    "text",
    [
        "Привет, мир! Hello world, ça va? Grüße.\n" * 20,
        "Привет, мир! Как дела сегодня в Москве?",
        "مرحبا بالعالم، كيف حالك اليوم؟",
        "你好，世界！今天天气很好。\n我们去公园吧。",
    ],
)
def test_utf16_without_bom_is_text(encoding: str, text: str) -> None:
    assert decode_text(text.encode(encoding)) == text
    assert read_upload("note.txt", text.encode(encoding))[0].text.strip() == text.strip()


def test_binary_with_nuls_is_still_binary() -> None:
    with pytest.raises(ReadError, match="binary"):
        decode_text(bytes(range(256)) * 16)


# ---- discovery ---------------------------------------------------------------------------------
def test_colliding_roots_get_distinct_stable_ids(tmp_path: Path) -> None:
    for rel in ("A/README.md", "B/README.md", "a/x.txt", "b/x.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    rels = lambda *paths: [f.rel for f in discover([tmp_path / p for p in paths]).files]  # noqa: E731
    assert rels("A", "B") == ["A/README.md", "B/README.md"]
    assert rels("a/x.txt", "b/x.txt") == ["a/x.txt", "b/x.txt"]
    assert rels("A") == ["README.md"] and rels("a/x.txt") == ["x.txt"]  # one root: as before
    # The same real file reached twice is one document.
    (tmp_path / "A" / "link.md").symlink_to(tmp_path / "B" / "README.md")
    assert rels("A", "B") == ["A/README.md", "A/link.md"]


def test_unlistable_folder_is_reported(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "ok.txt").write_text("fine")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "secret.txt").write_text("hidden")
    if os.geteuid() != 0:
        locked.chmod(0)
    else:
        # Root lists every folder; a permission fault cannot be caused for real: fake os.scandir
        # failing for that one folder, exactly as the OS would.
        real_scandir = os.scandir

        def scandir(path=".", *a):  # type: ignore[no-untyped-def]
            if os.fspath(path) == str(locked):
                raise PermissionError(13, "Permission denied", str(locked))
            return real_scandir(path, *a)

        monkeypatch.setattr(os, "scandir", scandir)
    try:
        found = discover([tmp_path])
    finally:
        locked.chmod(0o755)
    assert [f.rel for f in found.files] == ["ok.txt"]
    assert found.missing == [(str(locked), "cannot list folder: Permission denied")]


# ---- the pipeline, real store and model ---------------------------------------------------------
def _docs(store, collection: str) -> dict[str, str]:
    return {
        h.payload["doc_id"]: h.payload["text"]
        for h in store.iterate(collection)
        if h.payload["chunk_index"] == 0
    }


def test_colliding_roots_never_lose_documents(store, collection, encoder, tmp_path: Path) -> None:
    for name in ("A", "B"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "README.md").write_text(f"Project {name} explains how volcanoes form.")
    index = Index(store, encoder, collection)
    for _ in range(3):  # was 2 → 0 → 2 points
        report = index.add([tmp_path / "A", tmp_path / "B"])
        assert report.ok
        assert set(_docs(store, collection)) == {"A/README.md", "B/README.md"}
    assert store.count(collection) == 2


def test_a_real_collision_is_an_error_not_a_replace(store, collection, encoder, tmp_path: Path) -> None:
    for name in ("A", "B"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "README.md").write_text(f"Project {name} is about the weather in spring.")
    index = Index(store, encoder, collection)
    assert index.add([tmp_path / "A"]).ok
    report = index.add([tmp_path / "B"])  # same id "README.md", another live file
    assert [f.path for f in report.files_failed] == [str(tmp_path / "B" / "README.md")]
    error = report.files_failed[0].error
    assert "already belongs to" in error and "--replace" in error
    assert _docs(store, collection) == {"README.md": "Project A is about the weather in spring."}
    # An explicit choice takes it over; so does a file whose owner is gone (moved).
    assert index.add([tmp_path / "B"], replace=True).ok
    assert _docs(store, collection) == {"README.md": "Project B is about the weather in spring."}
    # Identical content taken over: the points now name B as their owner.
    (tmp_path / "A" / "README.md").write_text("Project B is about the weather in spring.")
    assert index.add([tmp_path / "A"], replace=True).ok
    assert index.add([tmp_path / "A"]).files_unchanged == 1
    assert [f.path for f in index.add([tmp_path / "B"]).files_failed] == [str(tmp_path / "B" / "README.md")]
    (tmp_path / "A" / "README.md").write_text("Project A is about the weather in spring.")
    (tmp_path / "B" / "README.md").rename(tmp_path / "gone.md")
    assert index.add([tmp_path / "A"]).ok
    assert _docs(store, collection)["README.md"].startswith("Project A")
    # Two tables giving the same ids in one run: the second fails, the first is indexed.
    (tmp_path / "t1.csv").write_text("id,text\nk1,Erste Tabelle über Katzen und Hunde.\n")
    (tmp_path / "t2.csv").write_text("id,text\nk1,Zweite Tabelle über Berge und Seen.\n")
    report = index.add([tmp_path / "t1.csv", tmp_path / "t2.csv"], id_column="id")
    assert [Path(f.path).name for f in report.files_failed] == ["t2.csv"]
    assert "also produced by" in report.files_failed[0].error
    assert _docs(store, collection)["k1"].startswith("Erste")


def test_uploads_cannot_replace_folder_documents(store, collection, encoder, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "README.md").write_text("The official guide to installing the product.")
    index = Index(store, encoder, collection)
    assert index.add([folder]).ok
    report = index.add([Upload("README.md", b"Anonymous text that must not replace the guide.")])
    assert report.ok
    docs = _docs(store, collection)
    assert docs["README.md"] == "The official guide to installing the product."
    assert docs["upload:README.md"].startswith("Anonymous")
    titles = {h.payload["doc_id"]: h.payload["title"] for h in store.iterate(collection)}
    assert titles["upload:README.md"] == "README.md"  # the namespace is in the id, not the title
    # Re-uploading the same name updates that upload, as before.
    assert index.add_upload("README.md", b"A second version of the upload.").chunks_deleted == 1


def test_stats_do_not_count_a_half_replaced_document_twice(
    store, collection, encoder, tmp_path: Path
) -> None:
    doc = tmp_path / "note.txt"
    doc.write_text("A short note about rivers and lakes in Finland.")
    index = Index(store, encoder, collection)
    index.add([doc])
    # The state a crash leaves between writing a changed document's new chunks and deleting the
    # old ones: two first chunks (old and new hash) for one document.
    old = next(iter(store.iterate(collection, with_vectors=True)))
    store.upsert(
        collection,
        [
            Point(
                "00000000-0000-5000-8000-000000000001",
                old.vector,
                {**old.payload, "content_hash": "new"},
                SparseVector([], []),
            )
        ],
    )
    stats = index.stats()
    assert stats.points == 2 and stats.documents == 1


# ---- the CLI: markup and escapes in names, exit codes, bad options -------------------------------
@pytest.fixture
def cli_env(tmp_path: Path, models_dir: Path, monkeypatch) -> Path:
    monkeypatch.setenv("ROSETTA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ROSETTA_CACHE_DIR", str(models_dir))
    monkeypatch.setenv("ROSETTA_COLLECTION", "zoo")
    monkeypatch.setenv("COLUMNS", "400")  # one report line per file: no wrapping inside a path
    return tmp_path


def test_cli_zoo_run_reports_every_file_and_exits_3(cli_env: Path) -> None:
    from rosetta.cli import app

    zoo = cli_env / "zoo"
    zoo.mkdir()
    (zoo / "good.txt").write_text("Die Katze schläft den ganzen Tag auf dem Sofa.")
    (zoo / "[bold]styled.txt").write_text("Un fichier au nom bizarre, mais un texte normal.")
    (zoo / "[").mkdir()  # the path reads ".../[/red]markup.txt": a closing tag with no opening one
    (zoo / "[" / "red]markup.txt").write_bytes(b"\x00\x01\x02" * 100)  # fails: binary
    (zoo / "\x1b[31mansi.txt").write_bytes(b"\x00\x01\x02" * 100)  # fails: binary
    os.mkfifo(zoo / "pipe.txt")
    (zoo / "zero.txt").symlink_to("/dev/zero")
    (zoo / "bomb.docx").write_bytes(bomb_docx(2_000_000))
    result = runner.invoke(app, ["index", str(zoo)])
    out = result.output
    assert result.exit_code == 3, out
    assert "Traceback" not in out and "\x1b[31m" not in out
    assert "[/red]markup.txt" in out and "\\x1b[31mansi.txt" in out and "bomb.docx" in out
    assert "skipped" in out and "FIFO" in out and "character device" in out
    report = json.loads(runner.invoke(app, ["index", str(zoo), "--json"]).output.splitlines()[-1])
    assert report["files_seen"] == 7 and report["files_unchanged"] == 2 and report["files_skipped"] == 2
    assert {Path(f["path"]).name for f in report["files_failed"]} == {
        "red]markup.txt",
        "\x1b[31mansi.txt",
        "bomb.docx",
    }
    stats = runner.invoke(app, ["stats", "--json"])
    assert json.loads(stats.output)["documents"] == 2


def test_cli_only_skips_exits_0(cli_env: Path) -> None:
    from rosetta.cli import app

    folder = cli_env / "f"
    folder.mkdir()
    (folder / "ok.txt").write_text("Il gatto dorme tutto il giorno sul divano.")
    os.mkfifo(folder / "pipe.txt")
    result = runner.invoke(app, ["index", str(folder)])
    assert result.exit_code == 0, result.output


def test_cli_min_score_nan_and_absent_language(cli_env: Path) -> None:
    from rosetta.cli import app

    for bad in ("nan", "2", "-inf"):
        result = runner.invoke(app, ["search", "x", "--min-score", bad])
        assert result.exit_code == 2 and "--min-score" in result.output, result.output
    doc = cli_env / "\x1b]8;;x\x1b\\[red]d.txt"  # the title is the file name: a hyperlink escape, markup
    doc.write_text("Die Katze schläft den ganzen Tag auf dem Sofa im Wohnzimmer.")
    assert runner.invoke(app, ["index", str(doc)]).exit_code == 0
    result = runner.invoke(app, ["search", "Katze", "--lang", "xx", "--json"])
    assert result.exit_code == 0
    assert "no passage has language xx" in result.output and "de" in result.output
    result = runner.invoke(app, ["search", "Katze"])
    assert result.exit_code == 0 and "\x1b" not in result.output
    assert "\\x1b]8;;x\\x1b\\[red]d.txt" in result.output


def test_cli_ctrl_c_during_model_load(cli_env: Path, monkeypatch) -> None:
    from rosetta.cli import app
    from rosetta.models import Encoder

    # Ctrl-C lands at an unpredictable point of a real load; raise it from inside the load (a
    # fake, since a signal cannot be aimed at that window reliably).
    def interrupted(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(Encoder, "load", interrupted)
    result = runner.invoke(app, ["index", str(cli_env)])
    assert result.exit_code == 130
    assert "interrupted while loading model" in result.output
