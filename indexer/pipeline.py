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

import dataclasses
import logging
import os
import queue
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from indexer.chunking import ChunkConfig, Chunker
from indexer.discovery import discover
from indexer.ids import chunk_id, content_hash
from indexer.readers import (
    UPLOAD_NAMESPACE,
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
from rosetta.langid import detect, majority
from rosetta.models import Encoder, ModelIdentity
from rosetta.models.language_vectors import LanguageVectors, LanguageVectorsError, for_model
from rosetta.schema import STATE_FIELDS
from rosetta.store import (
    CollectionOptions,
    ModelMismatchError,
    Point,
    QdrantStore,
    SparseVector,
    VectorStore,
    collection_options,
    match,
    open_store,
)

log = logging.getLogger(__name__)
PIPELINE_VERSION = "1"
# A reader that has sent nothing for this long is slower than the encoder: encode what is waiting.
# Flushing whenever the queue was merely empty for an instant made groups of one batch, which
# cannot be sorted by length (1.78 padded tokens per real token on a mixed-language corpus).
IDLE_FLUSH_S = 0.05
# How far the reader may run ahead of the encoder, in groups of chunks. A bound in files (64)
# starved the encoder on corpora of small files: a group of 256 chunks waited for the reader.
READ_AHEAD_GROUPS = 2
# The encoder thread needs the GIL back between torch ops; while the reader runs Python (language
# id), it waited up to Python's 5 ms switch interval each time. 1 ms during a run: pipeline/encoder
# ratio 0.879 → 0.915 with the bf16 encoder (3 adds of ~1,100 chunks, side by side).
GIL_SWITCH_S = 0.001
ProgressCallback = Callable[[IngestProgress], None]
OPTIMIZING = "building the search index"  # IngestProgress.current while the store optimizes


@dataclass(frozen=True)
class Upload:
    """A file given as bytes. Its document id is `namespace + name` ("upload:notes.md"); the
    operator's own stdin (`rosetta index -`) uses namespace "" and origin "stdin"."""

    name: str
    data: bytes
    namespace: str = UPLOAD_NAMESPACE
    origin: str = "upload"

    def source(self) -> SourceFile:
        return SourceFile(
            rel=self.namespace + self.name,
            data=self.data,
            display=f"upload:{self.name}" if self.namespace else f"<{self.origin}>",
            origin=self.origin,
        )


@dataclass(frozen=True)
class AddOptions:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    text_column: str | None = None
    id_column: str | None = None
    prune: bool = False
    max_file_mb: float = 25.0
    # A document id already held by another existing file (or an upload, or stdin) is taken over
    # only when asked: otherwise the newcomer fails with the reason, nothing is replaced.
    replace: bool = False
    title_column: str | None = None
    metadata_columns: tuple[str, ...] | None = None  # None: every other column

    def read_options(self) -> ReadOptions:
        return ReadOptions(
            self.text_column,
            self.id_column,
            self.max_file_mb,
            title_column=self.title_column,
            metadata_columns=self.metadata_columns,
        )


# ---- what the store already holds ---------------------------------------------------------------
@dataclass
class _DocState:
    file: str | None = None
    origin: str | None = None
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
    n_tokens: int  # what batch-invariant encoders' batches are sorted by


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

    def __init__(
        self,
        store: VectorStore,
        encoder: Encoder,
        collection: str,
        *,
        batch_size: int = 32,
        chunk: ChunkConfig = ChunkConfig(),
        options: CollectionOptions = CollectionOptions(),
        group_batches: int = 8,
        language_vectors: LanguageVectors | None = None,
    ) -> None:
        self.store = store
        self.encoder = encoder
        # For a new collection; an existing one keeps the shift it was built with (see ensure).
        self.language_vectors = language_vectors
        self.collection = collection
        self.batch_size = batch_size
        self.chunk_config = chunk
        self.collection_options = options
        # The reader thread tokenizes (chunks, keyword vectors) while the encoder tokenizes a batch:
        # it must not share the encoder's tokenizer instance.
        self.tokenizer = encoder.worker_tokenizer
        self.chunker = Chunker(self.tokenizer, encoder.max_seq_length, chunk, encoder.document_prefix())
        # Encoding a group of several batches at once lets sentence-transformers sort by length
        # within the group, so batches carry little padding (as when encoding everything at once).
        self.group_size = batch_size * group_batches
        self._ensured = False

    @classmethod
    def open(
        cls,
        settings: Any,
        *,
        encoder: Encoder | None = None,
        collection: str | None = None,
        recreate: bool = False,
        index_fields: Sequence[str] = (),
        chunk: ChunkConfig = ChunkConfig(),
    ) -> Index:
        """Open the configured store and collection (created on first use) for ingesting."""
        if encoder is None:
            encoder = Encoder.from_settings(settings)
        store = open_store(settings)
        try:
            vectors = model_language_vectors(encoder) if settings.language_neutral else None
            index = cls(
                store,
                encoder,
                collection or settings.collection,
                batch_size=settings.batch_size,
                chunk=chunk,
                options=collection_options(settings, index_fields),
                language_vectors=vectors,
            )
            index.ensure(recreate=recreate)
        except BaseException:
            store.close()
            raise
        return index

    def ensure(self, recreate: bool = False) -> None:
        """Create the collection, or check it holds this model's vectors (ModelMismatchError).

        A collection is either language-shifted throughout or not at all: an existing one keeps
        the language vectors its identity names, whatever this Index was given for new ones.
        """
        if not recreate and self.store.exists(self.collection):
            stored = self.store.identity(self.collection)
            if stored is not None:
                self.encoder = self.encoder.for_collection(stored)
            if stored is not None and stored.language_shift != self._shift_tag():
                self.language_vectors = collection_language_vectors(stored, self.encoder)
        self.store.ensure_collection(
            self.collection, self.identity, recreate=recreate, options=self.collection_options
        )
        self._ensured = True

    def _shift_tag(self) -> str:
        return self.language_vectors.tag if self.language_vectors is not None else ""

    @property
    def identity(self) -> ModelIdentity:
        """The collection's identity: the model's, plus the language shift its vectors carry."""
        return dataclasses.replace(self.encoder.identity, language_shift=self._shift_tag())

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- public API -------------------------------------------------------------------------
    def add(
        self,
        paths: Iterable[str | Path | Upload] = (),
        *,
        options: AddOptions = AddOptions(),
        progress: ProgressCallback | None = None,
        **kwargs: Any,
    ) -> IngestReport:
        """Index files, folders (recursive), '-' (stdin) and `Upload`s; return what happened.

        Unchanged documents are skipped, changed ones have exactly their chunks replaced; a broken
        file is reported in the result and never stops the run; a re-run after an interruption
        finishes the job without duplicates.

        Args:
            paths: files, folders, "-" for stdin, or `Upload`s (bytes with a name).
            options: what to read and how (`AddOptions`: include/exclude globs, table columns,
                prune, max file size, replace).
            progress: called with an `IngestProgress` per file read and per embedded batch.
            **kwargs: `AddOptions` fields (include=, exclude=, text_column=, id_column=, prune=,
                max_file_mb=, replace=), for convenience.

        Returns:
            An `IngestReport`: files seen / indexed / unchanged / skipped / failed (with reasons),
            chunks added and deleted, seconds.

        Raises:
            ModelMismatchError: the collection holds vectors of another model.
            StoreError: the store cannot be opened or written (one-line message).
        """
        if kwargs:
            options = AddOptions(
                **{
                    **options.__dict__,
                    **{k: tuple(v) if k in ("include", "exclude") else v for k, v in kwargs.items()},
                }
            )
        started = time.perf_counter()
        if not self._ensured:
            self.ensure()
        items = list(paths)
        uploads = [u.source() for u in items if isinstance(u, Upload)]
        found = discover([p for p in items if not isinstance(p, Upload)], options.include, options.exclude)
        sources = uploads + found.files
        report = IngestReport(files_seen=len(sources) + len(found.missing))
        report.files_failed.extend(FileIssue(p, why) for p, why in found.missing)

        state, by_file = self._load_state()
        works = self._run(_Plan(sources, state, by_file, options), report, progress)

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
        if report.chunks_added or report.chunks_deleted:
            # Build the search index now, so no run leaves a segment every search must scan.
            if progress is not None:
                progress(
                    IngestProgress(
                        len(sources), len(sources), report.chunks_added, report.chunks_added, OPTIMIZING
                    )
                )
            self.store.optimize(self.collection)
        report.seconds = time.perf_counter() - started
        return report

    def add_upload(
        self, filename: str, data: bytes, *, progress: ProgressCallback | None = None, **kwargs: Any
    ) -> IngestReport:
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
            doc.origin = p.get("origin")
            doc.points[hit.id] = (
                str(p.get("content_hash")),
                int(p.get("chunk_index", -1)),
                int(p.get("chunk_count", -1)),
            )
            if doc.file is not None:
                by_file[doc.file].add(doc_id)
        return dict(state), dict(by_file)

    def _prune(
        self,
        state: dict[str, _DocState],
        by_file: dict[str, set[str]],
        seen_files: set[str],
        missing: list[tuple[str, str]],
        report: IngestReport,
    ) -> None:
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

    # ---- the three stages: read (a thread), embed (this thread), write (a thread) ----------------
    def _run(self, plan: _Plan, report: IngestReport, progress: ProgressCallback | None) -> list[_FileWork]:
        stop = threading.Event()
        prepared = _ReadAhead(self.group_size * READ_AHEAD_GROUPS)
        stage = _EmbedStage(self, len(plan.sources), prepared, progress)
        reader = threading.Thread(
            target=self._prepare_all, name="rosetta-reader", daemon=True, args=(plan, prepared, stop)
        )
        writer = threading.Thread(
            target=self._write_all,
            name="rosetta-writer",
            daemon=True,
            args=(stage.writes, stage.counters, stage.writer_errors, stop),
        )
        reader.start()
        writer.start()
        _short_gil_switch(True)
        try:
            stage.tick(force=True)
            for work in stage.prepared_files():
                stage.take(work)
            stage.finish(writer)
        except BaseException:
            # Ctrl-C, a store error, or the progress callback cancelling: let the writer finish
            # the operation it is in (so the store is not closed under it), then stop.
            stop.set()
            writer.join(timeout=30)
            raise
        finally:
            _short_gil_switch(False)
            stage.threads.restore()
            stop.set()
            reader.join(timeout=5)
        report.chunks_added += stage.counters["written"]
        report.chunks_deleted += stage.counters["deleted"]
        stage.current = None
        stage.tick(force=True)
        return stage.works

    def _prepare_all(self, plan: _Plan, out: _ReadAhead, stop: threading.Event) -> None:
        claimed: dict[str, SourceFile] = {}  # doc id → the input that produced it in this run
        try:
            for src in plan.sources:
                if stop.is_set():
                    return
                work = self._prepare(src, plan, claimed)
                if not out.put(work, len(work.chunks), stop):
                    return
            out.put(_DONE, 0, stop)
        except BaseException as exc:  # a bug here must surface in the caller, not hang it
            out.put(_Failure(exc), 0, stop)

    def _prepare(self, src: SourceFile, plan: _Plan, claimed: dict[str, SourceFile]) -> _FileWork:
        state, options = plan.state, plan.options
        signature = f"{PIPELINE_VERSION}|{self.chunk_config.signature()}"
        read_options = options.read_options()
        old_docs = {d for d in plan.by_file.get(src.rel, set()) if _may_replace(state[d], src, options)}
        try:
            raw = load_bytes(src, read_options)
            if not is_table(src) and raw.strip() and old_docs <= {src.rel}:
                # Fast path: an unchanged single-document file is not even parsed.
                doc_state = state.get(src.rel)
                if doc_state is not None:
                    if clash := _collision([src.rel], src, state, claimed, options):
                        return _FileWork(src, "failed", clash)
                    complete, others = doc_state.split(content_hash(fingerprint(raw), signature))
                    # A take-over (--replace) rewrites even identical content: the points must
                    # name their new owner.
                    if complete and not _held_by_other(doc_state, src):
                        return _FileWork(
                            src, "indexed" if others else "unchanged", stale_ids=others, doc_ids=[src.rel]
                        )
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
        if clash := _collision([d.doc_id for d in docs], src, state, claimed, options):
            return _FileWork(src, "failed", clash)

        work = _FileWork(src, "unchanged", note=docs[0].note if docs else "")
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for doc in docs:
            work.doc_ids.append(doc.doc_id)
            doc_hash = content_hash(doc.fingerprint, signature)
            doc_state = state.get(doc.doc_id)
            if doc_state is not None:
                complete, others = doc_state.split(doc_hash)
                work.stale_ids.extend(others)
                if complete and not _held_by_other(doc_state, src):
                    continue
            chunks = self.chunker.split(doc.text, doc.pages)
            if not chunks:
                continue
            langs = [detect(c.text) for c in chunks]
            doc_lang = majority(langs)
            sparse = sparse_vectors(self.tokenizer, [c.text for c in chunks])
            for chunk, lang, sp in zip(chunks, langs, sparse, strict=True):
                payload: dict[str, Any] = {
                    **doc.metadata,
                    "doc_id": doc.doc_id,
                    "source": doc.source,
                    "file": doc.file,
                    "title": doc.title,
                    "format": doc.format,
                    "lang": lang,
                    "doc_lang": doc_lang,
                    "chunk_index": chunk.index,
                    "chunk_count": len(chunks),
                    "char_start": chunk.char_start,
                    "char_end": chunk.char_end,
                    "text": chunk.text,
                    "ingested_at": now,
                    "content_hash": doc_hash,
                }
                if src.origin:
                    payload["origin"] = src.origin
                if chunk.page is not None:
                    payload["page"] = chunk.page
                if chunk.page_end is not None and chunk.page_end != chunk.page:
                    payload["page_end"] = chunk.page_end
                work.chunks.append(
                    _ChunkWork(
                        chunk_id(doc.doc_id, chunk.index, doc_hash), chunk.text, payload, sp, chunk.n_tokens
                    )
                )
            work.docs_embedded += 1
        # Rows (documents) that disappeared from a table that is still there.
        for gone in old_docs - set(work.doc_ids):
            work.stale_ids.extend(state[gone].points)
        if work.chunks or work.stale_ids:
            work.status = "indexed"
        return work

    def _write_all(
        self,
        writes: queue.Queue[Any],
        counters: dict[str, int],
        errors: list[BaseException],
        stop: threading.Event,
    ) -> None:
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


class _ReadAhead:
    """The reader's output queue, bounded by the chunks it holds rather than by files: the reader
    may run `limit` chunks ahead of the encoder; one file larger than that still passes alone."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: deque[tuple[Any, int]] = deque()
        self.chunks = 0
        self.cond = threading.Condition()
        self.waiting = False  # the reader waits for room
        self.finished = False  # the reader has sent its last item

    @property
    def reader_working(self) -> bool:
        """Is the reader using a core right now (neither waiting for room nor finished)?"""
        return not (self.waiting or self.finished)

    def put(self, item: Any, chunks: int, stop: threading.Event) -> bool:
        """Queue `item` once there is room; False if the run was stopped meanwhile."""
        with self.cond:
            while self.items and self.chunks + chunks > self.limit:
                if stop.is_set():
                    return False
                self.waiting = True
                self.cond.wait(timeout=0.2)
            self.waiting = False
            self.items.append((item, chunks))
            self.chunks += chunks
            self.finished = item is _DONE or isinstance(item, _Failure)
            self.cond.notify_all()
        return True

    def get(self, timeout: float) -> Any:
        """The next item; raises queue.Empty after `timeout` seconds without one."""
        with self.cond:
            if not self.items and not self.cond.wait_for(lambda: bool(self.items), timeout=timeout):
                raise queue.Empty
            item, chunks = self.items.popleft()
            self.chunks -= chunks
            self.cond.notify_all()
        return item


@dataclass
class _Plan:
    """What one `add` run works from: the input files, what the store holds, the options."""

    sources: list[SourceFile]
    state: dict[str, _DocState]  # doc id → its points
    by_file: dict[str, set[str]]  # file → its doc ids
    options: AddOptions


class _EmbedStage:
    """The middle stage of a run, on the calling thread: takes the files the reader prepared,
    embeds their chunks in groups and queues the points for the writer, each file (its stale
    points to delete) once all of its chunks are queued; reports progress as it goes."""

    def __init__(
        self, index: Index, files: int, prepared: _ReadAhead, progress: ProgressCallback | None
    ) -> None:
        self.index = index
        self.files = files
        self.prepared = prepared
        self.writes: queue.Queue[Any] = queue.Queue(maxsize=3)
        self.progress = progress
        self.counters = {"files_done": 0, "written": 0, "deleted": 0}
        self.writer_errors: list[BaseException] = []
        self.works: list[_FileWork] = []
        self.buffer: list[_ChunkWork] = []
        self.pending: list[tuple[int, _FileWork]] = []  # (stream position of its last chunk, work)
        self.queued = self.flushed = self.embedded = 0
        self.current: str | None = None
        self.threads = _EncoderThreads(index.encoder)
        self._last_tick = 0.0

    def tick(self, force: bool = False) -> None:
        if self.progress is None or (not force and time.monotonic() - self._last_tick < 0.2):
            return
        self._last_tick = time.monotonic()
        self.progress(
            IngestProgress(
                self.files,
                self.counters["files_done"],
                self.embedded,
                self.queued,
                self.current,
                files_read=len(self.works),
            )
        )

    def prepared_files(self) -> Iterator[_FileWork]:
        """The reader's files in order, until it is done (its failure raised here)."""
        batch_size = self.index.batch_size
        while True:
            try:
                item = self.prepared.get(timeout=0.2 if len(self.buffer) < batch_size else IDLE_FLUSH_S)
            except queue.Empty:
                # The reader is slow (a big PDF, say): encode the whole batches already waiting
                # rather than let the encoder idle until a group has gathered.
                if ready := len(self.buffer) // batch_size * batch_size:
                    self.flush(ready)
                self.tick()
                continue
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item

    def take(self, work: _FileWork) -> None:
        self.works.append(work)
        self.current = work.src.name
        self.buffer.extend(work.chunks)
        self.queued += len(work.chunks)
        self.pending.append((self.queued, work))
        self.tick(force=True)  # per file read: the count moves before any embedding
        while len(self.buffer) >= (size := self._group_size()):
            self.flush(size)
        self._release_finished()  # files with nothing to embed are finished at once (in stream order)

    def _group_size(self) -> int:
        # The first group is small so the encoder starts after 2 batches have been read, not 8.
        index = self.index
        return index.group_size if self.flushed else min(index.group_size, 2 * index.batch_size)

    def flush(self, n: int) -> None:
        """Embed the first `n` buffered chunks and queue their points."""
        index = self.index
        group, self.buffer = self.buffer[:n], self.buffer[n:]
        vectors: list[Any] = [None] * len(group)
        # Batch by batch, so progress moves while a large group is being embedded; longest first
        # across the whole group, by tokens (least padding). An encoder whose vectors depend on
        # their batch (dynamic int8) gets the order one encoder call sorts in, by characters: the
        # batches its quality gate measured (see OnnxRunner.encode).
        if index.encoder.batch_invariant:
            order = sorted(range(len(group)), key=lambda i: -group[i].n_tokens)
        else:
            order = sorted(range(len(group)), key=lambda i: -len(group[i].text))
        for start in range(0, len(order), index.batch_size):
            idx = order[start : start + index.batch_size]
            self.threads.fit(reader_working=self.prepared.reader_working)
            out = index.encoder.encode_documents([group[i].text for i in idx], batch_size=index.batch_size)
            for i, v in zip(idx, out, strict=True):
                vectors[i] = v
            self.embedded += len(idx)
            self.tick(force=True)
        if index.language_vectors is not None:
            vectors = list(
                index.language_vectors.shift_documents(
                    np.asarray(vectors), [c.payload["lang"] for c in group]
                )
            )
        self.put([Point(c.id, v, c.payload, c.sparse) for c, v in zip(group, vectors, strict=True)])
        self.flushed += len(group)
        self._release_finished()
        self.tick()

    def _release_finished(self) -> None:
        while self.pending and self.pending[0][0] <= self.flushed:
            self.put(self.pending.pop(0)[1])

    def put(self, item: Any) -> None:
        """Queue a write, raising the writer's error if it failed meanwhile."""
        while True:
            if self.writer_errors:
                raise self.writer_errors[0]
            try:
                self.writes.put(item, timeout=0.2)
                return
            except queue.Full:
                self.tick()

    def finish(self, writer: threading.Thread) -> None:
        """Embed what is left, tell the writer it is the end and wait for it."""
        if self.buffer:
            self.flush(len(self.buffer))
        self.put(None)
        while writer.is_alive():
            writer.join(timeout=0.2)
            self.tick()
        if self.writer_errors:
            raise self.writer_errors[0]


class _EncoderThreads:
    """The torch bf16 encoder's thread count, batch by batch: one thread while the reader is
    working, all of them otherwise. With every core in torch's OpenMP team, the reader preempts one
    of its threads and the others wait at the next barrier: CPU taken from the encoder cost about
    twice its own time (bench/reader_contention.py). Measured side by side (4 adds of ~800 chunks):
    bf16 pipeline/encoder 0.843 → 0.903, and in bench/ingest.py 0.81 → 0.88; torch fp32, whose
    encoder is 2.5x slower so the reader weighs less, lost (0.99 → 0.94) and keeps all its threads.
    ONNX Runtime sessions keep their thread count."""

    full: int | None = None  # the process's own count, read once (runs in several threads share it)

    def __init__(self, encoder: Encoder) -> None:
        self.torch = encoder.cpu_bf16
        if self.torch and _EncoderThreads.full is None:
            _EncoderThreads.full = _torch_threads()
        self.current = _torch_threads() if self.torch else 0

    def fit(self, reader_working: bool) -> None:
        if not self.torch or self.full is None:
            return
        want = 1 if reader_working else self.full
        if want != self.current:
            _torch_threads(want)
            self.current = want

    def restore(self) -> None:
        self.fit(reader_working=False)


def _torch_threads(n: int | None = None) -> int:
    import torch

    if n is not None:
        torch.set_num_threads(n)
    return torch.get_num_threads()


_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.005


def _short_gil_switch(enter: bool) -> None:
    """GIL_SWITCH_S while any run is going on (runs in several threads, e.g. two uploads in the UI,
    share it); Python's own interval again when the last one ends."""
    global _switch_users, _switch_saved
    with _switch_lock:
        if enter:
            if _switch_users == 0:
                _switch_saved = sys.getswitchinterval()
                sys.setswitchinterval(min(_switch_saved, GIL_SWITCH_S))
            _switch_users += 1
        else:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


def _held_by_other(prior: _DocState, src: SourceFile) -> bool:
    """Does another input that still exists own this document (points written before origins
    were recorded have none: they belong to whoever comes)?"""
    if not prior.origin or not src.origin or prior.origin == src.origin:
        return False
    # A file that owned the id and is gone (moved, renamed) loses nothing when it is taken over.
    return not prior.origin.startswith("/") or os.path.lexists(prior.origin)


def _may_replace(prior: _DocState, src: SourceFile, options: AddOptions) -> bool:
    """May `src` replace (or delete) the points of a document it shares an id with?"""
    return options.replace or not _held_by_other(prior, src)


def _collision(
    doc_ids: Sequence[str],
    src: SourceFile,
    state: dict[str, _DocState],
    claimed: dict[str, SourceFile],
    options: AddOptions,
) -> str | None:
    """Why `src` may not write these ids (another input holds one), or None; claims them if free."""
    for doc_id in doc_ids:
        other = claimed.get(doc_id)
        if other is not None and other.origin != src.origin:
            return (
                f"document id '{doc_id}' is also produced by {other.name} in this run; "
                "give them distinct ids (e.g. --id-column values) or index them separately"
            )
        prior = state.get(doc_id)
        if prior is not None and not _may_replace(prior, src, options):
            return (
                f"document id '{doc_id}' already belongs to {prior.origin}; index both in one "
                "run (ids then include their folders), or pass --replace to let this one take it over"
            )
    for doc_id in doc_ids:
        claimed[doc_id] = src
    return None


def model_language_vectors(encoder: Encoder) -> LanguageVectors | None:
    """The language vectors made for this encoder's model, if there are any."""
    ident = encoder.identity
    try:
        return for_model(ident.name, ident.weights_sha256)
    except LanguageVectorsError as exc:
        log.warning("no language-neutral vectors: %s", exc)
        return None


def collection_language_vectors(stored: ModelIdentity, encoder: Encoder) -> LanguageVectors | None:
    """The language vectors a collection's identity names (None for a plain collection).

    Raises ModelMismatchError when they are not available for this model any more: adding
    unshifted (or differently shifted) vectors would leave the collection half-corrected.
    """
    if not stored.language_shift:
        return None
    vectors = model_language_vectors(encoder)
    if vectors is None or vectors.tag != stored.language_shift:
        raise ModelMismatchError(
            f"the collection's vectors were made language-neutral with {stored.language_shift}, "
            f"which is not available for {encoder.identity.describe()}; use the model and Rosetta "
            "version that built it, or --recreate to rebuild the collection"
        )
    return vectors


def collection_stats(store: VectorStore, collection: str) -> CollectionStats:
    """Points, documents (distinct ids among first chunks), chunks per language, model identity.

    Counting first chunks alone is not enough: between a crash and the re-run, a changed document
    holds the first chunk of its old and of its new version.
    """
    identity = store.identity(collection)
    first_chunks = store.iterate(collection, where=_where_first_chunk(), with_payload=["doc_id"], batch=4096)
    return CollectionStats(
        collection=collection,
        points=store.count(collection),
        documents=len({str(hit.payload.get("doc_id")) for hit in first_chunks}),
        languages=store.facet(collection, "lang", limit=1000),
        model=identity.to_dict() if identity is not None else None,
    )


def _where_first_chunk() -> Any:
    from qdrant_client import models

    return models.Filter(must=[match("chunk_index", 0)])


__all__ = [
    "AddOptions",
    "Index",
    "IngestProgress",
    "IngestReport",
    "QdrantStore",
    "Upload",
    "collection_stats",
]
