"""Formats, encodings and the reader half of the bad-input zoo."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from indexer.readers import (
    ReadError,
    ReadOptions,
    SkipFile,
    SourceFile,
    decode_text,
    read_source,
    read_upload,
)
from tests.indexer.conftest import make_docx, make_pdf


def read(path: Path, **kw: object) -> list:
    return read_source(SourceFile(rel=path.name, path=path, display=str(path)), ReadOptions(**kw))


def test_text_markdown_html(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Hello\r\nworld")
    (tmp_path / "b.md").write_text("intro\n\n## Real title ##\n\nbody")
    (tmp_path / "c.html").write_bytes(
        b"<html><head><title>T</title><style>.x{}</style></head><body><p>Visible <b>bold</b></p>"
        b"<script>hidden()</script><div>Next</div></body></html>"
    )
    [a] = read(tmp_path / "a.txt")
    assert a.text == "Hello\nworld" and a.title == "Hello" and a.doc_id == "a.txt"
    assert read(tmp_path / "b.md")[0].title == "Real title"
    [c] = read(tmp_path / "c.html")
    assert c.title == "T" and "Visible bold" in c.text and "Next" in c.text
    assert "hidden" not in c.text and ".x" not in c.text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "cp1251", "latin-1", "shift_jis"])
def test_encodings(tmp_path: Path, encoding: str) -> None:
    text = {
        "cp1251": "Привет, как дела? Это длинный русский текст для определения кодировки.",
        "shift_jis": "これは日本語の文章です。文字コードの判定をテストします。",
    }.get(encoding, "Ça va très bien, merci beaucoup. Déjà vu à l'hôtel.")
    path = tmp_path / "t.txt"
    path.write_bytes(text.encode(encoding))
    assert read(path)[0].text == text


def test_undecodable_bytes_never_crash() -> None:
    # A stray byte in an ASCII file reads as a legacy code page: one character, the rest intact.
    raw = b"mostly utf-8 text here " * 20 + b"\xff" + b" and more " * 20
    text = decode_text(raw)
    assert len(text) == len(raw) and text.startswith("mostly utf-8") and text.endswith("and more ")
    # Declared UTF-8 (BOM) with a byte that is not: U+FFFD in its place, the text around it kept.
    text = decode_text(b"\xef\xbb\xbf" + b"caf\xc3\xa9 " * 20 + b"\xff" + b" and more " * 20)
    assert text.count("\ufffd") == 1 and text.startswith("café") and text.endswith("and more ")
    with pytest.raises(ReadError):
        decode_text(b"\x00\x01\x02binary\x00" * 100)


def test_pdf_pages_and_title(tmp_path: Path) -> None:
    path = tmp_path / "doc.pdf"
    path.write_bytes(make_pdf(["First page about rivers.", "Second page (about mountains)."], title="Atlas"))
    [doc] = read(path)
    assert doc.title == "Atlas" and doc.format == "pdf"
    assert "rivers" in doc.text and "mountains" in doc.text
    assert [p[1] for p in doc.pages] == [1, 2]
    second = doc.pages[1][0]
    assert doc.text[second:].startswith("Second page")


def test_docx(tmp_path: Path) -> None:
    path = make_docx(
        tmp_path / "d.docx", "Rapport annuel", ["Premier paragraphe.", "Deuxième."], [["a", "b"], ["c", "d"]]
    )
    [doc] = read(path)
    assert doc.title == "Rapport annuel"
    assert "Premier paragraphe." in doc.text and "a | b" in doc.text


def test_tables_with_ids_and_metadata(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(
        "id,text,year,title\n001,Bonjour le monde,2020,Hi\n002,,2021,x\n003,Hallo Welt,2022,\n"
    )
    docs = read(tmp_path / "t.csv", id_column="id")
    assert [d.doc_id for d in docs] == ["001", "003"]  # empty text rows are not documents
    assert docs[0].metadata == {"year": "2020"} and docs[0].title == "Hi"
    assert docs[0].source.endswith("t.csv#row=1")
    (tmp_path / "t.tsv").write_text("body\tlang\nuno\tes\n")
    assert read(tmp_path / "t.tsv")[0].doc_id == "t.tsv#1"  # `body` guessed as the text column
    # Columns named like payload keys the indexer owns (`origin` marks who owns a document) are
    # kept under a prefix instead of overwriting them.
    (tmp_path / "owned.csv").write_text("text,origin,lang\nhello,/etc/passwd,xx\n")
    assert read(tmp_path / "owned.csv")[0].metadata == {"meta_origin": "/etc/passwd", "meta_lang": "xx"}
    (tmp_path / "t.jsonl").write_text('{"text": "a", "n": 1}\n\n{"text": "b", "n": 2}\n')
    assert [d.metadata["n"] for d in read(tmp_path / "t.jsonl")] == [1, 2]
    (tmp_path / "t.json").write_text(json.dumps({"data": [{"content": "x", "k": [1, 2]}]}))
    assert read(tmp_path / "t.json")[0].metadata == {"k": [1, 2]}
    pd.DataFrame(
        {
            "text": ["p", "q"],
            "score": [1.5, float("nan")],
            "when": pd.to_datetime(["2024-01-01", "2024-02-01"]),
        }
    ).to_parquet(tmp_path / "t.parquet")
    rows = read(tmp_path / "t.parquet")
    assert rows[0].metadata["score"] == 1.5 and "score" not in rows[1].metadata
    assert rows[0].metadata["when"].startswith("2024-01-01")


def test_unknown_extensions_are_sniffed(tmp_path: Path) -> None:
    (tmp_path / "notes.log").write_text("plain text with an unknown extension")
    assert read(tmp_path / "notes.log")[0].format == "txt"
    (tmp_path / "renamed.bin").write_bytes(make_pdf(["a pdf in disguise"]))
    assert read(tmp_path / "renamed.bin")[0].format == "pdf"
    (tmp_path / "blob.dat").write_bytes(bytes(range(256)) * 10)
    with pytest.raises(SkipFile, match="binary"):
        read(tmp_path / "blob.dat")


def test_upload_bytes() -> None:
    [doc] = read_upload("memo.md", b"# Memo\n\nTexte important.")
    assert doc.doc_id == "memo.md" and doc.title == "Memo" and doc.source == "upload:memo.md"


@pytest.mark.parametrize(
    ("name", "content", "kw", "error", "match"),
    [
        ("corrupt.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", {}, ReadError, "corrupt"),
        ("binary.txt", b"\x00\x01\x02\x03" * 500, {}, ReadError, "binary"),
        ("empty.txt", b"", {}, SkipFile, "empty"),
        ("blank.md", b"  \n\n  ", {}, SkipFile, "empty"),
        ("broken.csv", b'text,b\n"never closed,1\n', {}, ReadError, "invalid csv"),
        ("broken.json", b"{not json", {}, ReadError, "invalid json"),
        ("nocol.csv", b"title,note\nx,y\n", {}, ReadError, "no text column"),
        ("wrongcol.csv", b"text\nx\n", {"text_column": "body"}, ReadError, "no text column 'body'"),
        ("dupes.csv", b"id,text\n1,a\n1,b\n", {"id_column": "id"}, ReadError, "duplicate id"),
        ("corrupt.docx", b"PK\x03\x04 not really a zip", {}, ReadError, "corrupt"),
        ("scan.pdf", make_pdf([""]), {}, ReadError, "no text layer"),
    ],
)
def test_bad_inputs(tmp_path: Path, name: str, content: bytes, kw: dict, error: type, match: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error, match=match):
        read(path, **kw)


def test_unreadable_and_too_large(tmp_path: Path) -> None:
    (tmp_path / "gone.txt").symlink_to(tmp_path / "missing-target")
    with pytest.raises(ReadError, match="cannot read"):
        read(tmp_path / "gone.txt")
    (tmp_path / "loop.txt").symlink_to(tmp_path / "loop.txt")
    with pytest.raises(ReadError, match="cannot read"):
        read(tmp_path / "loop.txt")
    big = tmp_path / "big.txt"
    with big.open("wb") as fh:  # 50 MB, one line
        fh.write(b"x" * (50 * 1024 * 1024))
    with pytest.raises(ReadError, match="too large"):
        read(big)
