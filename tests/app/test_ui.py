"""AppTest runs of each page of the web app against temp data dirs (no browser)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"
COLLECTION = "test_docs"
TIMEOUT = 90  # the first run loads the model


@pytest.fixture(autouse=True)
def _release_cached_store() -> Iterator[None]:
    # The cached store holds the embedded store's lock; release it so fixtures can reopen the dir.
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


def make_app(monkeypatch: pytest.MonkeyPatch, data_dir: Path, models_dir: Path, **env: str) -> AppTest:
    monkeypatch.setenv("ROSETTA_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ROSETTA_CACHE_DIR", str(models_dir))
    monkeypatch.setenv("ROSETTA_COLLECTION", COLLECTION)
    for key, value in env.items():
        monkeypatch.setenv(f"ROSETTA_{key.upper()}", value)
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT)


def texts(at: AppTest) -> str:
    """Everything a reader sees: markdown, captions, alerts and raw HTML cards."""
    parts = [e.value for e in (*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.success)]
    parts += [str(h.proto.body) for h in at.get("html")]
    return "\n".join(str(p) for p in parts)


def result_cards(at: AppTest) -> list[str]:
    """The HTML of each result card, in rank order."""
    return [
        str(h.proto.body) for h in at.get("html") if str(h.proto.body).startswith('<div class="rosetta-card"')
    ]


def test_search_page_ranks_cross_lingual_hits(monkeypatch, corpus_dir, models_dir, encoder) -> None:
    at = make_app(monkeypatch, corpus_dir, models_dir).run()
    assert not at.exception
    assert "Type a query" in texts(at)
    at.text_input(key="q").set_value("Wie wandeln Pflanzen Sonnenlicht in Energie um?").run()
    assert not at.exception, at.exception
    page = texts(at)
    assert "German (de)" in page
    cards = result_cards(at)
    assert cards and "Photosynthesis" in cards[0] and "#1" in cards[0]
    assert "2 more passages" in cards[0]
    assert len(at.get("download_button")) == 2


def test_search_filters_and_escaping(monkeypatch, corpus_dir, models_dir, encoder) -> None:
    at = make_app(monkeypatch, corpus_dir, models_dir).run()
    at.multiselect(key="lang").set_value(["fr"])
    at.text_input(key="q").set_value("volcano eruption").run()
    cards = result_cards(at)
    assert cards and all(">fr<" in c for c in cards)
    at.multiselect(key="lang").set_value([])
    at.text_input(key="q").set_value("cross-site scripting attack").run()
    cards = result_cards(at)
    assert "&lt;script&gt;" in cards[0] and "<script" not in "".join(cards)
    assert "&lt;b&gt;XSS&lt;/b&gt;" in cards[0]


def test_search_no_hits_is_friendly(monkeypatch, corpus_dir, models_dir, encoder) -> None:
    at = make_app(monkeypatch, corpus_dir, models_dir).run()
    at.text_input(key="src").set_value("no/such/folder/")
    at.text_input(key="q").set_value("volcano").run()
    assert not at.exception
    assert any("No passages matched" in i.value and "source prefix" in i.value for i in at.info)


def test_more_like_this(monkeypatch, corpus_dir, models_dir, encoder) -> None:
    at = make_app(monkeypatch, corpus_dir, models_dir).run()
    at.multiselect(key="lang").set_value(["en"])
    at.text_input(key="q").set_value("volcano magma lava").run()
    mlt = [b for b in at.button if b.label == "More like this"]
    mlt[0].click().run()
    assert not at.exception
    assert any("More like" in s.value for s in at.subheader)
    cards = result_cards(at)
    assert cards and "Les volcans" in cards[0]


def test_empty_collection_and_explore(monkeypatch, tmp_path, models_dir) -> None:
    at = make_app(monkeypatch, tmp_path, models_dir).run()
    assert not at.exception
    assert any("is empty" in i.value for i in at.info)
    at.switch_page("ui_pages/explore.py").run()
    assert any("is empty" in i.value for i in at.info)


def test_explore_page(monkeypatch, corpus_dir, models_dir) -> None:
    at = make_app(monkeypatch, corpus_dir, models_dir).run()
    at.switch_page("ui_pages/explore.py").run()
    assert not at.exception, at.exception
    assert [m.value for m in at.metric][:2] == ["9", "11"]
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    at.selectbox(key="tf_a").set_value("en")
    at.selectbox(key="tf_b").set_value("fr")
    at.number_input(key="tf_min").set_value(0.0).run()
    frame = at.dataframe[-1].value
    assert "volcan" in frame.iloc[0]["text_fr"]


def test_ingest_reports_bad_file(monkeypatch, tmp_path, models_dir, encoder) -> None:
    at = make_app(monkeypatch, tmp_path, models_dir, upload_max_mb="1").run()
    at.switch_page("ui_pages/ingest.py").run()
    assert not at.exception, at.exception
    assert any("Reading server folders is off" in c.value for c in at.caption)
    at.file_uploader[0].set_value(
        [
            ("good.md", b"# Tomaten\n\nTomaten brauchen viel Sonne und Wasser.", "text/markdown"),
            ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "application/pdf"),
            ("evil.exe", b"MZ\x90\x00", "application/octet-stream"),
            ("huge.txt", b"a " * (600 * 1024), "text/plain"),
        ]
    )
    at.button(key="index-uploads").click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    report = at.table[0].value
    assert report.loc["good.md", "status"] == "indexed or unchanged"
    assert report.loc["broken.pdf", "status"] == "failed"
    assert "type not allowed" in report.loc["evil.exe", "reason"]
    assert "too large" in report.loc["huge.txt", "reason"]
    assert [m.value for m in at.metric][:1] == ["1"]
    # The new document is searchable right away (same process, same cached store).
    at.switch_page("ui_pages/search.py").run()
    at.text_input(key="q").set_value("pomodori sole").run()
    cards = result_cards(at)
    assert cards and "Tomaten" in cards[0]


def test_ingest_server_folder_when_allowed(monkeypatch, tmp_path, models_dir, encoder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Le chat dort sur le canapé toute la journée.")
    at = make_app(monkeypatch, tmp_path / "data", models_dir, allow_server_paths="true").run()
    at.switch_page("ui_pages/ingest.py").run()
    at.text_input(key="server_path").set_value(str(docs)).run()
    next(b for b in at.button if b.label == "Index folder").click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert [m.value for m in at.metric][:1] == ["1"]


# ---- state, More like this, language, document view ---------------------------------------------
def search(at: AppTest, query: str) -> AppTest:
    at.text_input(key="q").set_value(query).run()
    assert not at.exception, at.exception
    return at


def test_new_query_leaves_more_like_this(monkeypatch, corpus_dir, models_dir, encoder) -> None:
    at = search(make_app(monkeypatch, corpus_dir, models_dir).run(), "volcano magma lava")
    next(b for b in at.button if b.label == "More like this").click().run()
    assert any("More like" in s.value for s in at.subheader)
    assert "mlt" in at.query_params
    search(at, "Юрий Гагарин космос")  # a new question, Enter
    assert not any("More like" in s.value for s in at.subheader)
    assert "mlt" not in at.query_params
    cards = result_cards(at)
    assert cards and "Космос" in cards[0]


def test_state_survives_explore_and_lives_in_the_url(monkeypatch, corpus_dir, models_dir, encoder) -> None:
    at = make_app(monkeypatch, corpus_dir, models_dir).run()
    at.multiselect(key="lang").set_value(["fr", "en"])
    search(at, "volcano eruption")
    # (The browser writes bound widgets into the URL: checked in test_browser.py.)
    at.switch_page("ui_pages/explore.py").run()
    assert not at.exception, at.exception
    at.switch_page("ui_pages/search.py").run()
    assert not at.exception, at.exception
    assert at.text_input(key="q").value == "volcano eruption"
    assert sorted(at.multiselect(key="lang").value) == ["en", "fr"]
    assert result_cards(at)
    # A bookmarked / shared URL reproduces the search in a new session.
    fresh = make_app(monkeypatch, corpus_dir, models_dir)
    fresh.query_params["q"] = "volcano eruption"
    fresh.query_params["lang"] = "fr"
    fresh.run()
    assert not fresh.exception, fresh.exception
    cards = result_cards(fresh)
    assert cards and all(">fr<" in c for c in cards)


def test_query_language_shown_only_when_sure(monkeypatch, corpus_dir, models_dir, encoder) -> None:
    at = search(make_app(monkeypatch, corpus_dir, models_dir).run(), "electric car maintenance cost")
    assert "Query language: **English (en)**" in texts(at)
    search(at, "Karl Drais 1817")
    page = texts(at)
    assert "not determined" in page and "Lithuanian" not in page
    at.selectbox(key="qlang").set_value("de").run()
    assert "German (de)** (chosen)" in texts(at)


def test_titles_are_not_markdown(monkeypatch, corpus_dir, models_dir, encoder) -> None:
    at = search(make_app(monkeypatch, corpus_dir, models_dir).run(), "cross-site scripting attack")
    card = result_cards(at)[0]
    assert "![pixel]" in card and "<img" not in card  # escaped HTML text in the card
    next(b for b in at.button if b.label == "More like this").click().run()
    heading = next(s.value for s in at.subheader if "More like" in s.value)
    # Every Markdown character escaped: no image is fetched, no link made.
    assert "\\!\\[pixel\\]\\(http\\:" in heading


def test_document_view_marks_matching_passages(monkeypatch, corpus_dir, models_dir, encoder) -> None:
    at = search(make_app(monkeypatch, corpus_dir, models_dir).run(), "chlorophyll absorbs light")
    next(b for b in at.button if b.label == "Open document").click().run()
    assert not at.exception, at.exception
    assert at.query_params.get("doc") in ("en-photo", ["en-photo"])
    assert any(s.value == "Photosynthesis" for s in at.subheader)
    body = texts(at)
    assert body.count('class="rosetta-passage') == 3 and 'class="rosetta-passage hit"' in body
    assert any("More like this document" in s.value for s in at.subheader)
    search(at, "Bundesliga")  # a new query leaves the document view
    assert "doc" not in at.query_params


def test_counts_and_export_of_all_results(monkeypatch, corpus_dir, models_dir, encoder) -> None:
    at = make_app(monkeypatch, corpus_dir, models_dir).run()
    at.slider(key="k").set_value(2)
    search(at, "science")
    assert any("documents 1–2 of " in c.value for c in at.caption)
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Export CSV", "Parquet"]


def test_ingest_csv_with_column_picker(monkeypatch, tmp_path, models_dir, encoder) -> None:
    at = make_app(monkeypatch, tmp_path, models_dir).run()
    at.switch_page("ui_pages/ingest.py").run()
    table = (
        b"ref,headline,remark,category\n"
        b"a1,Tomatoes,Tomatoes need sun and water every day.,garden\n"
        b"a2,Empty,,garden\n"
        b"a3,Bread,Bake bread at high heat until golden.,kitchen\n"
    )
    at.file_uploader[0].set_value([("notes.csv", table, "text/csv")]).run()
    assert not at.exception, at.exception
    # No guessable text column: the picker asks for one, indexing waits for it.
    assert any("choose the text column" in w.value for w in at.warning)
    assert at.button(key="index-uploads").disabled
    assert len(at.dataframe[0].value) == 3  # the preview
    key = next(s.key for s in at.selectbox if s.key and s.key.endswith("-text"))
    at.selectbox(key=key).set_value("remark").run()
    id_key = key.removesuffix("-text") + "-id"
    at.selectbox(key=id_key).set_value("ref").run()
    at.button(key="index-uploads").click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    report = at.table[0].value
    assert "1 row without text in column 'remark' left out (row 2)" in report.loc["notes.csv", "reason"]
    assert [m.value for m in at.metric][:1] == ["1"]
    assert any("(2 passages now)" in c.value for c in at.caption)
    # Searching finds the rows, titled from the headline column, filterable by category.
    at.switch_page("ui_pages/search.py").run()
    search(at, "growing tomatoes")
    assert "Tomatoes" in result_cards(at)[0]
    assert at.multiselect(key="m.category").options == ["garden", "kitchen"]


def test_reupload_unchanged_says_nothing_new(monkeypatch, tmp_path, models_dir, encoder) -> None:
    at = make_app(monkeypatch, tmp_path, models_dir).run()
    at.switch_page("ui_pages/ingest.py").run()
    doc = ("good.md", b"# Tomaten\n\nTomaten brauchen viel Sonne und Wasser.", "text/markdown")
    for _ in range(2):
        at.file_uploader[0].set_value([doc]).run()
        at.button(key="index-uploads").click().run(timeout=TIMEOUT)
        assert not at.exception, at.exception
    assert any("Nothing new" in i.value for i in at.info)
    assert not any("Go to **Search**" in s.value for s in at.success)
