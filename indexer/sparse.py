"""Keyword sparse vectors for hybrid search, over the model tokenizer's token ids.

Language-agnostic: the multilingual tokenizer already segments every script (CJK included),
so a term is a token id of the case-folded text. Documents get BM25 term-frequency weights
(saturation k1, length normalisation b); Qdrant multiplies in the IDF (the collection's sparse
vector has the IDF modifier). Queries get weight 1 per distinct term, as in BM25.
The search core must call `sparse_vectors(..., query=True)` with the same tokenizer.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rosetta.store import SparseVector

K1 = 1.2
B = 0.75
AVG_DOC_TOKENS = 128.0  # a typical chunk; BM25's length normalisation only needs a scale
_skip_cache: dict[int, frozenset[int]] = {}


def _skip_ids(tokenizer: Any) -> frozenset[int]:
    """Special tokens and tokens that are only the word marker or punctuation/symbols."""
    key = id(tokenizer)
    cached = _skip_cache.get(key)
    if cached is not None:
        return cached
    skip = set(tokenizer.all_special_ids)
    for token, token_id in tokenizer.get_vocab().items():
        core = token.replace("▁", "").replace("Ġ", "").replace("##", "").strip()
        if not core or all(unicodedata.category(ch)[0] in "PSZC" for ch in core):
            skip.add(token_id)
    result = frozenset(skip)
    _skip_cache[key] = result
    return result


def sparse_vectors(tokenizer: Any, texts: Sequence[str], *, query: bool = False) -> list[SparseVector]:
    """One sparse vector per text (indices sorted; empty when a text has no terms)."""
    if not texts:
        return []
    skip = _skip_ids(tokenizer)
    ids_list = tokenizer(
        [t.casefold() for t in texts], add_special_tokens=False, return_attention_mask=False, verbose=False
    )["input_ids"]
    out: list[SparseVector] = []
    for ids in ids_list:
        counts = Counter(i for i in ids if i not in skip)
        if not counts:
            out.append(SparseVector([], []))
            continue
        indices = sorted(counts)
        if query:
            out.append(SparseVector(indices, [1.0] * len(indices)))
            continue
        norm = K1 * (1 - B + B * sum(counts.values()) / AVG_DOC_TOKENS)
        out.append(SparseVector(indices, [counts[i] * (K1 + 1) / (counts[i] + norm) for i in indices]))
    return out


def sparse_vector(tokenizer: Any, text: str, *, query: bool = False) -> SparseVector:
    return sparse_vectors(tokenizer, [text], query=query)[0]
