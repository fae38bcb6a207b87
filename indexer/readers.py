"""Formats → `Document`s: text, title, pages and metadata from files (or uploaded bytes).

Readers raise `ReadError` for a broken file (reported as failed) and `SkipFile` for a file
that holds nothing to index (reported as skipped); anything else they raise is a bug.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import logging
import math
import os
import re
import stat
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from rosetta.schema import PAYLOAD_KEYS

READER_VERSION = "1"
TEXT_EXTS = frozenset({".txt", ".text", ".md", ".markdown"})
HTML_EXTS = frozenset({".html", ".htm", ".xhtml"})
TABLE_EXTS = frozenset({".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet"})
KNOWN_EXTS = TEXT_EXTS | HTML_EXTS | TABLE_EXTS | {".pdf", ".docx"}
TEXT_COLUMN_GUESSES = ("text", "content", "body")
# Uploads get ids of their own ("upload:README.md"), so an anonymous upload can never take over a
# document indexed from a folder.
UPLOAD_NAMESPACE = "upload:"
SNIFF_BYTES = 1 << 18  # charset detection on the first 256 KiB: legacy encodings are uniform
# Payload keys the pipeline owns; a table column with one of these names gets a `meta_` prefix.
RESERVED_KEYS = PAYLOAD_KEYS


class ReadError(Exception):
    """The file is broken or unreadable; the message is the reason shown to the user."""


class SkipFile(Exception):
    """The file holds nothing to index (empty, binary of unknown type); the message says why."""


@dataclass(frozen=True)
class ReadOptions:
    text_column: str | None = None
    id_column: str | None = None
    # A text file this large is far more likely a dump or a log than a document; refuse it
    # (reported, nothing else affected) rather than spend an hour embedding it.
    max_file_mb: float = 25.0
    # Container formats (DOCX is a zip of XML) can unpack to far more than they weigh: a 47 KB
    # file can hold 30 MB of XML, and the XML libraries need ~250 bytes per element. Bounds on
    # what is unpacked and parsed keep one hostile upload from costing gigabytes or minutes.
    max_unpacked_mb: float = 256.0
    max_elements: int = 1_000_000
    max_zip_entries: int = 10_000
    max_parse_seconds: float = 300.0  # generous: long PDFs extract slowly; bombs hit the bounds above first
    title_column: str | None = None
    metadata_columns: tuple[str, ...] | None = None  # None: every column but text, id and title


@dataclass(frozen=True)
class SourceFile:
    """One input: a file on disk, or bytes (stdin, an upload) with a name."""

    rel: str  # document id for a single-document file: path relative to the given root
    path: Path | None = None
    data: bytes | None = None
    display: str = ""  # what `source` and reports show (the path as given)
    # Who owns the document ids this input yields: an absolute path, "upload" or "stdin". An id
    # held by one origin is not silently taken over by another (see `AddOptions.replace`).
    origin: str = ""

    @property
    def name(self) -> str:
        return self.display or self.rel

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.rel).suffix.lower()


@dataclass
class Document:
    doc_id: str
    source: str
    title: str
    text: str
    file: str  # the SourceFile.rel it came from (for incremental bookkeeping)
    fingerprint: str  # hash of what the reader consumed; the pipeline derives content_hash
    format: str
    pages: list[tuple[int, int]] | None = None  # (char offset where a page starts, page number)
    metadata: dict[str, Any] = field(default_factory=dict)
    note: str = ""  # about the whole file (set on its first document), e.g. rows left out


def load_bytes(src: SourceFile, options: ReadOptions) -> bytes:
    """The raw bytes of `src`, with size limits and OS errors turned into `ReadError`.

    Only regular files are read (a FIFO would block forever, /dev/zero never ends), and the size
    limit applies to the bytes actually read, not to what `stat` claims (/proc files say 0).
    """
    limit = int(options.max_file_mb * 1024 * 1024)
    bounded = src.suffix != ".parquet"
    if src.data is not None:
        raw = src.data
    else:
        assert src.path is not None
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer; the type is checked on the
            # opened file, so it cannot change between the check and the read.
            with os.fdopen(os.open(src.path, os.O_RDONLY | os.O_NONBLOCK), "rb") as fh:
                info = os.fstat(fh.fileno())
                if not stat.S_ISREG(info.st_mode):
                    raise SkipFile(
                        f"not a regular file ({_file_kind(info.st_mode)}); only regular files are read"
                    )
                if bounded and info.st_size > limit:
                    raise ReadError(
                        f"file too large ({info.st_size / 1e6:.1f} MB > "
                        f"{options.max_file_mb:g} MB limit); raise --max-file-mb to index it"
                    )
                raw = fh.read(limit + 1) if bounded else fh.read()
        except (ReadError, SkipFile):
            raise
        except IsADirectoryError:
            raise ReadError("cannot read: is a directory") from None
        except OSError as exc:
            raise ReadError(f"cannot read: {exc.strerror or exc}") from None
    if bounded and len(raw) > limit:
        raise ReadError(
            f"file too large (more than {options.max_file_mb:g} MB); raise --max-file-mb to index it"
        )
    return raw


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return kind
    return "special file"


def fingerprint(raw: bytes) -> str:
    return hashlib.sha256(READER_VERSION.encode() + b"\0" + raw).hexdigest()


def is_table(src: SourceFile) -> bool:
    return src.suffix in TABLE_EXTS


def read_source(src: SourceFile, options: ReadOptions, raw: bytes | None = None) -> list[Document]:
    """All documents in `src` (one for a text file, one per row for a table)."""
    raw = load_bytes(src, options) if raw is None else raw
    if not raw.strip():
        raise SkipFile("empty file")
    kind = _kind(src.suffix, raw)
    if kind is None:
        raise SkipFile("binary file of unknown type")
    reader = _READERS[kind]
    return reader(src, raw, options)


def read_upload(filename: str, data: bytes, options: ReadOptions = ReadOptions()) -> list[Document]:
    """Documents in an uploaded file (the web app's entry point); raises ReadError / SkipFile."""
    return read_source(SourceFile(rel=filename, data=data, display=f"upload:{filename}"), options)


# ---- format detection --------------------------------------------------------------------------
def _kind(suffix: str, raw: bytes) -> str | None:
    if suffix == ".pdf":
        return "pdf"
    if suffix == ".docx":
        return "docx"
    if suffix in HTML_EXTS:
        return "html"
    if suffix in TABLE_EXTS:
        return suffix.lstrip(".").replace("ndjson", "jsonl")
    if suffix in TEXT_EXTS:
        return "md" if suffix in {".md", ".markdown"} else "txt"
    # Unknown extension: magic numbers first, then "does it decode as text?".
    if raw.startswith(b"%PDF-"):
        return "pdf"
    if raw.startswith(b"PK\x03\x04") and b"word/" in raw[:65536]:
        return "docx"
    try:
        text = decode_text(raw[:SNIFF_BYTES])
    except ReadError:
        return None
    head = text[:2048].lstrip().lower()
    if head.startswith(("<!doctype html", "<html")):
        return "html"
    return "txt"


# ---- text decoding -----------------------------------------------------------------------------
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),  # before UTF-16: same prefix
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def decode_text(raw: bytes) -> str:
    """Bytes → str: BOMs, then strict UTF-8, then charset detection; binary → ReadError.

    Undecodable bytes in an otherwise textual file become U+FFFD instead of failing the file.
    """
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            return raw.decode(encoding, errors="replace")
    if b"\x00" in raw[:8192]:
        utf16 = _utf16_without_bom(raw[:8192])
        if utf16 is None:
            raise ReadError("binary content, not text")
        text = raw.decode(utf16, errors="replace")
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = _decode_mixed(raw) or _decode_legacy(raw)
    sample = text[:4096]
    if sample and len(_CONTROL.findall(sample)) > 0.05 * len(sample):
        raise ReadError("binary content, not text")
    return text


_LATIN_CODEPAGES = frozenset(
    {
        "cp1250",
        "cp1252",
        "cp1254",
        "cp1257",
        "cp775",
        "cp850",
        "cp437",
        "latin_1",
        "iso8859_2",
        "iso8859_3",
        "iso8859_4",
        "iso8859_9",
        "iso8859_10",
        "iso8859_13",
        "iso8859_14",
        "iso8859_15",
        "iso8859_16",
        "mac_roman",
        "mac_latin2",
        "mac_iceland",
        "mac_turkish",
    }
)


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le'/'-be' when `head` reads as text in one of them, else None.

    Wrong byte order still decodes, but to code points from unrelated blocks (Latin 'H' becomes
    U+4800, a space U+2000): the right reading is printable and its letters come from one or two
    scripts.
    """
    best, best_score = None, 0.0
    for encoding in ("utf-16-le", "utf-16-be"):
        text = head[: len(head) // 2 * 2].decode(encoding, errors="replace")
        score = _text_score(text)
        if score > best_score:
            best, best_score = encoding, score
    return best


def _script(char: str) -> int:
    code = ord(char)
    if code < 0x250:
        return 0  # Latin, with its accented letters
    if 0x3000 <= code <= 0x9FFF or 0xAC00 <= code <= 0xD7AF:
        return -1  # CJK and Hangul span hundreds of blocks but are one script each
    return code >> 7


def _text_score(text: str) -> float:
    """How plausible `text` is as prose: 0 when it is not, else its share of printable characters."""
    if not text or text.count("\ufffd") > 0.01 * len(text):
        return 0.0
    # Repeating byte patterns decode to a handful of distinct characters, often combining marks.
    if len(set(text)) < min(10, len(text) // 3):
        return 0.0
    if sum(unicodedata.category(c).startswith("M") for c in text) > 0.4 * len(text):
        return 0.0
    printable = sum(c.isprintable() or c in "\r\n\t" for c in text) / len(text)
    letters = [c for c in text if c.isalpha()]
    if printable < 0.95 or not letters:
        return 0.0
    top_two = sum(n for _, n in Counter(map(_script, letters)).most_common(2))
    return printable if top_two >= 0.9 * len(letters) else 0.0


def _decode_mixed(raw: bytes) -> str | None:
    """Files appended to by tools with different encodings: UTF-8 lines stay UTF-8, the others
    get the legacy encoding detected on them alone. None when no line has UTF-8 beyond ASCII
    (a purely legacy file: decoded as a whole)."""
    lines = raw.splitlines(keepends=True)
    utf8: list[str | None] = []
    for line in lines:
        try:
            utf8.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            utf8.append(None)
    if not any(text is not None and not text.isascii() for text in utf8):
        return None
    rest = b"".join(line for line, text in zip(lines, utf8, strict=True) if text is None)
    legacy = _legacy_encoding(rest) or "cp1252"
    return "".join(
        text if text is not None else line.decode(legacy, errors="replace")
        for line, text in zip(lines, utf8, strict=True)
    )


def _legacy_encoding(raw: bytes) -> str | None:
    from charset_normalizer import from_bytes

    matches = from_bytes(raw[:SNIFF_BYTES])
    best = matches.best()
    if best is not None and best.encoding in _LATIN_CODEPAGES:
        # Short Western-European texts fit several Latin code pages almost equally well; the
        # detector's pick among them is close to arbitrary, cp1252 is by far the likeliest.
        for m in matches:
            if (
                m.encoding == "cp1252"
                and m.chaos <= best.chaos + 0.15
                and m.coherence >= best.coherence - 0.05
            ):
                return "cp1252"
    return best.encoding if best is not None else None


def _decode_legacy(raw: bytes) -> str:
    encoding = _legacy_encoding(raw)
    if encoding is None:
        # Mostly UTF-8 with a few bad bytes (a truncated download) is still text.
        text = raw.decode("utf-8", errors="replace")
        if text.count("\ufffd") > 0.02 * max(len(text), 1):
            raise ReadError("binary content, not text (no text encoding fits)")
        return text
    return raw.decode(encoding, errors="replace")


# ---- readers -----------------------------------------------------------------------------------
def _single(
    src: SourceFile,
    raw: bytes,
    fmt: str,
    text: str,
    title: str | None,
    pages: list[tuple[int, int]] | None = None,
    **metadata: Any,
) -> list[Document]:
    if not text.strip():
        raise SkipFile("no text")
    return [
        Document(
            doc_id=src.rel,
            source=src.name,
            title=title or _stem(src.rel),
            text=text,
            file=src.rel,
            fingerprint=fingerprint(raw),
            format=fmt,
            pages=pages,
            metadata=metadata,
        )
    ]


def _stem(rel: str) -> str:
    return PurePosixPath(rel.removeprefix(UPLOAD_NAMESPACE)).name


MAX_TITLE_CHARS = 150


def first_line_title(text: str) -> str | None:
    """A short first line reads as a title (a file name says less); a long one is a paragraph."""
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line if len(line) <= MAX_TITLE_CHARS and not line.endswith((".", ",", ";", ":")) else None
    return None


def _read_txt(src: SourceFile, raw: bytes, options: ReadOptions) -> list[Document]:
    text = _normalize_newlines(decode_text(raw))
    return _single(src, raw, "txt", text, first_line_title(text))


_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _read_md(src: SourceFile, raw: bytes, options: ReadOptions) -> list[Document]:
    text = _normalize_newlines(decode_text(raw))
    m = _MD_HEADING.search(text[:10000])
    return _single(src, raw, "md", text, m.group(1).strip() if m else None)


_BLOCK_TAGS = (
    "p",
    "div",
    "br",
    "li",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "section",
    "article",
    "header",
    "footer",
    "pre",
    "blockquote",
    "table",
    "ul",
    "ol",
    "dd",
    "dt",
    "td",
    "th",
    "main",
    "aside",
    "nav",
    "figcaption",
    "hr",
)


def _read_html(src: SourceFile, raw: bytes, options: ReadOptions) -> list[Document]:
    from bs4 import BeautifulSoup

    text = decode_text(raw)
    _check_elements(text.count("<") - text.count("</"), options)
    soup = BeautifulSoup(text, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    # Only what a reader sees: no scripts, styles, templates or head metadata.
    for tag in soup(["script", "style", "noscript", "template", "head", "svg", "iframe", "object"]):
        tag.decompose()
    if not title and (h1 := soup.find("h1")) is not None:
        title = h1.get_text(" ", strip=True)
    # Block elements end a line, so paragraphs stay paragraphs for the chunker.
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_after("\n\n" if tag.name not in {"br", "td", "th"} else "\n")
    text = _tidy(soup.get_text(""))
    return _single(src, raw, "html", text, title or None)


def _read_pdf(src: SourceFile, raw: bytes, options: ReadOptions) -> list[Document]:
    from pypdf import PdfReader

    # pypdf logs every recoverable glitch of a damaged file; the report says what matters.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ReadError("encrypted PDF (password needed)")
        parts: list[str] = []
        pages: list[tuple[int, int]] = []
        offset = 0
        deadline = _Deadline(options.max_parse_seconds)
        for number, page in enumerate(reader.pages, start=1):
            deadline.check()
            page_text = unligature(_tidy(page.extract_text() or ""))
            pages.append((offset, number))
            parts.append(page_text)
            offset += len(page_text) + 2
        meta = reader.metadata
        meta_title = str(meta.title).strip() if meta is not None and meta.title else ""
    except ReadError:
        raise
    except Exception as exc:  # pypdf raises many types for damaged files
        raise ReadError(f"corrupt or unsupported PDF: {type(exc).__name__}: {exc}"[:300]) from None
    text = "\n\n".join(parts)
    if not text.strip():
        raise ReadError("PDF has no text layer (scanned?); run OCR on it first")
    # The first heading names the document; metadata titles are often tool junk ("about:blank",
    # "Microsoft Word - draft3.docx"), so they only fill in when the text starts with a paragraph.
    title = first_line_title(text) or (None if _junk_pdf_title(meta_title) else meta_title)
    return _single(src, raw, "pdf", text, title, pages, page_count=len(parts))


# Typographic ligatures (ﬁ, ﬂ, ﬀ…, U+FB00–FB06) as the letters they join: PDF text layers keep
# them, and then "proﬁtent" matches neither "profitent" in a search nor in an export.
_LIGATURES = {chr(c): unicodedata.normalize("NFKC", chr(c)) for c in range(0xFB00, 0xFB07)}
_LIGATURE_RE = re.compile("[" + "".join(_LIGATURES) + "]")


def unligature(text: str) -> str:
    return _LIGATURE_RE.sub(lambda m: _LIGATURES[m.group()], text)


def _junk_pdf_title(title: str) -> bool:
    low = title.strip().lower()
    return (
        not low
        or low in {"about:blank", "untitled", "title", "document", "none"}
        or low.startswith(("microsoft word - ", "http://", "https://", "file:"))
        or low.endswith((".doc", ".docx", ".pdf", ".tex", ".dvi", ".html", ".htm"))
    )


def _read_docx(src: SourceFile, raw: bytes, options: ReadOptions) -> list[Document]:
    import docx

    _check_zip(raw, options)
    deadline = _Deadline(options.max_parse_seconds)
    try:
        document = docx.Document(io.BytesIO(raw))
    except Exception as exc:  # zipfile, lxml and python-docx errors alike
        raise ReadError(f"corrupt or unsupported DOCX: {type(exc).__name__}: {exc}"[:300]) from None
    parts: list[str] = []
    title = (document.core_properties.title or "").strip() or None
    for para in document.paragraphs:
        deadline.check()
        text = para.text.strip()
        if not text:
            continue
        if title is None and (
            para.style is not None and (para.style.name or "").startswith(("Heading", "Title"))
        ):
            title = text
        parts.append(text)
    for table in document.tables:
        for row in table.rows:
            deadline.check()
            cells = [c.text.strip() for c in row.cells]
            if any(cells):
                parts.append(" | ".join(cells))
    return _single(src, raw, "docx", "\n\n".join(parts), title)


def _check_zip(raw: bytes, options: ReadOptions) -> None:
    """Refuse a zip whose parts would unpack or parse out of bounds, before any library opens it.

    zipfile never yields more than an entry's declared size, so the declared sizes bound what a
    reader can unpack; the XML parts are then streamed once to count their elements.
    """
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            entries = archive.infolist()
            if len(entries) > options.max_zip_entries:
                raise ReadError(
                    f"refused: the archive holds {len(entries):,} parts (limit "
                    f"{options.max_zip_entries:,}); a document does not need that many"
                )
            unpacked = sum(e.file_size for e in entries)
            if unpacked > options.max_unpacked_mb * 1024 * 1024:
                raise ReadError(
                    f"refused: unpacks to {unpacked / 1e6:,.0f} MB (limit "
                    f"{options.max_unpacked_mb:g} MB; a decompression bomb?)"
                )
            elements = 0
            for entry in entries:
                if not entry.filename.endswith((".xml", ".rels")):
                    continue
                with archive.open(entry) as part:
                    tail = b""
                    while block := part.read(1 << 20):
                        # Each element has one opening tag: count '<' not starting a closing tag.
                        block = tail + block
                        elements += block[:-1].count(b"<") - block.count(b"</")
                        tail = block[-1:]
                        _check_elements(elements, options)
                    elements += tail.count(b"<")
            _check_elements(elements, options)
    except ReadError:
        raise
    except Exception as exc:  # BadZipFile, zlib errors, CRC mismatches
        raise ReadError(f"corrupt or unsupported DOCX: {type(exc).__name__}: {exc}"[:300]) from None


def _check_elements(count: int, options: ReadOptions) -> None:
    if count > options.max_elements:
        raise ReadError(
            f"refused: more than {options.max_elements:,} markup elements (a "
            "decompression or markup bomb?); split the document"
        )


class _Deadline:
    """Per-file parse time limit, checked between the parser's steps (pages, paragraphs, rows)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.until = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.until:
            raise ReadError(
                f"gave up after {self.seconds:g} s of parsing (the per-file limit); split the document"
            )


# ---- tables ------------------------------------------------------------------------------------
def read_table_frame(name: str, raw: bytes) -> Any:
    """A table file (csv, tsv, json, jsonl, parquet, by the extension of `name`) as a DataFrame
    of its rows; the web UI previews this to let the user pick the columns."""
    import pandas as pd

    fmt = PurePosixPath(name).suffix.lower().lstrip(".").replace("ndjson", "jsonl")
    try:
        if fmt in ("csv", "tsv"):
            frame = pd.read_csv(
                io.StringIO(decode_text(raw)),
                sep="\t" if fmt == "tsv" else ",",
                dtype=str,
                keep_default_na=False,
            )
        elif fmt == "parquet":
            frame = pd.read_parquet(io.BytesIO(raw))
        else:
            frame = pd.DataFrame.from_records(_json_records(decode_text(raw), fmt))
    except ReadError:
        raise
    except Exception as exc:  # pandas/pyarrow parse errors have many types
        raise ReadError(f"invalid {fmt} table: {type(exc).__name__}: {exc}"[:300]) from None
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _read_table(src: SourceFile, raw: bytes, options: ReadOptions) -> list[Document]:
    fmt = src.suffix.lstrip(".").replace("ndjson", "jsonl")
    frame = read_table_frame(src.rel, raw)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    text_col = _text_column(columns, options.text_column)
    id_col = options.id_column
    for what, col in (("id", id_col), ("title", options.title_column)):
        if col is not None and col not in columns:
            raise ReadError(f"no {what} column '{col}' (columns: {', '.join(columns)})")
    title_col = options.title_column or guess_title_column(columns, exclude=(text_col, id_col))
    meta_cols = [
        c
        for c in columns
        if c not in (text_col, id_col, title_col)
        and (options.metadata_columns is None or c in options.metadata_columns)
    ]
    docs: list[Document] = []
    seen: dict[str, int] = {}
    deadline = _Deadline(options.max_parse_seconds)
    empty_rows: list[int] = []
    for row_number, record in enumerate(frame.to_dict("records"), start=1):
        if row_number % 1024 == 0:
            deadline.check()
        text = _cell_text(record.get(text_col))
        if not text.strip():
            empty_rows.append(row_number)
            continue
        ident = _cell_text(record.get(id_col)).strip() if id_col else ""
        doc_id = ident or f"{src.rel}#{row_number}"
        if doc_id in seen:
            raise ReadError(
                f"duplicate id '{doc_id}' in column '{id_col}' (rows {seen[doc_id]} and {row_number})"
            )
        seen[doc_id] = row_number
        metadata = {
            (f"meta_{c}" if c in RESERVED_KEYS else c): v
            for c in meta_cols
            if (v := _json_safe(record.get(c))) is not None
        }
        row_blob = json.dumps(
            [text, doc_id, metadata], sort_keys=True, ensure_ascii=False, default=str
        ).encode()
        title = _cell_text(record.get(title_col)).strip() if title_col else ""
        docs.append(
            Document(
                doc_id=doc_id,
                source=f"{src.name}#row={row_number}",
                title=title or f"{_stem(src.rel)} #{row_number}",
                text=_normalize_newlines(text),
                file=src.rel,
                fingerprint=fingerprint(row_blob),
                format=fmt,
                metadata=metadata,
            )
        )
    if not docs:
        raise SkipFile(f"no rows with text in column '{text_col}'")
    if empty_rows:
        shown = ", ".join(map(str, empty_rows[:10])) + (" …" if len(empty_rows) > 10 else "")
        docs[0].note = (
            f"{len(empty_rows)} row{'s' if len(empty_rows) != 1 else ''} without text in "
            f"column '{text_col}' left out (row {shown})"
        )
    return docs


TITLE_COLUMN_GUESSES = ("title", "headline", "name", "subject", "heading")


def guess_title_column(columns: Sequence[str], exclude: Sequence[str | None] = ()) -> str | None:
    for guess in TITLE_COLUMN_GUESSES:
        for c in columns:
            if c.lower() == guess and c not in exclude:
                return c
    return None


def guess_text_column(columns: Sequence[str]) -> str | None:
    """The column a table's text is taken from when none is named (None: no likely one)."""
    for guess in TEXT_COLUMN_GUESSES:
        for c in columns:
            if c.lower() == guess:
                return c
    return None


def _json_records(text: str, fmt: str) -> list[dict[str, Any]]:
    if fmt == "jsonl":
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise ReadError(f"invalid jsonl table: line {number}: {exc}") from None
            if not isinstance(value, dict):
                raise ReadError(f"invalid jsonl table: line {number} is not an object")
            records.append(value)
        return records
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ReadError(f"invalid json table: {exc}") from None
    if isinstance(value, dict):
        # {"data": [...]} style wrappers, else one object = one row.
        lists = [v for v in value.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        value = lists[0] if len(lists) == 1 else [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ReadError("invalid json table: expected an array of objects")
    return value


def _text_column(columns: Sequence[str], wanted: str | None) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise ReadError(f"no text column '{wanted}' (columns: {', '.join(columns)})")
        return wanted
    guess = guess_text_column(columns)
    if guess is not None:
        return guess
    raise ReadError(f"no text column: name one with --text-column (columns: {', '.join(columns)})")


def _cell_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value if isinstance(value, str) else str(value)


def _json_safe(value: Any) -> Any:
    """A table cell as a JSON payload value; None for missing."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()  # numpy scalar
        except (ValueError, AttributeError):
            value = value.tolist() if hasattr(value, "tolist") else str(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    if isinstance(value, list | tuple):
        return [v for v in (_json_safe(x) for x in value) if v is not None]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    try:
        import pandas as pd

        if value is pd.NaT or pd.isna(value):
            return None
        if isinstance(value, pd.Timestamp):
            return value.isoformat()
    except (TypeError, ValueError):
        pass
    return str(value)


# ---- helpers -----------------------------------------------------------------------------------
def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")
_BLANKS = re.compile(r"\n\s*\n\s*")


def _tidy(text: str) -> str:
    """Collapse runs of spaces and blank lines (HTML/PDF layout noise); keep paragraph breaks."""
    text = _normalize_newlines(text)
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANKS.sub("\n\n", text).strip()


_READERS: dict[str, Callable[[SourceFile, bytes, ReadOptions], list[Document]]] = {
    "txt": _read_txt,
    "md": _read_md,
    "html": _read_html,
    "pdf": _read_pdf,
    "docx": _read_docx,
    "csv": _read_table,
    "tsv": _read_table,
    "jsonl": _read_table,
    "json": _read_table,
    "parquet": _read_table,
}
