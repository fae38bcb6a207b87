"""The `Index` API: paths (or uploads) in, chunks with dense + keyword vectors out, incrementally.

Three stages overlap so the encoder is never waiting on anything cheap:
  reader thread   discover → read → hash check → chunk → language → sparse vectors
  calling thread  encode groups of chunks (the only expensive step)
  writer thread   upsert points; delete a file's stale points once its new ones are stored

Crash safety comes from the ids: a chunk's id is derived from (doc id, chunk index, content
hash), every point records its document's `chunk_count`, and stale points are deleted only
after their replacements are written. A document counts as unchanged only if the store holds
exactly its `chunk_count` points for the current hash, so a run killed anywhere is completed
by the next one with exact counts and no duplicates.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from indexer.chunking import ChunkConfig, Chunker
from indexer.discovery import discover
from indexer.ids import chunk_id, content_hash
from indexer.readers import (
    ReadError,
    ReadOptions,
    SkipFile,
    SourceFile,
    fingerprint,
    is_table,
    load_bytes,
    read_source,
)
from indexer.report import CollectionStats, FileIssue, IngestProgress, IngestReport
from indexer.sparse import sparse_vectors
from indexer.store import (
    CollectionOptions,
    Point,
    QdrantStore,
    SparseVector,
    VectorStore,
    collection_options,
    match,
    open_store,
)
from rosetta.langid import detect, majority
from rosetta.models import Encoder

log = logging.getLogger(__name__)
PIPELINE_VERSION = "1"
LANG_SAMPLE_CHARS = 1000  # langdetect converges long before this; longer text only costs time
STATE_FIELDS = ["doc_id", "content_hash", "chunk_index", "chunk_count", "file"]
ProgressCallback = Callable[[IngestProgress], None]


@dataclass(frozen=True)
class Upload:
    """A file given as bytes (web upload, stdin): `name` becomes its document id."""

    name: str
    data: bytes


@dataclass(frozen=True)
class AddOptions:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    text_column: str | None = None
    id_column: str | None = None
    prune: bool = False
    max_file_mb: float = 25.0
    title_column: str | None = None
    metadata_columns: tuple[str, ...] | None = None  # None: every other column

    def read_options(self) -> ReadOptions:
        return ReadOptions(self.text_column, self.id_column, self.max_file_mb,
                           title_column=self.title_column, metadata_columns=self.metadata_columns)


# ---- what the store already holds ---------------------------------------------------------------
@dataclass
class _DocState:
    file: str | None = None
    points: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # id → (hash, index, count)

    def split(self, current_hash: str) -> tuple[bool, list[str]]:
        """(points for `current_hash` are complete, ids of all other points)."""
        mine = {idx for h, idx, _ in self.points.values() if h == current_hash}
        counts = {cnt for h, _, cnt in self.points.values() if h == current_hash}
        complete = len(counts) == 1 and mine == set(range(next(iter(counts))))
        others = [pid for pid, (h, _, _) in self.points.items() if h != current_hash]
        return complete, others


# ---- work items passed between the stages -------------------------------------------------------
@dataclass
class _ChunkWork:
    id: str
    text: str
    payload: dict[str, Any]
    sparse: SparseVector


@dataclass
class _FileWork:
    src: SourceFile
    status: str  # indexed | unchanged | skipped | failed
    reason: str = ""
    chunks: list[_ChunkWork] = field(default_factory=list)
    stale_ids: list[str] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)
    docs_embedded: int = 0
    note: str = ""  # something the user should know about a file that went in (e.g. empty rows)


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()


class Index:
    """Ingest documents into one collection. Not thread-safe: one `add` at a time."""

    def __init__(self, store: VectorStore, encoder: Encoder, collection: str, *, batch_size: int = 32,
                 chunk: ChunkConfig = ChunkConfig(), options: CollectionOptions = CollectionOptions(),
                 group_batches: int = 8) -> None:
        self.store = store
        self.encoder = encoder
        self.collection = collection
        self.batch_size = batch_size
        self.chunk_config = chunk
        self.collection_options = options
        self.chunker = Chunker(encoder.tokenizer, encoder.max_seq_length, chunk, encoder.document_prefix())
        # Encoding a group of several batches at once lets sentence-transformers sort by length
        # within the group, so batches carry little padding (as when encoding everything at once).
        self.group_size = batch_size * group_batches
        self._ensured = False

    @classmethod
    def open(cls, settings: Any, *, encoder: Encoder | None = None, collection: str | None = None,
             recreate: bool = False, index_fields: Sequence[str] = (),
             chunk: ChunkConfig = ChunkConfig()) -> Index:
        """Open the configured store and collection (created on first use) for ingesting."""
        if encoder is None:
            from rosetta.settings import resolve_device

            encoder = Encoder.load(settings.model, settings.models_dir, resolve_device(settings.device),
                                   settings.precision)
        store = open_store(settings)
        try:
            index = cls(store, encoder, collection or settings.collection, batch_size=settings.batch_size,
                        chunk=chunk, options=collection_options(settings, index_fields))
            index.ensure(recreate=recreate)
        except BaseException:
            store.close()
            raise
        return index

    def ensure(self, recreate: bool = False) -> None:
        """Create the collection, or check it holds this model's vectors (ModelMismatchError)."""
        self.store.ensure_collection(self.collection, self.encoder.identity, recreate=recreate,
                                     options=self.collection_options)
        self._ensured = True

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- public API -------------------------------------------------------------------------
    def add(self, paths: Iterable[str | Path | Upload] = (), *, options: AddOptions = AddOptions(),
            progress: ProgressCallback | None = None, **kwargs: Any) -> IngestReport:
        """Index files, folders (recursive), '-' (stdin) and `Upload`s; return what happened.

        Keyword arguments are `AddOptions` fields (include=, exclude=, text_column=, id_column=,
        prune=, max_file_mb=), for convenience.
        """
        if kwargs:
            options = AddOptions(**{**options.__dict__, **{k: tuple(v) if k in ("include", "exclude")
                                                           else v for k, v in kwargs.items()}})
        started = time.perf_counter()
        if not self._ensured:
            self.ensure()
        items = list(paths)
        uploads = [SourceFile(rel=u.name, data=u.data, display=f"upload:{u.name}")
                   for u in items if isinstance(u, Upload)]
        found = discover([p for p in items if not isinstance(p, Upload)], options.include,
                         options.exclude)
        sources = uploads + found.files
        report = IngestReport(files_seen=len(sources) + len(found.missing))
        report.files_failed.extend(FileIssue(p, why) for p, why in found.missing)

        state, by_file = self._load_state()
        works = self._run(sources, state, by_file, options, report, progress)

        seen_files = {w.src.rel for w in works}
        for work in works:
            if work.note:
                report.notes.append(FileIssue(work.src.name, work.note))
            if work.status == "failed":
                report.files_failed.append(FileIssue(work.src.name, work.reason))
            elif work.status == "skipped":
                report.files_skipped += 1
                report.skipped.append(FileIssue(work.src.name, work.reason))
            elif work.status == "unchanged":
                report.files_unchanged += 1
            else:
                report.files_indexed += 1
                report.documents_added += work.docs_embedded
        if options.prune:
            self._prune(state, by_file, seen_files, found.missing, report)
        report.seconds = time.perf_counter() - started
        return report

    def add_upload(self, filename: str, data: bytes, *, progress: ProgressCallback | None = None,
                   **kwargs: Any) -> IngestReport:
        """Index one uploaded file (bytes + its name)."""
        return self.add([Upload(filename, data)], progress=progress, **kwargs)

    def stats(self) -> CollectionStats:
        return collection_stats(self.store, self.collection)

    # ---- state --------------------------------------------------------------------------------
    def _load_state(self) -> tuple[dict[str, _DocState], dict[str, set[str]]]:
        """doc id → its points (hash, index, count), and file → its doc ids; one scroll, no vectors."""
        state: dict[str, _DocState] = defaultdict(_DocState)
        by_file: dict[str, set[str]] = defaultdict(set)
        for hit in self.store.iterate(self.collection, with_payload=STATE_FIELDS, batch=2048):
            p = hit.payload
            doc_id = str(p.get("doc_id"))
            doc = state[doc_id]
            doc.file = p.get("file")
            doc.points[hit.id] = (str(p.get("content_hash")), int(p.get("chunk_index", -1)),
                                  int(p.get("chunk_count", -1)))
            if doc.file is not None:
                by_file[doc.file].add(doc_id)
        return dict(state), dict(by_file)

    def _prune(self, state: dict[str, _DocState], by_file: dict[str, set[str]], seen_files: set[str],
               missing: list[tuple[str, str]], report: IngestReport) -> None:
        if missing:
            # A mistyped path must not wipe the collection.
            log.warning("not pruning: some given paths do not exist")
            report.files_failed.append(FileIssue("--prune", "not pruned: some given paths do not exist"))
            return
        doomed_docs = [d for f, docs in by_file.items() if f not in seen_files for d in docs]
        ids = [pid for d in doomed_docs for pid in state[d].points]
        if ids:
            self.store.delete_ids(self.collection, ids)
        report.chunks_deleted += len(ids)
        report.documents_pruned = len(doomed_docs)

    # ---- the three stages ---------------------------------------------------------------------
    def _run(self, sources: list[SourceFile], state: dict[str, _DocState], by_file: dict[str, set[str]],
             options: AddOptions, report: IngestReport, progress: ProgressCallback | None
             ) -> list[_FileWork]:
        stop = threading.Event()
        prepared: queue.Queue[Any] = queue.Queue(maxsize=64)
        writes: queue.Queue[Any] = queue.Queue(maxsize=3)
        counters = {"files_done": 0, "written": 0, "deleted": 0}
        writer_errors: list[BaseException] = []
        reader = threading.Thread(target=self._prepare_all, name="rosetta-reader", daemon=True,
                                  args=(sources, state, by_file, options, prepared, stop))
        writer = threading.Thread(target=self._write_all, name="rosetta-writer", daemon=True,
                                  args=(writes, counters, writer_errors, stop))
        works: list[_FileWork] = []
        buffer: list[_ChunkWork] = []
        pending: list[tuple[int, _FileWork]] = []  # (stream position of its last chunk, work)
        queued = flushed = embedded = 0
        current: str | None = None
        last_tick = 0.0

        def tick(force: bool = False) -> None:
            nonlocal last_tick
            if progress is None or (not force and time.monotonic() - last_tick < 0.2):
                return
            last_tick = time.monotonic()
            progress(IngestProgress(len(sources), counters["files_done"], embedded, queued, current,
                                    files_read=len(works)))

        def put(q: queue.Queue[Any], item: Any) -> None:
            while True:
                if writer_errors:
                    raise writer_errors[0]
                try:
                    q.put(item, timeout=0.2)
                    return
                except queue.Full:
                    tick()

        def flush(n: int) -> None:
            nonlocal buffer, flushed, embedded
            group, buffer = buffer[:n], buffer[n:]
            vectors: list[Any] = [None] * len(group)
            # Batch by batch, so progress moves while a large group is being embedded; longest
            # first across the whole group, as one call would sort them (less padding).
            order = sorted(range(len(group)), key=lambda i: -len(group[i].text))
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                out = self.encoder.encode_documents([group[i].text for i in idx], batch_size=self.batch_size)
                for i, v in zip(idx, out, strict=True):
                    vectors[i] = v
                embedded += len(idx)
                tick(force=True)
            put(writes, [Point(c.id, v, c.payload, c.sparse) for c, v in zip(group, vectors, strict=True)])
            flushed += len(group)
            while pending and pending[0][0] <= flushed:
                put(writes, pending.pop(0)[1])
            tick()

        reader.start()
        writer.start()
        try:
            tick(force=True)
            while True:
                try:
                    item = prepared.get(timeout=0.2)
                except queue.Empty:
                    tick()
                    continue
                if item is _DONE:
                    break
                if isinstance(item, _Failure):
                    raise item.exc
                works.append(item)
                current = item.src.name
                buffer.extend(item.chunks)
                queued += len(item.chunks)
                pending.append((queued, item))
                tick(force=True)  # per file read: the count moves before any embedding
                while len(buffer) >= self.group_size:
                    flush(self.group_size)
                # Files with nothing to embed are finished at once (in stream order).
                while pending and pending[0][0] <= flushed:
                    put(writes, pending.pop(0)[1])
            if buffer:
                flush(len(buffer))
            put(writes, None)
            while writer.is_alive():
                writer.join(timeout=0.2)
                tick()
            if writer_errors:
                raise writer_errors[0]
        except BaseException:
            # Ctrl-C, a store error, or the progress callback cancelling: let the writer finish
            # the operation it is in (so the store is not closed under it), then stop.
            stop.set()
            writer.join(timeout=30)
            raise
        finally:
            stop.set()
            reader.join(timeout=5)
        report.chunks_added += counters["written"]
        report.chunks_deleted += counters["deleted"]
        current = None
        tick(force=True)
        return works

    def _prepare_all(self, sources: list[SourceFile], state: dict[str, _DocState],
                     by_file: dict[str, set[str]], options: AddOptions, out: queue.Queue[Any],
                     stop: threading.Event) -> None:
        try:
            for src in sources:
                if stop.is_set():
                    return
                work = self._prepare(src, state, by_file, options)
                while not stop.is_set():
                    try:
                        out.put(work, timeout=0.2)
                        break
                    except queue.Full:
                        continue
            out.put(_DONE)
        except BaseException as exc:  # a bug here must surface in the caller, not hang it
            out.put(_Failure(exc))

    def _prepare(self, src: SourceFile, state: dict[str, _DocState], by_file: dict[str, set[str]],
                 options: AddOptions) -> _FileWork:
        signature = f"{PIPELINE_VERSION}|{self.chunk_config.signature()}"
        read_options = options.read_options()
        old_docs = by_file.get(src.rel, set())
        try:
            raw = load_bytes(src, read_options)
            if not is_table(src) and raw.strip() and old_docs <= {src.rel}:
                # Fast path: an unchanged single-document file is not even parsed.
                doc_state = state.get(src.rel)
                if doc_state is not None:
                    complete, others = doc_state.split(content_hash(fingerprint(raw), signature))
                    if complete:
                        return _FileWork(src, "indexed" if others else "unchanged", stale_ids=others,
                                         doc_ids=[src.rel])
            docs = read_source(src, read_options, raw)
        except ReadError as exc:
            return _FileWork(src, "failed", str(exc))
        except SkipFile as exc:
            # Nothing to index any more: whatever this file contributed before is stale.
            stale = [pid for d in old_docs for pid in state[d].points]
            return _FileWork(src, "skipped", str(exc), stale_ids=stale)
        except Exception as exc:  # a reader bug must cost one file, not the run
            log.debug("reader crashed on %s", src.name, exc_info=True)
            return _FileWork(src, "failed", f"unexpected error: {type(exc).__name__}: {exc}"[:300])

        work = _FileWork(src, "unchanged", note=docs[0].note if docs else "")
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for doc in docs:
            work.doc_ids.append(doc.doc_id)
            doc_hash = content_hash(doc.fingerprint, signature)
            doc_state = state.get(doc.doc_id)
            if doc_state is not None:
                complete, others = doc_state.split(doc_hash)
                work.stale_ids.extend(others)
                if complete:
                    continue
            chunks = self.chunker.split(doc.text, doc.pages)
            if not chunks:
                continue
            langs = [detect(c.text[:LANG_SAMPLE_CHARS]) for c in chunks]
            doc_lang = majority(langs)
            sparse = sparse_vectors(self.encoder.tokenizer, [c.text for c in chunks])
            for chunk, lang, sp in zip(chunks, langs, sparse, strict=True):
                payload: dict[str, Any] = {
                    **doc.metadata,
                    "doc_id": doc.doc_id, "source": doc.source, "file": doc.file, "title": doc.title,
                    "format": doc.format, "lang": lang, "doc_lang": doc_lang,
                    "chunk_index": chunk.index, "chunk_count": len(chunks),
                    "char_start": chunk.char_start, "char_end": chunk.char_end,
                    "text": chunk.text, "ingested_at": now, "content_hash": doc_hash,
                }
                if chunk.page is not None:
                    payload["page"] = chunk.page
                if chunk.page_end is not None and chunk.page_end != chunk.page:
                    payload["page_end"] = chunk.page_end
                work.chunks.append(_ChunkWork(chunk_id(doc.doc_id, chunk.index, doc_hash), chunk.text,
                                              payload, sp))
            work.docs_embedded += 1
        # Rows (documents) that disappeared from a table that is still there.
        for gone in old_docs - set(work.doc_ids):
            work.stale_ids.extend(state[gone].points)
        if work.chunks or work.stale_ids:
            work.status = "indexed"
        return work

    def _write_all(self, writes: queue.Queue[Any], counters: dict[str, int],
                   errors: list[BaseException], stop: threading.Event) -> None:
        try:
            while True:
                try:
                    op = writes.get(timeout=0.2)
                except queue.Empty:
                    if stop.is_set():
                        return
                    continue
                if op is None or stop.is_set():
                    return
                if isinstance(op, list):
                    self.store.upsert(self.collection, op)
                    counters["written"] += len(op)
                else:
                    # All of this file's new chunks are stored: now its old ones can go.
                    if op.stale_ids:
                        self.store.delete_ids(self.collection, op.stale_ids)
                        counters["deleted"] += len(op.stale_ids)
                    counters["files_done"] += 1
        except BaseException as exc:
            errors.append(exc)


def collection_stats(store: VectorStore, collection: str) -> CollectionStats:
    """Points, documents (points with chunk_index 0), chunks per language, model identity."""
    identity = store.identity(collection)
    return CollectionStats(
        collection=collection,
        points=store.count(collection),
        documents=store.count(collection, where=_where_first_chunk()),
        languages=store.facet(collection, "lang", limit=1000),
        model=identity.to_dict() if identity is not None else None,
    )


def _where_first_chunk() -> Any:
    from qdrant_client import models

    return models.Filter(must=[match("chunk_index", 0)])


__all__ = ["AddOptions", "Index", "IngestProgress", "IngestReport", "QdrantStore", "Upload",
           "collection_stats"]
