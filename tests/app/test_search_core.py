"""Search core on the small multilingual corpus: cross-lingual ranking, filters, grouping, snippets."""

from __future__ import annotations

import io
import uuid
from datetime import date

import numpy as np
import pandas as pd
import pytest

from app import explore, snippets
from app.search import Searcher, SearchError, SearchRequest, build_filter, to_dataframe, to_parquet_bytes

COLLECTION = "test_docs"


@pytest.fixture(scope="module")
def searcher(encoder, corpus_store) -> Searcher:
    return Searcher(encoder, corpus_store, COLLECTION)


def test_german_query_finds_english_doc_first(searcher: Searcher) -> None:
    result = searcher.search(
        SearchRequest("Wie wandeln Pflanzen Sonnenlicht in chemische Energie um?", limit=5)
    )
    assert result.query_lang == "de"
    assert result.hits[0].passage.doc_id == "en-photo"
    assert result.hits[0].passage.lang == "en"
    assert [h.rank for h in result.hits] == list(range(1, len(result.hits) + 1))


def test_cross_lingual_other_directions(searcher: Searcher) -> None:
    # French-only volcano doc ranks high for an English query; the Russian doc for a German one.
    top = searcher.search(SearchRequest("volcanic eruption lava", limit=3, langs=["fr"]))
    assert top.hits[0].passage.doc_id == "fr-volcano"
    top = searcher.search(SearchRequest("Gagarins Raumfahrt ins Weltall", limit=2))
    assert top.hits[0].passage.doc_id == "ru-space"


def test_language_filters_exclude(searcher: Searcher) -> None:
    only = searcher.search(SearchRequest("photosynthesis plants sunlight", limit=20, langs=["de", "fr"]))
    assert only.hits and {h.passage.lang for h in only.hits} <= {"de", "fr"}
    without = searcher.search(SearchRequest("photosynthesis plants sunlight", limit=20, exclude_langs=["en"]))
    assert without.hits and "en" not in {h.passage.lang for h in without.hits}


def test_grouping_one_hit_per_document(searcher: Searcher) -> None:
    grouped = searcher.search(SearchRequest("photosynthesis chlorophyll", limit=20))
    doc_ids = [h.passage.doc_id for h in grouped.hits]
    assert len(doc_ids) == len(set(doc_ids))
    photo = next(h for h in grouped.hits if h.passage.doc_id == "en-photo")
    assert photo.more_count == 2 and all(p.doc_id == "en-photo" for p in photo.more)
    assert all(p.score <= photo.score for p in photo.more)
    flat = searcher.search(SearchRequest("photosynthesis chlorophyll", limit=20, group_by_doc=False))
    assert [h.passage.doc_id for h in flat.hits].count("en-photo") == 3


def test_pagination_offsets_documents(searcher: Searcher) -> None:
    first = searcher.search(SearchRequest("science", limit=3))
    second = searcher.search(SearchRequest("science", limit=3, offset=3))
    assert first.has_more
    assert second.hits[0].rank == 4
    assert not {h.passage.doc_id for h in first.hits} & {h.passage.doc_id for h in second.hits}


def test_source_prefix_doc_metadata_date_and_min_score(searcher: Searcher) -> None:
    geo = searcher.search(SearchRequest("rocks", limit=20, source_prefix="science/geology/"))
    assert {h.passage.doc_id for h in geo.hits} == {"en-volcano", "fr-volcano"}
    doc = searcher.search(SearchRequest("rocks", limit=20, doc_ids=["de-football"]))
    assert [h.passage.doc_id for h in doc.hits] == ["de-football"]
    food = searcher.search(SearchRequest("drink", limit=20, metadata={"topic": ["food"]}))
    assert {h.passage.doc_id for h in food.hits} == {"es-coffee", "zh-tea"}
    assert food.hits[0].passage.metadata["topic"] == "food"
    assert searcher.search(
        SearchRequest("drink", ingested_from=date(2024, 5, 1), ingested_to=date(2024, 5, 1))
    ).hits
    assert not searcher.search(SearchRequest("drink", ingested_from=date(2024, 5, 2))).hits
    assert not searcher.search(SearchRequest("drink", ingested_to=date(2024, 4, 30))).hits
    assert not searcher.search(SearchRequest("drink", min_score=0.999)).hits


def test_hybrid_fuses_keywords(searcher: Searcher) -> None:
    # "Gagarin" is a rare exact keyword: hybrid puts the Russian passage that names him first.
    result = searcher.search(SearchRequest("Гагарин", limit=3, hybrid=True))
    assert result.hybrid and result.hits[0].passage.doc_id == "ru-space"
    filtered = searcher.search(SearchRequest("Гагарин", limit=3, hybrid=True, langs=["en"]))
    assert {h.passage.lang for h in filtered.hits} == {"en"}


def test_empty_query_is_an_error(searcher: Searcher) -> None:
    with pytest.raises(SearchError):
        searcher.search(SearchRequest("   "))


def test_more_like_this_crosses_languages(searcher: Searcher) -> None:
    result = searcher.search(SearchRequest("volcano magma lava", limit=1, langs=["en"]))
    similar = searcher.more_like_this(result.hits[0].passage.id, limit=3)
    assert similar[0].passage.doc_id == "fr-volcano"
    assert "en-volcano" not in {h.passage.doc_id for h in similar}


def test_build_filter_none_without_restrictions() -> None:
    assert build_filter(SearchRequest("x")) is None


def test_script_is_escaped_in_snippets(searcher: Searcher) -> None:
    result = searcher.search(SearchRequest("cross-site scripting script", limit=1))
    hit = result.hits[0].passage
    assert hit.doc_id == "en-web"
    for html in (
        snippets.snippet(hit.text, result.query),
        snippets.highlight(hit.text, result.query),
        snippets.escape(hit.title),
    ):
        assert "<script" not in html and "<b>" not in html
    html = snippets.highlight(hit.text, result.query)
    assert "&lt;<mark>script</mark>&gt;" in html
    assert "<mark>scripting</mark>" in html


def test_snippet_highlighting_rules() -> None:
    assert snippets.highlight("Katzen & Hunde", "Katze amp") == "<mark>Katzen</mark> &amp; Hunde"
    assert snippets.highlight("Katzen", "Katze", enabled=False) == "Katzen"
    assert "<mark>光合作用</mark>" in snippets.highlight("植物进行光合作用。", "光合作用")
    assert snippets.snippet("# Katzen\n\nKatzen schlafen.", "x", title="Katzen") == "Katzen schlafen."
    assert snippets.snippet("Katzen schlafen.", "x", title="Katzen") == "Katzen schlafen."
    long = "word " * 200 + "needle " + "word " * 200
    out = snippets.snippet(long, "needle", width=100)
    assert out.startswith("… ") and out.endswith(" …") and "<mark>needle</mark>" in out


def test_dataframe_export(searcher: Searcher) -> None:
    result = searcher.search(SearchRequest("photosynthesis", limit=3))
    frame = to_dataframe(result.hits, include_more=True)
    assert list(frame.columns[:6]) == ["rank", "score", "similarity", "z", "weak_match", "lang"]
    assert "meta.topic" in frame.columns
    assert len(frame) >= 3
    back = pd.read_parquet(io.BytesIO(to_parquet_bytes(frame)))
    assert back.shape == frame.shape
    assert to_dataframe([]).empty


def test_json_shape(searcher: Searcher) -> None:
    data = searcher.search(SearchRequest("coffee", limit=2)).to_json()
    assert set(data) == {"query", "query_lang", "ranking", "language_neutral", "hits"}
    assert set(data["hits"][0]) == {"score", "text", "lang", "doc_id", "source", "title", "chunk_index"}


def test_margin_mining_pairs_translations(corpus_store) -> None:
    frame = explore.find_translations(corpus_store, COLLECTION, "en", "fr", k=2, min_margin=0.0)
    assert frame.iloc[0]["id_en"] and "volcan" in frame.iloc[0]["text_fr"]
    assert "magma" in frame.iloc[0]["text_en"]


def test_corpus_stats_and_map(corpus_store) -> None:
    stats = explore.corpus_stats(corpus_store, COLLECTION)
    assert stats.documents == 9 and stats.chunks == 11
    en = stats.by_lang.set_index("lang").loc["en"]
    assert en.documents == 4 and en.chunks == 6
    frame, method = explore.map_frame(corpus_store, COLLECTION, n=50, method="pca")
    assert method == "pca" and len(frame) == 11 and {"x", "y", "lang", "snippet"} <= set(frame.columns)


def test_embedded_post_filter_matches_exact_filtering(encoder, tmp_path) -> None:
    """The embedded fast path (rank, then filter in Python) returns what Qdrant's filter would."""
    from rosetta.store import Point, QdrantStore

    rng = np.random.default_rng(1)
    langs = ["en"] * 300 + ["de"] * 200 + ["fr"] * 95 + ["sw"] * 5  # sw: too rare for the fast path
    vectors = rng.normal(size=(len(langs), encoder.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with QdrantStore.embedded(tmp_path / "q") as store:
        store.ensure_collection("syn", encoder.identity)
        store.upsert(
            "syn",
            [
                Point(
                    id=str(uuid.UUID(int=i + 1)),
                    vector=v,
                    payload={
                        "doc_id": f"d{i // 3}",
                        "lang": lang,
                        "source": f"s/{lang}/{i}",
                        "chunk_index": i % 3,
                    },
                )
                for i, (v, lang) in enumerate(zip(vectors, langs, strict=True))
            ],
        )
        fast = Searcher(encoder, store, "syn")
        query = vectors[7] + 0.5 * vectors[400]
        for req in (
            SearchRequest("q", limit=10, langs=["de"]),
            SearchRequest("q", limit=5, langs=["sw"]),
            SearchRequest("q", limit=10, exclude_langs=["en"], offset=10),
            SearchRequest("q", limit=10, source_prefix="s/fr/"),
        ):
            got = fast.search_vector(query, req)
            store.kind = "server"  # the exact path: Qdrant applies the filter
            want = Searcher(encoder, store, "syn").search_vector(query, req)
            store.kind = "embedded"
            assert [(h.passage.id, round(h.score, 5)) for h in got] == [
                (h.passage.id, round(h.score, 5)) for h in want
            ]
            assert got


# ---- hybrid floor, calibration, export ----------------------------------------------------------
def test_hybrid_min_score_keeps_the_keyword_match(searcher: Searcher) -> None:
    # The exact name is only moderately close as a vector (cosine ~0.82): a 0.85 floor used to
    # remove it from hybrid results too, leaving nothing.
    dense = searcher.search(SearchRequest("Гагарин", limit=3, min_score=0.85))
    assert not dense.hits
    hybrid = searcher.search(SearchRequest("Гагарин", limit=3, hybrid=True, min_score=0.85))
    assert [h.passage.doc_id for h in hybrid.hits] == ["ru-space"]
    p = hybrid.hits[0].passage
    # The score's meaning per mode: RRF ranks it, cosine similarity travels with it.
    assert p.similarity is not None and 0.5 < p.similarity < 0.85 and p.score != p.similarity


def test_query_language_only_when_confident(searcher: Searcher) -> None:
    assert searcher.search(SearchRequest("Karl Drais 1817", limit=1)).query_lang == "und"
    assert searcher.search(SearchRequest("electric car maintenance cost", limit=1)).query_lang == "en"
    forced = searcher.search(SearchRequest("Karl Drais 1817", limit=1, query_lang="de"))
    assert forced.query_lang == "de" and forced.language is None


TOPICS = {
    "bread": "Bake the bread dough at high heat until the crust turns golden brown.",
    "rail": "The railway line carries freight trains across the mountain pass every night.",
    "tax": "File your income tax return before the deadline to avoid a late penalty.",
    "moon": "The moon shows phases because sunlight falls on different parts of its surface.",
    "dogs": "Walk your dog twice a day so it stays calm, healthy and well behaved.",
    "jazz": "Jazz musicians improvise melodies over the chord changes of a standard tune.",
    "volcano": "Lava and ash burst from the volcano when magma pressure builds up underground.",
    "chess": "In chess, castling moves the king two squares towards a rook.",
    "coffee": "Grind the coffee beans just before brewing for the fullest aroma.",
    "roses": "Prune rose bushes in early spring, just above an outward-facing bud.",
    "sleep": "Adults need seven to nine hours of sleep for memory and mood.",
    "python": "A virtual environment keeps each Python project's packages separate.",
    "football": "The goalkeeper saved the penalty kick in the final minute of the match.",
    "whales": "Blue whales feed on tiny krill and are the largest animals that ever lived.",
    "tea": "Green tea leaves are steamed or pan-fired soon after picking to stop oxidation.",
    "bikes": "Oil the bicycle chain regularly and check the tyre pressure before long rides.",
    "rain": "Monsoon rains arrive in summer and bring most of the region's yearly rainfall.",
    "photo": "Golden hour light makes portraits warm and shadows long and soft.",
    "mortgage": "A fixed-rate mortgage keeps the monthly repayment the same for years.",
    "vaccines": "Vaccines train the immune system to recognise a virus before an infection.",
    "glaciers": "Glaciers carve U-shaped valleys as the ice slowly grinds over bedrock.",
    "opera": "The soprano sang the aria in Italian while the orchestra played softly.",
    "cats": "Cats groom themselves for hours and sleep most of the day.",
    "solar": "Solar panels turn sunlight into electricity even on cloudy days.",
}
VARIANTS = [
    "{}",
    "In short: {}",
    "A note from the handbook. {}",
    "Many people ask about this. {}",
    "Field notes. {}",
]


@pytest.fixture(scope="module")
def big_searcher(encoder, tmp_path_factory):
    """120 passages (24 topics × 5 wordings): enough for the calibration sample."""
    from rosetta.store import QdrantStore

    from .conftest import index_corpus

    docs = [
        (f"{topic}-{i}", "en", f"{topic}/{i}.md", f"{topic} {i}", [v.format(text)], {"topic": topic})
        for topic, text in TOPICS.items()
        for i, v in enumerate(VARIANTS)
    ]
    store = QdrantStore.embedded(tmp_path_factory.mktemp("big") / "q")
    index_corpus(store, encoder, "big", docs)
    yield Searcher(encoder, store, "big")
    store.close()


def test_calibration_flags_nonsense_and_ends_the_list(big_searcher: Searcher) -> None:
    real = big_searcher.search(SearchRequest("when should I submit my tax declaration?", limit=5, min_z=3.0))
    assert real.hits[0].passage.metadata["topic"] == "tax"
    top = real.hits[0].passage
    assert top.z is not None and top.z >= 3.0
    # The cut-off ends the list: about the 5 tax passages, not all 120; the count is known.
    assert real.total is not None and 4 <= real.total <= 12 and not real.total_capped
    assert all(h.passage.metadata["topic"] == "tax" for h in real.hits)
    nonsense = big_searcher.search(SearchRequest("xqzv blorp 12345", limit=10))
    assert nonsense.hits and all(h.passage.weak for h in nonsense.hits)  # flagged, not hidden
    assert nonsense.hits[0].passage.z < top.z - 1
    cut = big_searcher.search(SearchRequest("xqzv blorp 12345", limit=10, min_z=3.0))
    assert len(cut.hits) < 10


def test_search_all_and_export_file(big_searcher: Searcher) -> None:
    from datetime import datetime

    from app.search import describe_request, export_filename, to_csv_bytes, with_context

    req = SearchRequest("=cmd|' /C calc'!A0 tax return", limit=3, min_z=3.0, langs=["en"])
    page = big_searcher.search(req)
    everything = big_searcher.search_all(req)
    assert len(page.hits) == 3 and len(everything.hits) == page.total
    frame = with_context(
        to_dataframe(everything.hits), req.query, describe_request(req), datetime(2026, 1, 2, 3, 4)
    )
    data = to_csv_bytes(frame)
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads Arabic and Japanese right
    back = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")
    assert list(back["rank"]) == list(range(1, len(everything.hits) + 1))
    assert back["query"][0] == "'=cmd|' /C calc'!A0 tax return"  # neutralised, OWASP style
    assert back["filters"][0] == "languages=en; min z=3.0"
    assert back["exported_at"][0].startswith("2026-01-02T03:04")
    assert (
        export_filename("search", "Tax return: how?", "csv", datetime(2026, 1, 2, 3, 4))
        == "rosetta-search-tax-return-how-20260102-0304.csv"
    )


def test_formula_cells_are_neutralised() -> None:
    from app.search import to_csv_bytes

    frame = pd.DataFrame(
        {
            "text": ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", "safe", "a=b"],
            "n": [1, -2, 3, 4, 5, 6, 7, 8],
        }
    )
    import csv

    rows = list(csv.reader(io.StringIO(to_csv_bytes(frame).decode("utf-8-sig"), newline="")))[1:]
    assert [r[0] for r in rows] == ["'=1+1", "'+SUM(A1)", "'-2+3", "'@cmd", "'\tx", "'\rx", "safe", "a=b"]
    assert [r[1] for r in rows] == ["1", "-2", "3", "4", "5", "6", "7", "8"]  # numbers stay numbers


def test_best_sentence_comes_from_the_model(searcher: Searcher, encoder) -> None:
    text = (
        "Die Firma wurde 1990 in Berlin gegründet. Sie stellt Fahrräder her. "
        "Der Umsatz stieg im dritten Quartal um zwölf Prozent. Die Kantine ist montags geschlossen."
    )
    vector = encoder.encode_queries(["quarterly revenue growth"])[0]
    assert searcher.best_sentences(vector, [text, "One sentence."]) == [
        "Der Umsatz stieg im dritten Quartal um zwölf Prozent.",
        None,
    ]
