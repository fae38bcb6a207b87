"""What analysts see of a document: PDF titles from the first heading, ligatures as letters, page
ranges for passages across a page break, table rows without text counted, text titles from the
first line; and ingest progress that moves per file and per batch."""

from __future__ import annotations

from pathlib import Path

from indexer.chunking import ChunkConfig, Chunker
from indexer.pipeline import Index
from indexer.readers import ReadOptions, SourceFile, read_source, unligature
from tests.indexer.conftest import make_pdf


def read(path: Path, **options: object):
    return read_source(SourceFile(rel=path.name, path=path), ReadOptions(**options))  # type: ignore[arg-type]


def test_pdf_title_is_the_first_heading_not_junk_metadata(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(
        make_pdf(["Annual Report 2024\nRevenue grew in every region.", "More."], title="about:blank")
    )
    assert read(path)[0].title == "Annual Report 2024"
    path.write_bytes(make_pdf(["Revenue grew in every region.", "More."], title="about:blank"))
    assert read(path)[0].title == "report.pdf"  # no heading, junk metadata: the file name


def test_ligatures_become_letters() -> None:
    assert (
        unligature("Les entreprises pro\ufb01tent de l\u2019e\ufb03cacit\u00e9 \ufb02uide")
        == "Les entreprises profitent de l\u2019efficacit\u00e9 fluide"
    )


def test_a_passage_across_a_page_break_keeps_its_page_range(encoder) -> None:
    page1 = " ".join(f"Sentence {i} on the first page." for i in range(30))
    page2 = " ".join(f"Sentence {i} on the second page." for i in range(30))
    text = page1 + "\n\n" + page2
    pages = [(0, 1), (len(page1) + 2, 2)]
    chunker = Chunker(
        encoder.tokenizer, encoder.max_seq_length, ChunkConfig(96, 16), encoder.document_prefix()
    )
    chunks = chunker.split(text, pages)
    spanning = [c for c in chunks if c.char_start < pages[1][0] < c.char_end]
    assert spanning and all((c.page, c.page_end) == (1, 2) for c in spanning)
    assert (chunks[0].page, chunks[0].page_end) == (1, 1) and (chunks[-1].page, chunks[-1].page_end) == (2, 2)


def test_table_rows_without_text_are_counted_and_titles_chosen(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "ref,headline,remark,category\n1,Bread,Bake it hot.,kitchen\n2,Empty,,kitchen\n"
        "3,Roses,Prune in spring.,garden\n",
        encoding="utf-8",
    )
    docs = read(path, text_column="remark", id_column="ref", metadata_columns=("category",))
    assert [d.title for d in docs] == ["Bread", "Roses"]  # a "headline" column is a title
    assert docs[0].metadata == {"category": "kitchen"}
    assert docs[0].note == "1 row without text in column 'remark' left out (row 2)"
    text = tmp_path / "n.txt"
    text.write_text("Meeting notes, March\n\nWe agreed on the budget.\n", encoding="utf-8")
    assert read(text)[0].title == "Meeting notes, March"


def test_progress_moves_per_file_and_per_batch(store, collection, encoder, tmp_path: Path) -> None:
    docs = tmp_path / "docs"  # not tmp_path itself: the embedded store may live there
    docs.mkdir()
    for i in range(3):
        (docs / f"f{i}.txt").write_text(
            "\n\n".join(f"Paragraph {j} of file {i} talks about rivers and mountains." for j in range(60))
        )
    events = []
    index = Index(store, encoder, collection, batch_size=2)
    report = index.add([str(docs)], progress=events.append)
    assert report.files_indexed == 3
    # Files are counted as they are read, before anything is embedded...
    assert any(e.files_read >= 1 and e.chunks_done == 0 for e in events)
    # ...and embedding reports every batch, not one jump at the end.
    done = sorted({e.chunks_done for e in events})
    assert len([d for d in done if 0 < d < report.chunks_added]) >= 2
