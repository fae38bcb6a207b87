"""What an ingest run did: the report the CLI prints and the web app shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FileIssue:
    path: str
    error: str


@dataclass
class IngestReport:
    files_seen: int = 0
    files_indexed: int = 0
    files_unchanged: int = 0
    files_skipped: int = 0
    files_failed: list[FileIssue] = field(default_factory=list)
    chunks_added: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0
    # Not in the JSON (its keys are a fixed, documented format); shown in the human report.
    skipped: list[FileIssue] = field(default_factory=list)
    notes: list[FileIssue] = field(default_factory=list)  # files that went in, with a remark
    documents_added: int = 0
    documents_pruned: int = 0

    @property
    def ok(self) -> bool:
        return not self.files_failed

    @property
    def chunks_per_second(self) -> float:
        return self.chunks_added / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "files_seen": self.files_seen,
            "files_indexed": self.files_indexed,
            "files_unchanged": self.files_unchanged,
            "files_skipped": self.files_skipped,
            "files_failed": [{"path": f.path, "error": f.error} for f in self.files_failed],
            "chunks_added": self.chunks_added,
            "chunks_deleted": self.chunks_deleted,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class CollectionStats:
    collection: str
    points: int
    documents: int
    languages: dict[str, int]
    model: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "documents": self.documents,
            "languages": self.languages,
            "model": self.model,
        }


@dataclass(frozen=True)
class IngestProgress:
    """Passed to the progress callback (always from the thread that called `Index.add`)."""

    files_total: int
    files_done: int
    chunks_done: int  # embedded so far
    chunks_queued: int  # chunks known so far (grows as files are read)
    current: str | None = None
    files_read: int = 0  # read and chunked so far (files_done counts those fully written)
