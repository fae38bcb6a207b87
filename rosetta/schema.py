"""The payload of a stored chunk: every key the indexer writes, which of them the store indexes,
and which the pipeline reads back for its own bookkeeping.

Anything else in a payload is a metadata column of the source table, stored as read.
"""

from __future__ import annotations

# Where the chunk comes from and what it says (`page_count`: PDFs only).
DOCUMENT_KEYS = ("doc_id", "source", "file", "title", "format", "page_count")
CHUNK_KEYS = (
    "lang",
    "doc_lang",
    "chunk_index",
    "chunk_count",
    "char_start",
    "char_end",
    "page",
    "page_end",
    "text",
)
# When and from what it was made; `origin` names the input that owns the document (its absolute
# path, or "upload" / "stdin").
PROVENANCE_KEYS = ("ingested_at", "content_hash", "origin")

# Every key the indexer writes; a table column with one of these names is stored as `meta_<name>`.
PAYLOAD_KEYS = frozenset(DOCUMENT_KEYS + CHUNK_KEYS + PROVENANCE_KEYS)

# Payload indexes every collection gets: keyword filters (language, document, path prefix) and
# the integer/datetime fields the search and the UI filter or sort on.
KEYWORD_FIELDS = ("lang", "doc_lang", "doc_id", "source", "content_hash")
PREFIX_FIELD = "source"  # its keyword index also serves path-prefix filters
INTEGER_FIELDS = ("chunk_index",)
DATETIME_FIELDS = ("ingested_at",)

# What an incremental run reads back from the store to decide what changed.
STATE_FIELDS = ("doc_id", "content_hash", "chunk_index", "chunk_count", "file", "origin")
