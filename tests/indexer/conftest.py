"""Indexer fixtures: file builders (real PDFs and DOCX) and a small multilingual corpus written by the
tests (the store backends: tests/conftest.py)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

CORPUS = {
    "en/cats.txt": "Cats are small domesticated carnivorous mammals. They sleep for most of the day "
    "and hunt mice at night.\n\nMany people keep cats as pets in their homes.",
    "fr/chats.md": "# Les chats\n\nLes chats sont de petits mammifères carnivores domestiqués. Ils "
    "dorment la plus grande partie de la journée et chassent les souris la nuit.",
    "de/wetter.txt": "Das Wetter in Berlin ist heute kalt und regnerisch. Morgen soll die Sonne "
    "scheinen, aber der Wind bleibt stark.",
    "es/cocina.html": "<html><head><title>Cocina española</title><style>p{color:red}</style>"
    "<script>var x = 'no indexar';</script></head><body><h1>Paella</h1><p>La paella "
    "es un plato tradicional de Valencia que se prepara con arroz, azafrán y "
    "mariscos frescos.</p></body></html>",
    "ru/moskva.txt": "Москва является столицей России и крупнейшим городом страны. Летом в городе "
    "тепло, а зимой очень холодно и идёт снег.",
    "zh/tianqi.txt": "今天北京的天气很好，阳光明媚。明天可能会下雨，请记得带伞。我们周末去公园散步吧。",
    "ar/qitat.txt": "القطط حيوانات أليفة صغيرة تحب النوم طوال اليوم. يحب الناس القطط ويربونها في "
    "منازلهم منذ آلاف السنين.",
}
CORPUS_LANGS = {"en", "fr", "de", "es", "ru", "zh", "ar"}


def write_corpus(root: Path, files: dict[str, str] = CORPUS) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus")


# ---- real files ------------------------------------------------------------------------------
def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal valid PDF with a text layer (Helvetica, WinAnsi): one string per page."""

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    objects: list[bytes] = []
    n = len(pages)
    first_page = 4
    kids = " ".join(f"{first_page + 2 * i} 0 R" for i in range(n))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for i, text in enumerate(pages):
        body = (
            "BT /F1 11 Tf 72 740 Td 14 TL "
            + " ".join(f"({esc(line)}) Tj T*" for line in text.split("\n"))
            + " ET"
        )
        data = body.encode("cp1252")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> "
            f">> /Contents {first_page + 2 * i + 1} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
    info = None
    if title:
        objects.append(f"<< /Title ({esc(title)}) >>".encode())
        info = len(objects)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    trailer = f"<< /Size {len(objects) + 1} /Root 1 0 R" + (f" /Info {info} 0 R" if info else "") + " >>"
    out += b"trailer\n" + trailer.encode() + b"\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def make_docx(path: Path, heading: str, paragraphs: list[str], table: list[list[str]] | None = None) -> Path:
    import docx

    document = docx.Document()
    document.add_heading(heading, level=1)
    for p in paragraphs:
        document.add_paragraph(p)
    if table:
        t = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                t.cell(r, c).text = value
    document.save(str(path))
    return path


def bomb_docx(paragraphs: int = 5_000_000) -> bytes:
    """A valid DOCX whose document.xml holds millions of empty paragraphs (~80 KB zipped)."""
    import docx

    buf = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("hello")
    document.save(buf)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for entry in src.infolist():
            data = src.read(entry)
            if entry.filename == "word/document.xml":
                text = data.decode()
                at = text.index("<w:body>") + len("<w:body>")
                data = (text[:at] + "<w:p/>" * paragraphs + text[at:]).encode()
            dst.writestr(entry.filename, data)
    return out.getvalue()
