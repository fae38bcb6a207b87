"""Chunking (token budget, offsets, overlap, pages), keyword vectors and path discovery."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from indexer.chunking import ChunkConfig, Chunker
from indexer.discovery import discover
from indexer.sparse import sparse_vector, sparse_vectors

SENTENCES = (
    "The river flows through the old town. Children play on its banks every summer. "
    "In winter the water freezes and people skate on it. "
) * 12


def chunker(encoder, tokens: int = 64, overlap: int = 16) -> Chunker:
    return Chunker(
        encoder.tokenizer, encoder.max_seq_length, ChunkConfig(tokens, overlap), encoder.document_prefix()
    )


def test_chunks_fit_budget_and_map_back(encoder) -> None:
    text = "Title\n\n" + SENTENCES + "\n\n" + SENTENCES
    chunks = chunker(encoder).split(text)
    assert len(chunks) > 5
    for i, c in enumerate(chunks):
        assert c.index == i
        assert text[c.char_start : c.char_end] == c.text
        assert encoder.count_tokens(c.text) <= 64 + 4  # prefix + specials fit with the safety margin
    # Sentence-aware cuts: most chunks end at a sentence end.
    assert sum(c.text.rstrip().endswith(".") for c in chunks) >= len(chunks) - 1
    # Overlap: consecutive chunks share text.
    assert all(b.char_start < a.char_end for a, b in itertools.pairwise(chunks))
    # Full coverage.
    assert chunks[0].char_start == 0 and chunks[-1].char_end == len(text.rstrip())


def test_model_max_caps_the_budget(encoder) -> None:
    big = Chunker(
        encoder.tokenizer, encoder.max_seq_length, ChunkConfig(10_000, 0), encoder.document_prefix()
    )
    for c in big.split(SENTENCES * 10):
        assert encoder.count_tokens(c.text) <= encoder.max_seq_length


def test_pages_cjk_and_long_lines(encoder) -> None:
    text = "第一页的内容。" * 40 + "\n\n" + "第二页的内容。" * 40
    pages = [(0, 1), (text.index("第二页"), 2)]
    chunks = chunker(encoder).split(text, pages)
    assert chunks[0].page == 1 and chunks[-1].page == 2
    assert all(c.text.endswith("。") for c in chunks[:-1])  # CJK sentence ends without spaces
    line = "word" * 200_000  # 800 KB, no spaces or newlines at all
    t0 = time.perf_counter()
    long_chunks = chunker(encoder, 256, 32).split(line)
    assert time.perf_counter() - t0 < 30
    assert "".join(c.text for c in long_chunks[:1]) and long_chunks[-1].char_end == len(line)
    assert chunker(encoder).split("   \n ") == []


def test_sparse_vectors_are_keyword_bags(encoder) -> None:
    tok = encoder.tokenizer
    doc = sparse_vector(tok, "Paris Paris, the capital!")
    assert doc.indices == sorted(doc.indices) and len(doc.indices) == len(set(doc.indices))
    query = sparse_vector(tok, "PARIS", query=True)
    assert set(query.indices) <= set(doc.indices) and query.values == [1.0] * len(query.values)
    weights = dict(zip(doc.indices, doc.values, strict=True))
    assert weights[query.indices[0]] > min(weights.values())  # repeated term weighs more
    assert sparse_vector(tok, "!!! ...").indices == []
    for v in sparse_vectors(tok, ["Москва столица", "北京天气", "القطط"]):
        assert v.indices  # every script yields terms


def test_discovery(tmp_path: Path) -> None:
    for rel in ["a.txt", "sub/b.md", "sub/deep/c.txt", ".hidden.txt", ".git/config", "sub/x.log"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    rels = lambda found: [f.rel for f in found.files]  # noqa: E731
    assert rels(discover([tmp_path])) == ["a.txt", "sub/b.md", "sub/deep/c.txt", "sub/x.log"]
    assert rels(discover([tmp_path], include=["*.txt"])) == ["a.txt", "sub/deep/c.txt"]
    assert rels(discover([tmp_path], exclude=["deep/*", "*.log"])) == ["a.txt", "sub/b.md"]
    # .gitignore syntax: `**`, a folder name, anchoring with `/`, re-including with `!`.
    assert rels(discover([tmp_path], include=["sub/**/*.txt"])) == ["sub/deep/c.txt"]
    assert rels(discover([tmp_path], exclude=["deep"])) == ["a.txt", "sub/b.md", "sub/x.log"]
    assert rels(discover([tmp_path], exclude=["/*.txt"])) == ["sub/b.md", "sub/deep/c.txt", "sub/x.log"]
    assert rels(discover([tmp_path], exclude=["*.txt", "!c.txt"])) == [
        "sub/b.md",
        "sub/deep/c.txt",
        "sub/x.log",
    ]
    assert rels(discover([tmp_path / ".hidden.txt"])) == [".hidden.txt"]  # explicit: taken
    missing = discover([tmp_path / "nope"])
    assert missing.files == [] and missing.missing[0][1] == "no such file or folder"
