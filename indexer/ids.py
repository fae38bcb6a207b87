"""Deterministic ids and content hashes: re-running on the same input writes the same points."""

from __future__ import annotations

import hashlib
import uuid

# Fixed namespace: changing it would make every existing collection look changed.
NAMESPACE = uuid.UUID("5b0c3c1e-6f4e-5d2a-9a57-2f1d4c0e7b11")


def content_hash(fingerprint: str, *parts: str) -> str:
    """What decides "unchanged": the reader's fingerprint plus the chunking/reading settings."""
    digest = hashlib.sha256(fingerprint.encode())
    for part in parts:
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()[:32]


def chunk_id(doc_id: str, chunk_index: int, content_hash: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{doc_id}\x1f{chunk_index}\x1f{content_hash}"))
