"""Structure-aware, token-budgeted chunking with the model's own tokenizer.

A document is tokenized once (with character offsets). Every token boundary gets a break
priority from the text between the two tokens (paragraph > sentence/line > word > none), and
chunks are cut greedily at the best boundary that keeps them inside the token budget. The
next chunk starts a few tokens back (overlap), at a sentence or word start when there is one.
The token ids of each chunk come along, so nothing is tokenized twice for chunking.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PARAGRAPH, SENTENCE, WORD, NONE = 3, 2, 1, 0
# Sentence-final punctuation across scripts (Latin, CJK, Devanagari, Arabic, Ethiopic, Armenian…).
SENTENCE_END = frozenset(".!?…。！？｡।॥؟۔።፧՝։")
CLOSERS = frozenset("\"'»”’)]}」』）")
BLOCK_CHARS = 100_000  # tokenize long texts in blocks: bounded memory, batched in the tokenizer
SAFETY_TOKENS = 4  # re-tokenizing a slice can differ by a token or two at its edges


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    char_start: int
    char_end: int
    n_tokens: int
    page: int | None = None
    page_end: int | None = None  # the page the chunk ends on (a chunk can span a page break)


@dataclass(frozen=True)
class ChunkConfig:
    max_tokens: int = 256
    overlap: int = 32

    def signature(self) -> str:
        return f"chunk:{self.max_tokens}:{self.overlap}"


class Chunker:
    """Split texts into chunks that fit the model (prefix and special tokens included)."""

    def __init__(
        self, tokenizer: Any, model_max_tokens: int, config: ChunkConfig = ChunkConfig(), prefix: str = ""
    ) -> None:
        self.tokenizer = tokenizer
        reserved = len(tokenizer(prefix, add_special_tokens=True)["input_ids"]) + SAFETY_TOKENS
        self.budget = max(8, min(config.max_tokens, model_max_tokens - reserved))
        self.overlap = max(0, min(config.overlap, self.budget // 4))
        self.config = config

    def split(self, text: str, pages: Sequence[tuple[int, int]] | None = None) -> list[Chunk]:
        offsets = self._offsets(text)
        n = len(offsets)
        if n == 0:
            return []
        prio = _priorities(text, offsets)
        spans: list[tuple[int, int]] = []
        start = 0
        while start < n:
            end = n if n - start <= self.budget else self._cut(prio, start)
            spans.append((start, end))
            if end >= n:
                break
            start = self._next_start(prio, start, end)
        page_starts = [p[0] for p in pages] if pages else []
        chunks: list[Chunk] = []
        for start, end in spans:
            cs, ce = offsets[start][0], offsets[end - 1][1]
            page = page_end = None
            if pages and page_starts[0] <= cs:
                page = pages[bisect.bisect_right(page_starts, cs) - 1][1]
                page_end = pages[bisect.bisect_right(page_starts, max(cs, ce - 1)) - 1][1]
            chunks.append(Chunk(len(chunks), text[cs:ce], cs, ce, end - start, page, page_end))
        return chunks

    def _offsets(self, text: str) -> list[tuple[int, int]]:
        blocks = _blocks(text)
        enc = self.tokenizer(
            [text[a:b] for a, b in blocks],
            add_special_tokens=False,
            return_offsets_mapping=True,
            return_attention_mask=False,
            verbose=False,
        )
        offsets: list[tuple[int, int]] = []
        for (base, _), block_offsets in zip(blocks, enc["offset_mapping"], strict=True):
            offsets.extend((base + s, base + e) for s, e in block_offsets if e > s)
        return offsets

    def _cut(self, prio: list[int], start: int) -> int:
        """End (exclusive) of the chunk starting at token `start`: the last best break in budget."""
        limit = start + self.budget
        for level, floor in (
            (PARAGRAPH, start + self.budget // 2),
            (SENTENCE, start + self.budget // 2),
            (WORD, start + 1),
        ):
            for j in range(limit, floor - 1, -1):
                if prio[j] >= level:
                    return j
        return limit

    def _next_start(self, prio: list[int], start: int, end: int) -> int:
        lo = max(start + 1, end - self.overlap)
        if self.overlap == 0:
            return end
        for level in (SENTENCE, WORD):
            for j in range(lo, end + 1):
                if prio[j] >= level:
                    return j
        return lo


def _blocks(text: str) -> list[tuple[int, int]]:
    """Char spans of at most BLOCK_CHARS, cut at whitespace so no token straddles two blocks."""
    spans = []
    start, n = 0, len(text)
    while start < n:
        end = min(n, start + BLOCK_CHARS)
        if end < n:
            cut = max(text.rfind("\n", start, end), text.rfind(" ", start, end))
            end = cut + 1 if cut > start else end
        spans.append((start, end))
        start = end
    return spans


_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def _priorities(text: str, offsets: list[tuple[int, int]]) -> list[int]:
    """prio[i] = how good a place it is to cut before token i (prio[n] = end of text)."""
    n = len(offsets)
    prio = [NONE] * (n + 1)
    prio[0] = prio[n] = PARAGRAPH
    for i in range(1, n):
        prev_end, cur_start = offsets[i - 1][1], offsets[i][0]
        if cur_start > prev_end:
            gap = text[prev_end:cur_start]
            if "\n" in gap:
                prio[i] = PARAGRAPH if _BLANK_LINE.search(gap) or gap.count("\n") > 1 else SENTENCE
            elif _ends_sentence(text, prev_end):
                prio[i] = SENTENCE
            elif gap.isspace():
                prio[i] = WORD
        elif prev_end > 0 and text[prev_end - 1] in "。！？｡":
            prio[i] = SENTENCE  # CJK sentences run on without spaces
    return prio


def _ends_sentence(text: str, end: int) -> bool:
    k = end - 1
    while k > 0 and text[k] in CLOSERS:
        k -= 1
    return text[k] in SENTENCE_END
